"""How big a queue message may be, and so how big a body the door may take.

The door answers 202 for a spilled event only if its queue message fits the retry queue, and
the drain must still be able to redrive it and dead-letter it. SQS takes up to 1,048,576 bytes
per message (2025), but a queue created without `MaximumMessageSize` still takes only 262,144:
the queues we create (operations/queue_bootstrap.py, the LocalStack ready hook, the deploy
template) set it to the maximum, and QUEUE_MAX_MESSAGE_BYTES says what the door may count on.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.errors import ConfigError

# The most any SQS queue takes: what our queues are created with.
SQS_MAX_MESSAGE_BYTES = 1_048_576
# What a queue created without MaximumMessageSize takes: the default, so that the door's
# promise holds for any queue, ours or one made by hand.
SQS_DEFAULT_MESSAGE_BYTES = 262_144
QUEUE_MAX_MESSAGE_BYTES_VARIABLE = "QUEUE_MAX_MESSAGE_BYTES"

# What a queue message holds besides a blob's base64 payload, at most: up to 10,240 bytes of
# request headers (API Gateway's limit) forwarded in the envelope, which JSON escaping can
# double; the envelope's other fields; and what the message may grow by once queued
# (queue/message.py QUEUE_MESSAGE_GROWTH_BYTES, 11 KiB).
NON_BODY_BYTES = 32 * 1024


def queue_max_message_bytes(environ: Mapping[str, str]) -> int:
    """QUEUE_MAX_MESSAGE_BYTES, 262,144 (the default) to 1,048,576. Raises ConfigError."""
    raw = environ.get(QUEUE_MAX_MESSAGE_BYTES_VARIABLE) or str(SQS_DEFAULT_MESSAGE_BYTES)
    if not raw.isdigit() or not SQS_DEFAULT_MESSAGE_BYTES <= int(raw) <= SQS_MAX_MESSAGE_BYTES:
        raise ConfigError(
            "environment",
            None,
            QUEUE_MAX_MESSAGE_BYTES_VARIABLE,
            f"must be a whole number of bytes from {SQS_DEFAULT_MESSAGE_BYTES} to {SQS_MAX_MESSAGE_BYTES} "
            f"(at most the retry and dead-letter queues' MaximumMessageSize), got {raw!r}",
        )
    return int(raw)


# The largest request Lambda takes behind API Gateway, body included. Lambda refuses a
# synchronous invocation payload over 6 MB ("Request must be smaller than 6291456 bytes"); API
# Gateway's own 10 MB limit is never the one that binds.
LAMBDA_EVENT_BYTES = 6_291_456
# The proxy event around the body, at most: API Gateway limits the request line and headers to
# 10,240 bytes together; the event repeats them up to four times (headers and
# multiValueHeaders; path, resource and requestContext's path; queryStringParameters and its
# multi-value twin), each JSON-escaped at up to 6 bytes per byte (\u0001): 245,760 bytes, plus
# requestContext's fixed fields and the keys (under 16 KiB).
LAMBDA_EVENT_NON_BODY_BYTES = 256 * 1024
# The deploy template makes every media type binary (operations/deploy_template.py), so the body
# reaches Lambda base64-encoded: 4 bytes per 3, never escaped. 6,291,456 - 262,144 = 6,029,312
# bytes of base64 carry 4,521,984 bytes (4,416 KiB) of body.
LAMBDA_MAX_BODY_BYTES = (LAMBDA_EVENT_BYTES - LAMBDA_EVENT_NON_BODY_BYTES) * 3 // 4


def max_body_bytes_limit(queue_bytes: int, claim_check: bool = False) -> int:
    """The largest max_body_bytes a webhook may set, and its default.

    With a claim-check bucket (LARGE_PAYLOAD_BUCKET), whatever Lambda can receive: a spilled
    event too large for a queue message goes to the bucket. Without one, a blob body of that size
    (base64 grows it by a third) still fits a queue message of queue_bytes with every header API
    Gateway lets through; bodies that grow more (JSON full of escapes) are refused by the door
    with a 413."""
    if claim_check:
        return LAMBDA_MAX_BODY_BYTES
    return (queue_bytes - NON_BODY_BYTES) * 3 // 4
