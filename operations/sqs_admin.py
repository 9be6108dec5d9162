"""SQS for the tooling: queue bootstrap, the dead-letter tool, the local stack, the benchmarks.

Every call goes through sqs_call(), so a tool catches one error, SqsAdminError, whose message
names the call and what SQS (or the connection) said; never botocore's types. The relay's own
SQS access is chalicelib/queue/sqs.py (lazy client, short timeouts, its one retry layer,
QueueUnavailable); tools keep boto3's own retries, since a person is waiting, not a sender.
boto3 is imported only inside the functions, so importing this module costs nothing (B3
times the relay's first boto3 import).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chalicelib.errors import SpillwayError

T = TypeVar("T")

# The same condition under the JSON protocol's code and the older query protocol's.
QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
QUEUE_EXISTS_CODES = frozenset({"QueueAlreadyExists", "QueueNameExists"})
# Visible, in flight (received, not yet deleted) and delayed: every message still on a queue.
MESSAGE_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
BOOTSTRAP_HINT = "create it with `make bootstrap` or `python -m scripts.bootstrap_queues`"
# A person at a terminal reads this, not botocore's NoRegionError or NoCredentialsError.
MISSING_SETTING_HINT = (
    "for AWS set %s; for the local stack start `make run` (its settings are read from "
    ".run/local-stack.json) or set AWS_ENDPOINT_URL to its SQS endpoint"
)


class SqsAdminError(SpillwayError):
    """An SQS call made by a tool failed. code: SQS's error code, "" when SQS never answered."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class QueueMissing(SqsAdminError):
    """No queue by that name (in that account)."""


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError; "" for anything else."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def sqs_call(what: str, operation: Callable[[], T]) -> T:
    """operation(), with botocore's errors turned into SqsAdminError naming `what`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        return operation()
    except NoRegionError as exc:
        raise SqsAdminError(f"{what}: no AWS region: {MISSING_SETTING_HINT % 'AWS_DEFAULT_REGION'}") from exc
    except NoCredentialsError as exc:
        hint = MISSING_SETTING_HINT % "AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        raise SqsAdminError(f"{what}: no AWS credentials: {hint}") from exc
    except (BotoCoreError, ClientError) as exc:
        raise SqsAdminError(f"{what}: {type(exc).__name__}: {exc}", error_code(exc)) from exc


def admin_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 SQS client. Unless given, the endpoint is boto3's own choice (AWS, or
    AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL for LocalStack or moto's server), and so is the region."""
    import boto3

    return sqs_call("SQS client", lambda: boto3.client("sqs", region_name=region, endpoint_url=endpoint_url))


def find_queue_url(client: Any, queue_name: str, owner_account_id: str | None = None) -> str:
    """Raises QueueMissing when there is no such queue, SqsAdminError when SQS cannot say."""
    lookup = {"QueueName": queue_name}
    if owner_account_id:
        lookup["QueueOwnerAWSAccountId"] = owner_account_id
    try:
        response = sqs_call(f"get_queue_url({queue_name})", lambda: client.get_queue_url(**lookup))
    except SqsAdminError as exc:
        if exc.code in QUEUE_MISSING_CODES:
            raise QueueMissing(f"queue {queue_name!r} does not exist ({BOOTSTRAP_HINT})", exc.code) from exc
        raise
    return str(response["QueueUrl"])


def queue_attributes(client: Any, queue_url: str, names: Sequence[str]) -> dict[str, str]:
    response = sqs_call(
        "get_queue_attributes", lambda: client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(names))
    )
    return {str(name): str(value) for name, value in response.get("Attributes", {}).items()}


def message_count(client: Any, queue_url: str, names: Sequence[str] = MESSAGE_COUNT_ATTRIBUTES) -> int:
    """The sum of the named counts; SQS's counts are approximate (eventually consistent)."""
    attributes = queue_attributes(client, queue_url, names)
    return sum(int(attributes.get(name, 0)) for name in names)
