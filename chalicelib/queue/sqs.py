"""SQS access for both queues: a lazy client (boto3 is imported only when something spills)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from chalicelib.config.settings import get_settings
from chalicelib.errors import QueueUnavailable
from chalicelib.process_state import ProcessCache

# boto3's own retries are off (total_max_attempts=1): tenacity below is this path's one
# retry layer. Short timeouts, since a sender is waiting on the spill.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0
RETRYABLE_ERROR_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure"}
)

_clients: ProcessCache[str, Any] = ProcessCache("sqs client")
_queue_urls: ProcessCache[str, str] = ProcessCache("sqs queue urls")


def _build_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS, retries={"total_max_attempts": 1}
    )
    return boto3.session.Session().client("sqs", region_name=region, config=config)


def get_sqs() -> Any:
    return _clients.get(get_settings().aws_region, _build_client)


def _is_transient(error: BaseException) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_ERROR_CODES or status >= 500
    return False


# One policy for every SQS call; tenacity keeps each call's state per thread, so it is shared.
SQS_RETRYING = Retrying(
    stop=stop_after_attempt(2),
    wait=wait_exponential_jitter(multiplier=0.05, max=0.2, jitter=0.05),
    retry=retry_if_exception(_is_transient),
    reraise=True,
)


def _call(operation: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return SQS_RETRYING(operation)
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc


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
    response = _call(lambda: get_sqs().get_queue_url(QueueName=queue_name), what)
    return _answer_field(response, "QueueUrl", what)


def retry_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.retry_queue_name, settings.retry_queue_url)


def dead_letter_queue_url() -> str:
    settings = get_settings()
    return queue_url(settings.dead_letter_queue_name, settings.dead_letter_queue_url)


def send(url: str, body: str, delay_seconds: int = 0) -> str:
    """Returns the message id. Raises QueueUnavailable."""
    response = _call(
        lambda: get_sqs().send_message(QueueUrl=url, MessageBody=body, DelaySeconds=delay_seconds), "send_message"
    )
    return _answer_field(response, "MessageId", "send_message")


def queue_attributes(url: str, names: Sequence[str]) -> dict[str, str]:
    """Raises QueueUnavailable (a missing queue included)."""
    response = _call(
        lambda: get_sqs().get_queue_attributes(QueueUrl=url, AttributeNames=list(names)), "get_queue_attributes"
    )
    return {str(name): str(value) for name, value in response.get("Attributes", {}).items()}
