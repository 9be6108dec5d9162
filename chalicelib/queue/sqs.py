"""SQS access for both queues: a lazy client (boto3 is imported only when something spills)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.aws_calls import aws_retrying_before, build_client, call_aws
from chalicelib.config.settings import get_settings
from chalicelib.errors import QueueUnavailable
from chalicelib.process_state import ProcessCache
from chalicelib.queue.message import encoded_size

# boto3's own retries are off (total_max_attempts=1): tenacity (aws_retrying) is this path's
# one retry layer. Short timeouts, since a sender is waiting on the spill.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0
# The longest one try can take: connecting, then waiting for the answer.
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
# SendMessageBatch takes at most 10 entries, with unique ids (SQS API reference); the
# `sqs:SendMessage` permission covers it (SQS has no permission of its own for batch actions).
BATCH_ENTRIES = 10

_clients: ProcessCache[str, Any] = ProcessCache("sqs client")
_queue_urls: ProcessCache[str, str] = ProcessCache("sqs queue urls")


def _build_client(region: str) -> Any:
    return build_client("sqs", region, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)


def get_sqs() -> Any:
    return _clients.get(get_settings().aws_region, _build_client)


def _answer_field(response: Any, name: str, what: str) -> str:
    """A connection cut mid-answer leaves botocore a truncated JSON body, which it parses to an
    answer with no fields and no error: the call may or may not have happened."""
    value = response.get(name)
    if not value:
        raise QueueUnavailable(f"{what}: the answer has no {name} (cut off mid-body?)")
    return str(value)


def queue_url(queue_name: str, explicit_url: str | None = None) -> str:
    if explicit_url:
        return explicit_url
    return _queue_urls.get(queue_name, _look_up_queue_url)


def _look_up_queue_url(queue_name: str) -> str:
    what = f"get_queue_url({queue_name})"
    response = call_aws(lambda: get_sqs().get_queue_url(QueueName=queue_name), what, QueueUnavailable)
    return _answer_field(response, "QueueUrl", what)


def retry_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.retry_queue_name, settings.retry_queue_url)


def dead_letter_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.dead_letter_queue_name, settings.dead_letter_queue_url)


def send(url: str, body: str, delay_seconds: int = 0, deadline: float | None = None) -> str:
    """Returns the message id. With a deadline (time.monotonic()), a second try only if it could
    end by then. Raises QueueUnavailable."""
    retrying = None if deadline is None else aws_retrying_before(deadline, ATTEMPT_SECONDS)
    response = call_aws(
        lambda: get_sqs().send_message(QueueUrl=url, MessageBody=body, DelaySeconds=delay_seconds),
        "send_message",
        QueueUnavailable,
        retrying,
    )
    return _answer_field(response, "MessageId", "send_message")


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to put on a queue, delayed by 0-900 s."""

    queue_url: str
    body: str
    delay_seconds: int = 0


def batch_requests(messages: Sequence[OutgoingMessage], max_bytes: int) -> list[list[int]]:
    """The messages' positions, grouped into SendMessageBatch requests: one queue each, at most
    BATCH_ENTRIES entries and max_bytes of bodies (a message as large alone goes alone)."""
    requests: list[list[int]] = []
    filling: dict[str, tuple[list[int], int]] = {}
    for position, message in enumerate(messages):
        size = encoded_size(message.body)
        request, request_bytes = filling.get(message.queue_url, ([], 0))
        if not request or len(request) == BATCH_ENTRIES or request_bytes + size > max_bytes:
            request, request_bytes = [], 0
            requests.append(request)
        request.append(position)
        filling[message.queue_url] = (request, request_bytes + size)
    return requests


def send_messages(messages: Sequence[OutgoingMessage]) -> list[str | None]:
    """Sends the messages in as few requests as SQS takes. Returns, for each message in order,
    None when SQS accepted it, or why not: its entry failed, or its whole request did (after the
    one retry layer). A failed entry is not sent again here: its caller leaves the record to SQS."""
    # AWS holds a batch's bodies together to 1 MiB (SendMessageBatch, 2025), emulators and older
    # documentation to the message limit: the queues' MaximumMessageSize as configured (at most
    # 1 MiB, 256 KiB by default) keeps to both, and a message the door let through fits it alone.
    max_bytes = get_settings().queue_max_message_bytes
    failures: list[str | None] = [None] * len(messages)
    for positions in batch_requests(messages, max_bytes):
        batch = [messages[position] for position in positions]
        try:
            refused = _send_batch(batch[0].queue_url, batch)
        except QueueUnavailable as exc:
            refused = dict.fromkeys(range(len(batch)), str(exc))
        for index, why in refused.items():
            failures[positions[index]] = why
    return failures


def _send_batch(url: str, batch: Sequence[OutgoingMessage]) -> dict[int, str]:
    """One SendMessageBatch. Returns the entries SQS did not accept (by position) and why; an entry
    the answer does not mention (a body cut mid-answer) counts as not accepted. Raises
    QueueUnavailable when the request failed as a whole."""
    entries = [
        {"Id": str(index), "MessageBody": message.body, "DelaySeconds": message.delay_seconds}
        for index, message in enumerate(batch)
    ]
    what = "send_message_batch"
    response = call_aws(lambda: get_sqs().send_message_batch(QueueUrl=url, Entries=entries), what, QueueUnavailable)
    refused = {
        str(entry.get("Id")): f"{what}: {entry.get('Code')}: {entry.get('Message')}"
        for entry in response.get("Failed") or []
    }
    accepted = {str(entry.get("Id")) for entry in response.get("Successful") or []} - refused.keys()
    return {
        index: refused.get(str(index), f"{what}: the answer does not mention this entry (cut off mid-body?)")
        for index in range(len(batch))
        if str(index) not in accepted
    }


def queue_attributes(url: str, names: Sequence[str]) -> dict[str, str]:
    """Raises QueueUnavailable (a missing queue included)."""
    response = call_aws(
        lambda: get_sqs().get_queue_attributes(QueueUrl=url, AttributeNames=list(names)),
        "get_queue_attributes",
        QueueUnavailable,
    )
    return {str(name): str(value) for name, value in response.get("Attributes", {}).items()}
