"""How Spillway calls AWS: clients with boto3's own retries off, and which failures are worth one
more try. Each call path adds exactly one tenacity policy on top (STYLE.md: one retry layer).

boto3 and tenacity are imported inside the functions: a process that never calls AWS never
pays for them (bench B5's cold start).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.errors import SpillwayError

if TYPE_CHECKING:
    from tenacity import Retrying

RETRYABLE_ERROR_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure"}
)


def build_client(service: str, region: str | None, connect_timeout: float, read_timeout: float) -> Any:
    """A client that tries once (total_max_attempts=1): the caller's tenacity policy retries."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout, retries={"total_max_attempts": 1})
    return boto3.session.Session().client(service, region_name=region, config=config)


def is_transient(error: BaseException) -> bool:
    """Connection failures, throttling and 5xx answers: the same call may well succeed again."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_ERROR_CODES or status >= 500
    return False


@functools.cache
def aws_retrying() -> Retrying:
    """The one retry layer of an AWS call path (SQS and S3 for the spill and the drain, SSM and
    Secrets Manager for the config): a second try after a transient failure. tenacity keeps
    each call's state per thread, so one policy serves every caller; a frozen policy, not
    process state: nothing to reset."""
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

    return Retrying(
        stop=stop_after_attempt(2),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.2, jitter=0.05),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )


def aws_retrying_before(deadline: float, attempt_seconds: float) -> Retrying:
    """aws_retrying, with a second try only if it could still end by `deadline` (time.monotonic())
    however long it takes (`attempt_seconds`: the client's connect plus read timeout): for a call
    path with a deadline of its own (the door's spill, inside the HTTP function's timeout). Built
    right before its call: tenacity times stop_before_delay from the call's start."""
    from tenacity import stop_after_attempt, stop_before_delay

    no_time_left = stop_before_delay(deadline - time.monotonic() - attempt_seconds)
    return aws_retrying().copy(stop=stop_after_attempt(2) | no_time_left)


def call_aws(
    operation: Callable[[], Any], what: str, error_type: type[SpillwayError], retrying: Retrying | None = None
) -> Any:
    """One AWS call through its path's one retry layer (aws_retrying unless given); botocore's
    errors become `error_type`, naming `what` was called."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return (retrying or aws_retrying())(operation)
    except (BotoCoreError, ClientError) as exc:
        raise error_type(f"{what}: {type(exc).__name__}: {exc}") from exc
