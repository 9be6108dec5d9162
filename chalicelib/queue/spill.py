"""The spill: an event Redis could not take goes to the retry queue for the drain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from chalicelib.envelope import Envelope, encode_envelope, utc_timestamp
from chalicelib.queue.claim_check import check_in
from chalicelib.queue.message import QueueMessage, encode_queue_message, encoded_size, new_queue_message
from chalicelib.queue.sqs import retry_queue_url, send


def spill_message(envelope: Envelope, error: str) -> QueueMessage:
    return new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), error)


def spill_to_retry_queue(
    envelope: Envelope, error: str, claim_check_bucket: str | None = None, encoded: str | None = None
) -> str:
    """Returns the SQS message id. With a claim_check_bucket (an event too large for a queue
    message), the encoded envelope goes to the bucket first and the message carries the pointer.
    Raises QueueUnavailable (ClaimCheckUnavailable when S3 failed)."""
    pointer = None
    if claim_check_bucket is not None:
        pointer = check_in(claim_check_bucket, envelope, encoded or encode_envelope(envelope))
    message = new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), error, pointer)
    return send(retry_queue_url(), encode_queue_message(message))


def spilled_size(envelope: Envelope) -> int:
    """The bytes SQS would count for the event's queue message (with an empty last_error)."""
    return encoded_size(encode_queue_message(spill_message(envelope, "")))


# What a fresh queue message holds around its envelope (keys, counters, a fixed-length
# timestamp), in bytes: measured once from a real one.
SPILL_WRAPPER_BYTES = spilled_size(cast(Envelope, {})) - len("{}")
