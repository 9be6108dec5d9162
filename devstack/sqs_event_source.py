"""Lambda's SQS event source mapping, locally: feeds queues to a Chalice app's SQS handlers.

`chalice local` never runs `@app.on_sqs_message` handlers (aws/chalice#1118). This runner finds
them on any Chalice app object and does what the mapping does: long-poll the queue, gather a
batch, invoke the handler with a Lambda-shaped event, then delete what succeeded. Messages it
does not delete reappear after the queue's visibility timeout, as on AWS.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from chalice.app import Chalice, SQSEventConfig
from chalice.local import LambdaContext

from operations.sqs_admin import find_queue_url, queue_attributes

# AWS limits: one ReceiveMessage or DeleteMessageBatch handles at most 10 messages.
SQS_MAX_MESSAGES_PER_CALL = 10
# Long polls are cut into slices this long so stop() is answered within about this time;
# Lambda itself polls with 20 s, the AWS maximum.
DEFAULT_POLL_WAIT_SECONDS = 1
SQS_MAX_WAIT_SECONDS = 20
# Chalice's defaults for a function with no lambda_timeout or lambda_memory_size.
DEFAULT_LAMBDA_TIMEOUT_SECONDS = 60
DEFAULT_LAMBDA_MEMORY_MB = 128
# After a failed poll (queue missing, endpoint down), wait this long before the next one.
POLL_ERROR_BACKOFF_SECONDS = 2.0

log = logging.getLogger(__name__)

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class SqsMessageAttribute(TypedDict, total=False):
    stringValue: str
    binaryValue: str
    stringListValues: list[str]
    binaryListValues: list[str]
    dataType: str


class SqsRecord(TypedDict):
    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, SqsMessageAttribute]
    md5OfBody: str
    md5OfMessageAttributes: NotRequired[str]
    eventSource: str
    eventSourceARN: str
    awsRegion: str


class SqsEvent(TypedDict):
    Records: list[SqsRecord]


@dataclass(frozen=True)
class SqsSubscription:
    """One `@app.on_sqs_message` handler: which queue feeds it, and how."""

    name: str
    handler: LambdaHandler
    queue_name: str | None
    queue_arn: str | None
    batch_size: int
    batching_window_seconds: int

    @property
    def queue_label(self) -> str:
        return self.queue_name or self.queue_arn or "?"


@dataclass(frozen=True)
class BatchResult:
    """What became of one invocation's records."""

    handler_name: str
    message_ids: tuple[str, ...]
    deleted: tuple[str, ...]
    failed: tuple[str, ...]
    error: str | None = None


def discover_sqs_subscriptions(app: Chalice) -> list[SqsSubscription]:
    """app.event_sources holds the decorator's settings; app.handler_map holds, under the same
    name, the wrapped handler Lambda calls as (event, context), middleware included."""
    return [
        SqsSubscription(
            name=source.name,
            handler=app.handler_map[source.name],
            queue_name=source.queue,
            queue_arn=source.queue_arn,
            batch_size=source.batch_size,
            batching_window_seconds=source.maximum_batching_window_in_seconds,
        )
        for source in app.event_sources
        if isinstance(source, SQSEventConfig)
    ]


def default_sqs_client(region: str | None = None) -> Any:
    """boto3 reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS by itself: moto, LocalStack or AWS. The
    region falls back as Spillway's settings do (AWS_REGION, AWS_DEFAULT_REGION, us-east-1)."""
    import boto3
    from botocore.config import Config

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    # read_timeout must outlast a long poll, or botocore gives up on a healthy ReceiveMessage.
    config = Config(connect_timeout=2, read_timeout=SQS_MAX_WAIT_SECONDS + 10, retries={"mode": "standard"})
    return boto3.session.Session().client("sqs", region_name=region, config=config)


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> SqsRecord:
    """A ReceiveMessage message in the shape Lambda hands to the function (camelCase keys,
    binary attribute values base64-encoded)."""
    record = SqsRecord(
        messageId=message["MessageId"],
        receiptHandle=message["ReceiptHandle"],
        body=message.get("Body", ""),
        attributes=dict(message.get("Attributes", {})),
        messageAttributes={
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        md5OfBody=message.get("MD5OfBody", ""),
        eventSource="aws:sqs",
        eventSourceARN=queue_arn,
        awsRegion=region,
    )
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> SqsMessageAttribute:
    attribute = SqsMessageAttribute(
        stringListValues=list(value.get("StringListValues", [])),
        binaryListValues=[_base64(item) for item in value.get("BinaryListValues", [])],
        dataType=value.get("DataType", "String"),
    )
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    return attribute


def _base64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


class MalformedBatchResponse(ValueError):
    pass


def reported_failures(response: object, message_ids: Sequence[str]) -> set[str]:
    """The message ids a ReportBatchItemFailures response names. Follows Lambda's rules: no
    response, {} or an empty or null list is complete success; a failure entry without a
    non-empty itemIdentifier from this batch makes the whole batch fail (MalformedBatchResponse)."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        raise MalformedBatchResponse(f"response is a {type(response).__name__}, not an object")
    entries = response.get("batchItemFailures")
    if entries is None:
        return set()
    if not isinstance(entries, list):
        raise MalformedBatchResponse("batchItemFailures is not a list")
    failed: set[str] = set()
    for entry in entries:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            raise MalformedBatchResponse(f"batchItemFailures entry {entry!r} names no message of this batch")
        failed.add(identifier)
    return failed


class QueuePoller:
    """One subscription's mapping: gathers a batch, invokes the handler, deletes what succeeded."""

    def __init__(
        self,
        subscription: SqsSubscription,
        sqs_client: Any,
        *,
        function_name: str,
        lambda_timeout_seconds: int,
        report_batch_item_failures: bool,
        stopping: threading.Event,
    ) -> None:
        self.subscription = subscription
        self.sqs = sqs_client
        self.function_name = function_name
        self.lambda_timeout_seconds = lambda_timeout_seconds
        self.report_batch_item_failures = report_batch_item_failures
        self.stopping = stopping
        # Set by stop() when it gives up waiting: a handler that returns after that has been
        # "killed", like a Lambda past its timeout, and its batch is left to the visibility timeout.
        self.abandoned = threading.Event()
        self._queue_url: str | None = None
        self._queue_arn: str | None = None

    @property
    def queue_url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._resolve_queue_url()
        return self._queue_url

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            self._queue_arn = self.subscription.queue_arn or self._read_queue_arn()
        return self._queue_arn

    @property
    def region(self) -> str:
        # arn:aws:sqs:<region>:<account>:<name>
        return self.queue_arn.split(":")[3]

    def poll_once(self, wait_seconds: int) -> BatchResult | None:
        """Long-polls up to wait_seconds for a first message; None when none came."""
        messages = self.receive_batch(wait_seconds)
        if not messages:
            return None
        return self.invoke_and_settle(messages)

    def receive_batch(self, wait_seconds: int) -> list[dict[str, Any]]:
        """Up to batch_size messages: what one receive brings, then more until the batch is full
        or the batching window since the first message has passed."""
        batch_size = self.subscription.batch_size
        window = self.subscription.batching_window_seconds
        by_id: dict[str, dict[str, Any]] = {}
        for message in self._receive(min(batch_size, SQS_MAX_MESSAGES_PER_CALL), wait_seconds):
            by_id[message["MessageId"]] = message
        if not by_id or window <= 0:
            return list(by_id.values())
        deadline = time.monotonic() + window
        while len(by_id) < batch_size and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wanted = min(batch_size - len(by_id), SQS_MAX_MESSAGES_PER_CALL)
            # Whole seconds only (the API's unit): the window may run over by under a second.
            for message in self._receive(wanted, min(math.ceil(remaining), DEFAULT_POLL_WAIT_SECONDS)):
                # A message seen twice (visibility timeout shorter than the window) keeps its newest receipt.
                by_id[message["MessageId"]] = message
        return list(by_id.values())

    def invoke_and_settle(self, messages: list[dict[str, Any]]) -> BatchResult:
        records = [lambda_record(message, self.queue_arn, self.region) for message in messages]
        message_ids = tuple(record["messageId"] for record in records)
        try:
            failed = self._invoke(SqsEvent(Records=records), message_ids)
        except Exception as exc:
            # A failed invocation deletes nothing: the whole batch comes back after the visibility timeout.
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s: handler failed on %d message(s), none deleted: %s", self.subscription.name, len(records), error
            )
            return BatchResult(self.subscription.name, message_ids, (), message_ids, error)
        if self.abandoned.is_set():
            log.warning(
                "%s: handler returned after stop gave up on it; %d message(s) left to SQS",
                self.subscription.name,
                len(records),
            )
            return BatchResult(self.subscription.name, message_ids, (), message_ids, "abandoned at stop")
        to_delete = [record for record in records if record["messageId"] not in failed]
        deleted = self._delete(to_delete)
        not_deleted = tuple(message_id for message_id in message_ids if message_id not in deleted)
        log.info(
            "%s: %d message(s) from %s, %d deleted, %d failed",
            self.subscription.name,
            len(records),
            self.subscription.queue_label,
            len(deleted),
            len(not_deleted),
        )
        return BatchResult(self.subscription.name, message_ids, tuple(sorted(deleted)), not_deleted)

    def _invoke(self, event: SqsEvent, message_ids: Sequence[str]) -> set[str]:
        context = LambdaContext(
            function_name=self.function_name,
            memory_size=DEFAULT_LAMBDA_MEMORY_MB,
            max_runtime_ms=self.lambda_timeout_seconds * 1000,
        )
        # A round trip through JSON, as Lambda's: the handler cannot keep a reference to the event,
        # and a return value Lambda could not serialise fails the invocation.
        response = json.loads(json.dumps(self.subscription.handler(json.loads(json.dumps(event)), context)))
        if not self.report_batch_item_failures:
            # Without ReportBatchItemFailures on the mapping, Lambda ignores what the function returns.
            return set()
        return reported_failures(response, message_ids)

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=max(0, min(wait_seconds, SQS_MAX_WAIT_SECONDS)),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _delete(self, records: Sequence[SqsRecord]) -> set[str]:
        deleted: set[str] = set()
        for start in range(0, len(records), SQS_MAX_MESSAGES_PER_CALL):
            chunk = records[start : start + SQS_MAX_MESSAGES_PER_CALL]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]} for index, record in enumerate(chunk)
                ],
            )
            for entry in response.get("Successful", []):
                deleted.add(chunk[int(entry["Id"])]["messageId"])
            for entry in response.get("Failed", []):
                log.warning(
                    "%s: could not delete %s: %s %s",
                    self.subscription.name,
                    chunk[int(entry["Id"])]["messageId"],
                    entry.get("Code"),
                    entry.get("Message"),
                )
        return deleted

    def _resolve_queue_url(self) -> str:
        if self.subscription.queue_name:
            return find_queue_url(self.sqs, self.subscription.queue_name)
        arn = self.subscription.queue_arn or ""
        parts = arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise ValueError(f"{self.subscription.name}: {arn!r} is not an SQS queue ARN")
        return find_queue_url(self.sqs, parts[5], owner_account_id=parts[4])

    def _read_queue_arn(self) -> str:
        return queue_attributes(self.sqs, self.queue_url, ["QueueArn"])["QueueArn"]


class SqsEventSource:
    """Every SQS handler of one Chalice app, each fed by its own polling thread."""

    def __init__(
        self,
        app: Chalice,
        sqs_client: Any | None = None,
        *,
        stage: str = "local",
        report_batch_item_failures: bool = True,
        lambda_timeout_seconds: int = DEFAULT_LAMBDA_TIMEOUT_SECONDS,
        poll_wait_seconds: int = DEFAULT_POLL_WAIT_SECONDS,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.app = app
        self.sqs = sqs_client if sqs_client is not None else default_sqs_client()
        self.poll_wait_seconds = poll_wait_seconds
        self.on_batch = on_batch
        self._stopping = threading.Event()
        self.pollers = {
            subscription.name: QueuePoller(
                subscription,
                self.sqs,
                function_name=f"{app.app_name}-{stage}-{subscription.name}",
                lambda_timeout_seconds=lambda_timeout_seconds,
                report_batch_item_failures=report_batch_item_failures,
                stopping=self._stopping,
            )
            for subscription in discover_sqs_subscriptions(app)
        }
        # Polling threads not yet joined: running, or abandoned at a stop() with their handler busy.
        self._threads: dict[str, threading.Thread] = {}
        self._running = False

    @property
    def subscriptions(self) -> list[SqsSubscription]:
        return [poller.subscription for poller in self.pollers.values()]

    def run_once(self, name: str | None = None, wait_seconds: int = 0) -> BatchResult | None:
        """One batch for one handler, in this thread; None when no message came within wait_seconds."""
        result = self._poller(name).poll_once(wait_seconds)
        if result is not None and self.on_batch is not None:
            self.on_batch(result)
        return result

    def start(self) -> None:
        if self._running:
            return
        still_running = sorted(name for name, thread in self._threads.items() if thread.is_alive())
        if still_running:
            # Their pollers would share the new run's stop signal: one run at a time.
            raise RuntimeError(f"handlers {still_running}, abandoned at the last stop, are still running")
        self._threads = {}
        self._stopping.clear()
        self._running = True
        for name, poller in self.pollers.items():
            poller.abandoned.clear()
            thread = threading.Thread(target=self._poll_until_stopped, args=(poller,), name=f"sqs-{name}", daemon=True)
            self._threads[name] = thread
            thread.start()
            log.info(
                "feeding %s from SQS queue %s (batch size %d)",
                name,
                poller.subscription.queue_label,
                poller.subscription.batch_size,
            )
        if not self.pollers:
            log.info("%s has no SQS handlers: nothing to poll", self.app.app_name)

    def stop(self, timeout: float = 5.0) -> None:
        """Waits up to timeout (shared by all threads) for polls and running handlers to finish. A
        handler still running then is abandoned: its batch is not deleted, and reappears after the
        visibility timeout, as when Lambda times a function out. A later stop() waits for it again."""
        self._stopping.set()
        self._running = False
        deadline = time.monotonic() + timeout
        for name, thread in list(self._threads.items()):
            thread.join(max(0.0, deadline - time.monotonic()))
            if not thread.is_alive():
                del self._threads[name]
            elif not self.pollers[name].abandoned.is_set():
                self.pollers[name].abandoned.set()
                log.warning("%s: handler still running %s s after stop; abandoning its batch", name, timeout)

    def _poller(self, name: str | None) -> QueuePoller:
        if name is not None:
            return self.pollers[name]
        if len(self.pollers) != 1:
            raise ValueError(f"name one of the SQS handlers: {sorted(self.pollers)}")
        return next(iter(self.pollers.values()))

    def _poll_until_stopped(self, poller: QueuePoller) -> None:
        last_error: str | None = None
        while not self._stopping.is_set():
            try:
                result = poller.poll_once(self.poll_wait_seconds)
                if result is not None and self.on_batch is not None:
                    self.on_batch(result)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:
                    # Logged once per distinct error: a queue that is not created yet would otherwise
                    # fill the log every two seconds.
                    log.warning(
                        "%s: polling %s failed, retrying: %s",
                        poller.subscription.name,
                        poller.subscription.queue_label,
                        error,
                    )
                    last_error = error
                self._stopping.wait(POLL_ERROR_BACKOFF_SECONDS)
                continue
            last_error = None

    def __enter__(self) -> SqsEventSource:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
