"""SQS access for both queues: a lazy client (boto3 is imported only when something spills)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from chalicelib.aws_calls import build_client, is_transient
from chalicelib.config.settings import get_settings
from chalicelib.errors import QueueUnavailable
from chalicelib.process_state import ProcessCache

# boto3's own retries are off (total_max_attempts=1): tenacity below is this path's one
# retry layer. Short timeouts, since a sender is waiting on the spill.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0

_clients: ProcessCache[str, Any] = ProcessCache("sqs client")
_queue_urls: ProcessCache[str, str] = ProcessCache("sqs queue urls")


def _build_client(region: str) -> Any:
    return build_client("sqs", region, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)


def get_sqs() -> Any:
    return _clients.get(get_settings().aws_region, _build_client)


# One policy for every SQS call; tenacity keeps each call's state per thread, so it is shared.
SQS_RETRYING = Retrying(
    stop=stop_after_attempt(2),
    wait=wait_exponential_jitter(multiplier=0.05, max=0.2, jitter=0.05),
    retry=retry_if_exception(is_transient),
    reraise=True,
)


def call_aws(operation: Callable[[], Any], what: str, unavailable: type[QueueUnavailable] = QueueUnavailable) -> Any:
    """One AWS call through the one retry layer (S3's claim check uses it too); botocore's errors
    become `unavailable`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return SQS_RETRYING(operation)
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


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
    response = call_aws(lambda: get_sqs().get_queue_url(QueueName=queue_name), what)
    return _answer_field(response, "QueueUrl", what)


def retry_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.retry_queue_name, settings.retry_queue_url)


def dead_letter_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.dead_letter_queue_name, settings.dead_letter_queue_url)


def send(url: str, body: str, delay_seconds: int = 0) -> str:
    """Returns the message id. Raises QueueUnavailable."""
    response = call_aws(
        lambda: get_sqs().send_message(QueueUrl=url, MessageBody=body, DelaySeconds=delay_seconds), "send_message"
    )
    return _answer_field(response, "MessageId", "send_message")


def queue_attributes(url: str, names: Sequence[str]) -> dict[str, str]:
    """Raises QueueUnavailable (a missing queue included)."""
    response = call_aws(
        lambda: get_sqs().get_queue_attributes(QueueUrl=url, AttributeNames=list(names)), "get_queue_attributes"
    )
    return {str(name): str(value) for name, value in response.get("Attributes", {}).items()}
