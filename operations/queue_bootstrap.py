"""Creates the retry queue and its dead-letter queue, or brings existing ones to the wanted settings.

The same code runs for the local stack (moto's server, LocalStack) and for a deploy to AWS:
the caller hands in a boto3 SQS client, and boto3 itself picks the endpoint from
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS. Nothing here assumes an account id, a partition or
an endpoint: the ARNs are read back from SQS, never assembled.

Idempotent: a second run finds both queues, compares the attributes this module owns and
sends SetQueueAttributes only for those that differ. Attributes it does not own (DelaySeconds,
encryption, tags...) are left as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.config.message_size import SQS_MAX_MESSAGE_BYTES
from chalicelib.errors import SpillwayError
from operations.sqs_admin import (
    QUEUE_EXISTS_CODES,
    QueueMissing,
    SqsAdminError,
    find_queue_url,
    queue_attributes,
    sqs_call,
)

# AWS guidance for Lambda on SQS: queue visibility timeout >= 6 x the function's timeout, so a
# batch still being processed (with retries of its own) is not handed to a second invocation.
VISIBILITY_TIMEOUT_FACTOR = 6
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200  # SQS limit: 12 hours
# AWS guidance: maxReceiveCount >= 5, so throttled Lambda invocations do not dead-letter
# messages that were never really processed. SQS accepts 1..1000.
MIN_MAX_RECEIVE_COUNT = 5
MAX_MAX_RECEIVE_COUNT = 1_000
MIN_RETENTION_SECONDS = 60  # SQS limit: 1 minute
MAX_RETENTION_SECONDS = 1_209_600  # SQS limit: 14 days (the SQS default is 4 days)

QueueAction = Literal["created", "updated", "unchanged"]


class QueueBootstrapError(SpillwayError):
    """The queues could not be created or brought to the wanted settings."""


class InvalidQueueSettings(QueueBootstrapError, ValueError):
    """A wanted setting is outside what SQS accepts or what AWS advises for Lambda."""


@dataclass(frozen=True)
class AttributeChange:
    name: str
    before: str | None
    after: str

    def describe(self) -> str:
        return f"{self.name} {self.after}" if self.before is None else f"{self.name} {self.before} -> {self.after}"


@dataclass(frozen=True)
class QueueChange:
    """What one bootstrap run did to one queue."""

    queue_name: str
    action: QueueAction
    attributes: tuple[AttributeChange, ...] = ()

    def describe(self) -> str:
        if self.action == "unchanged":
            return f"{self.queue_name}: already as wanted"
        changes = ", ".join(change.describe() for change in self.attributes)
        return f"{self.queue_name}: {self.action} ({changes})"


@dataclass(frozen=True)
class QueueUrls:
    retry_queue_url: str
    retry_queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    changes: tuple[QueueChange, ...] = ()


@dataclass(frozen=True)
class _QueueState:
    url: str
    arn: str
    change: QueueChange


def validate_settings(drain_timeout_seconds: int, max_receive_count: int, retention_seconds: int) -> None:
    """Raises InvalidQueueSettings naming the setting, the value and the limit."""
    visibility = drain_timeout_seconds * VISIBILITY_TIMEOUT_FACTOR
    if drain_timeout_seconds < 1 or visibility > MAX_VISIBILITY_TIMEOUT_SECONDS:
        raise InvalidQueueSettings(
            f"drain_timeout_seconds must be 1..{MAX_VISIBILITY_TIMEOUT_SECONDS // VISIBILITY_TIMEOUT_FACTOR} "
            f"(the retry queue's visibility timeout is {VISIBILITY_TIMEOUT_FACTOR} x it, at most "
            f"{MAX_VISIBILITY_TIMEOUT_SECONDS} s), got {drain_timeout_seconds}"
        )
    if not MIN_MAX_RECEIVE_COUNT <= max_receive_count <= MAX_MAX_RECEIVE_COUNT:
        raise InvalidQueueSettings(
            f"max_receive_count must be {MIN_MAX_RECEIVE_COUNT}..{MAX_MAX_RECEIVE_COUNT} (AWS advises at least "
            f"{MIN_MAX_RECEIVE_COUNT} for a Lambda event source), got {max_receive_count}"
        )
    if not MIN_RETENTION_SECONDS <= retention_seconds <= MAX_RETENTION_SECONDS:
        raise InvalidQueueSettings(
            f"retention_seconds must be {MIN_RETENTION_SECONDS}..{MAX_RETENTION_SECONDS} (SQS limits), "
            f"got {retention_seconds}"
        )


def redrive_policy(dead_letter_queue_arn: str, max_receive_count: int) -> str:
    return json.dumps({"deadLetterTargetArn": dead_letter_queue_arn, "maxReceiveCount": max_receive_count})


def attribute_matches(name: str, current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if name != "RedrivePolicy":
        return current == wanted
    # SQS gives the policy back re-serialised, maxReceiveCount sometimes as a string.
    try:
        have, want = json.loads(current), json.loads(wanted)
        return bool(
            have.get("deadLetterTargetArn") == want["deadLetterTargetArn"]
            and int(have.get("maxReceiveCount", -1)) == int(want["maxReceiveCount"])
        )
    except (ValueError, TypeError, AttributeError):
        return False


def _find_queue_url(sqs_client: Any, queue_name: str) -> str | None:
    try:
        return find_queue_url(sqs_client, queue_name)
    except QueueMissing:
        return None


def _create_queue(sqs_client: Any, queue_name: str, wanted: dict[str, str]) -> str | None:
    """The new queue's URL, or None when the queue appeared meanwhile (another bootstrap run)."""
    try:
        response = sqs_call(
            f"create_queue({queue_name})", lambda: sqs_client.create_queue(QueueName=queue_name, Attributes=wanted)
        )
    except SqsAdminError as exc:
        if exc.code in QUEUE_EXISTS_CODES:
            return None
        raise
    return str(response["QueueUrl"])


def _update_queue(sqs_client: Any, queue_name: str, queue_url: str, wanted: dict[str, str]) -> _QueueState:
    current = queue_attributes(sqs_client, queue_url, ["All"])
    differing = {name: value for name, value in wanted.items() if not attribute_matches(name, current.get(name), value)}
    if differing:
        # SQS applies most changes within 60 s; MessageRetentionPeriod can take up to 15 minutes.
        sqs_call(
            f"set_queue_attributes({queue_name})",
            lambda: sqs_client.set_queue_attributes(QueueUrl=queue_url, Attributes=differing),
        )
    change = QueueChange(
        queue_name,
        "updated" if differing else "unchanged",
        tuple(AttributeChange(name, current.get(name), value) for name, value in differing.items()),
    )
    return _QueueState(queue_url, current["QueueArn"], change)


def _ensure_queue(sqs_client: Any, queue_name: str, wanted: dict[str, str]) -> _QueueState:
    queue_url = _find_queue_url(sqs_client, queue_name)
    if queue_url is None:
        queue_url = _create_queue(sqs_client, queue_name, wanted)
        if queue_url is not None:
            arn = queue_attributes(sqs_client, queue_url, ["All"])["QueueArn"]
            created = tuple(AttributeChange(name, None, value) for name, value in wanted.items())
            return _QueueState(queue_url, arn, QueueChange(queue_name, "created", created))
        queue_url = _find_queue_url(sqs_client, queue_name)
        if queue_url is None:
            raise QueueBootstrapError(f"queue {queue_name!r} was reported as existing but cannot be found")
    return _update_queue(sqs_client, queue_name, queue_url, wanted)


def bootstrap_queues(
    sqs_client: Any,
    retry_queue_name: str,
    dead_letter_queue_name: str,
    *,
    drain_timeout_seconds: int = 60,
    max_receive_count: int = 5,
    retention_seconds: int = MAX_RETENTION_SECONDS,
) -> QueueUrls:
    """Creates (or corrects) the dead-letter queue, then the retry queue that redrives to it.

    Raises InvalidQueueSettings before any call to SQS, SqsAdminError when SQS refuses or does
    not answer.
    """
    validate_settings(drain_timeout_seconds, max_receive_count, retention_seconds)
    if retry_queue_name == dead_letter_queue_name:
        raise InvalidQueueSettings(
            f"the retry queue and the dead-letter queue must differ, both are {retry_queue_name!r}"
        )
    # Both queues keep messages equally long. A message SQS moves to the DLQ keeps its original
    # enqueue time, so the DLQ must keep messages at least as long as the retry queue, or a
    # moved message could expire on arrival (the drain's own sends start a fresh clock).
    retention = str(retention_seconds)
    # Set explicitly: a queue created without it takes only 262,144 bytes. At SQS's maximum, our
    # queues take whatever QUEUE_MAX_MESSAGE_BYTES lets the door accept.
    size = str(SQS_MAX_MESSAGE_BYTES)
    dead_letter = _ensure_queue(
        sqs_client, dead_letter_queue_name, {"MessageRetentionPeriod": retention, "MaximumMessageSize": size}
    )
    retry = _ensure_queue(
        sqs_client,
        retry_queue_name,
        {
            "VisibilityTimeout": str(drain_timeout_seconds * VISIBILITY_TIMEOUT_FACTOR),
            "MessageRetentionPeriod": retention,
            "MaximumMessageSize": size,
            "RedrivePolicy": redrive_policy(dead_letter.arn, max_receive_count),
        },
    )
    return QueueUrls(
        retry_queue_url=retry.url,
        retry_queue_arn=retry.arn,
        dead_letter_queue_url=dead_letter.url,
        dead_letter_queue_arn=dead_letter.arn,
        changes=(dead_letter.change, retry.change),
    )
