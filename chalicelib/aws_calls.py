"""How Spillway calls AWS: clients with boto3's own retries off, and which failures are worth one
more try. Each call path adds exactly one tenacity policy on top (STYLE.md: one retry layer).

boto3 is imported inside the functions: a process that never calls AWS never pays for it.
"""

from __future__ import annotations

from typing import Any

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
