"""The exceptions callers catch: ours, never redis-py's or botocore's."""

from __future__ import annotations


class SpillwayError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SpillwayError):
    """webhooks.json (or the environment it reads) is not usable."""

    def __init__(self, path: str, webhook_id: str | None, field: str | None, problem: str, *, cause: str | None = None):
        self.path = path
        self.webhook_id = webhook_id
        self.field = field
        self.problem = problem
        # What AWS or a library said (an AccessDenied names the account and the role): for the
        # log, never for an HTTP answer.
        self.cause = cause
        where = path
        if webhook_id is not None:
            where += f": webhook '{webhook_id}'"
        if field is not None:
            where += f": field '{field}'"
        self.public_message = f"{where}: {problem}"
        super().__init__(self.public_message if cause is None else f"{self.public_message}: {cause}")


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


class RedisAnswered(DestinationUnavailable):
    """Redis answered, but the delivery does not count yet. Redis is reachable, so the circuit
    breaker stays closed; the event waits like it would for Redis, and spends no attempt."""


class NoSubscribers(RedisAnswered):
    """A channel delivery's PUBLISH reached fewer than the webhook's min_subscribers; nothing
    was kept. The event waits for a subscriber.
    """


class ReplicasBehind(RedisAnswered):
    """WAIT counted fewer replicas than min_replicas_acked: the write (or the duplicate's marker)
    may be on the primary alone, and a failover would lose it. The event waits; if the write
    survives, its marker makes the later try a duplicate (confirmed by its own WAIT)."""


class SlotMoved(RedisAnswered):
    """A cluster node answered MOVED, ASK or TRYAGAIN for the delivery's slot (a failover or a
    slot migration); the client's slot table is refreshed, so the next try goes to the new owner."""


class DeliveryRefused(DeliveryError):
    """Redis answered and refused the write (WRONGTYPE, script error...); OOM is a wait.

    Retrying may not help: it counts against the webhook's max_attempts.
    """


class QueueUnavailable(SpillwayError):
    """The SQS queue could not take or give a message."""


class ClaimCheckUnavailable(QueueUnavailable):
    """The claim check's S3 bucket could not take, give or delete an object: like SQS failing, a
    spill answers 503 and the drain leaves the record to SQS."""


class ClaimCheckInvalid(SpillwayError):
    """A claim check whose object is missing or does not match its SHA-256: the event can never
    be delivered from it (poison)."""


class ClaimCheckMissing(ClaimCheckInvalid):
    """A claim check with no object: released once an earlier copy of its message was delivered
    (the drain then asks the event's marker), or lost (poison)."""
