"""The spill: an event Redis could not take goes to the retry queue for the drain."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.envelope import Envelope, utc_timestamp
from chalicelib.queue.message import encode_queue_message, new_queue_message
from chalicelib.queue.sqs import retry_queue_url, send


def spill_to_retry_queue(envelope: Envelope, error: str) -> str:
    """Returns the SQS message id. Raises QueueUnavailable."""
    message = new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), error)
    return send(retry_queue_url(), encode_queue_message(message))
