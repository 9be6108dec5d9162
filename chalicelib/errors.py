"""The exceptions callers catch: ours, never redis-py's or botocore's."""

from __future__ import annotations


class SpillwayError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SpillwayError):
    """webhooks.json (or the environment it reads) is not usable."""

    def __init__(self, path: str, webhook_id: str | None, field: str | None, problem: str):
        self.path = path
        self.webhook_id = webhook_id
        self.field = field
        self.problem = problem
        where = path
        if webhook_id is not None:
            where += f": webhook '{webhook_id}'"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {problem}")


class RejectedRequest(SpillwayError):
    """The sender's request cannot be accepted as it is (a 4xx)."""

    def __init__(self, status: int, code: str, message: str):
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")


class DeliveryError(SpillwayError):
    """Publishing an event to Redis failed."""


class DestinationUnavailable(DeliveryError):
    """Redis could not take the write right now (refused, timed out, loading...).

    Worth retrying: the same write is expected to succeed once Redis is back.
    """


class DeliveryRefused(DeliveryError):
    """Redis answered and refused the write (WRONGTYPE, OOM, script error...).

    Retrying may not help: it counts against the webhook's max_attempts.
    """


class QueueUnavailable(SpillwayError):
    """The SQS queue could not take or give a message."""
