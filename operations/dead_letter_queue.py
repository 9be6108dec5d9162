"""The dead-letter queue over SQS: bounded scans that always hand back what they did not delete."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from operations.dead_letter_messages import (
    SQS_BATCH_LIMIT,
    DeadLetterMessage,
    Scan,
    ScanLimits,
    Selection,
    StopReason,
    read_message,
)
from operations.sqs_admin import sqs_call

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = SQS_BATCH_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DeadLetterQueue:
    """The DLQ through an injected boto3 SQS client: scan, release, delete."""

    def __init__(
        self,
        client: Any,
        url: str,
        name: str,
        limits: ScanLimits = ScanLimits(),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.url = url
        self.name = name
        self.limits = limits
        self.clock = clock

    def receive(self, visibility_seconds: int) -> list[DeadLetterMessage]:
        response = sqs_call(
            "receive_message",
            lambda: self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=SQS_BATCH_LIMIT,
                WaitTimeSeconds=self.limits.wait_seconds,
                VisibilityTimeout=visibility_seconds,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            ),
        )
        return [read_message(entry) for entry in response.get("Messages", [])]

    def scan(self, selection: Selection, max_matches: int, visibility_seconds: int) -> Scan:
        """Receives until the queue answers nothing new, or a count or time bound is reached.

        Every message received is held (invisible) until release() or delete().
        """
        deadline = self.clock() + self.limits.max_seconds
        held: dict[str, DeadLetterMessage] = {}
        matched = 0
        stopped_by: StopReason = "scanned"
        # Each round brings at least one new message or ends the loop, so this bound is never
        # the one that stops it; the count and time checks below are.
        for _ in range(self.limits.max_scanned + 1):
            if matched >= max_matches:
                stopped_by = "limit"
                break
            if len(held) >= self.limits.max_scanned:
                stopped_by = "scanned"
                break
            if self.clock() >= deadline:
                stopped_by = "time"
                break
            new = 0
            for message in self.receive(visibility_seconds):
                if message.message_id in held:
                    # Seen already: its visibility ran out. Keep the newest receipt handle,
                    # the only one SQS honours for delete and visibility changes.
                    held[message.message_id] = dataclasses.replace(
                        held[message.message_id], receipt_handle=message.receipt_handle
                    )
                    continue
                held[message.message_id] = message
                new += 1
                if selection.matches(message):
                    matched += 1
            if new == 0:
                stopped_by = "empty"
                break
        in_order = sorted(held.values(), key=lambda message: message.sent_at or datetime.max.replace(tzinfo=UTC))
        selected = [message for message in in_order if selection.matches(message)][:max_matches]
        chosen = {message.message_id for message in selected}
        return Scan(selected, [message for message in in_order if message.message_id not in chosen], stopped_by)

    def release(self, messages: Sequence[DeadLetterMessage]) -> None:
        """Makes held messages visible again. A handle that expired meanwhile is already visible."""
        for chunk in _chunks(messages):
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": 0}
                for index, message in enumerate(chunk)
            ]
            sqs_call(
                "change_message_visibility_batch",
                functools.partial(self.client.change_message_visibility_batch, QueueUrl=self.url, Entries=entries),
            )

    def delete(self, messages: Sequence[DeadLetterMessage]) -> list[str]:
        """Deletes held messages; returns the message ids SQS did not delete."""
        failed: list[str] = []
        for chunk in _chunks(messages):
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle} for index, message in enumerate(chunk)
            ]
            response = sqs_call(
                "delete_message_batch",
                functools.partial(self.client.delete_message_batch, QueueUrl=self.url, Entries=entries),
            )
            failed.extend(chunk[int(failure["Id"])].message_id for failure in response.get("Failed", []))
        return failed

    def delete_one(self, message: DeadLetterMessage) -> None:
        sqs_call(
            "delete_message",
            lambda: self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle),
        )
