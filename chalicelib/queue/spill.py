"""The spill: an event Redis could not take goes to the retry queue for the drain."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import cast

from chalicelib.envelope import Envelope, encode_envelope, utc_timestamp
from chalicelib.queue.message import QueueMessage, encode_queue_message, encoded_size, new_queue_message

# The whole spill (the claim check's upload, then the SQS send, retries included) ends within
# this many seconds: the HTTP function's 15 s timeout (.chalice/config.json lambda_timeout), less
# the default inline budget (1.5 s) before it, less 1.5 s to answer (a longer budget needs a
# longer timeout: request_seconds_needed). A first try of each call
# always fits (S3 1 + 5 s, then SQS 1 + 3 s: 10 s); a second try runs only if it can still end in
# time (a throttled answer comes back fast; a timed-out try leaves no room for another).
SPILL_BUDGET_SECONDS = 12.0
# What the HTTP function keeps to answer after the spill.
ANSWER_MARGIN_SECONDS = 1.5


def request_seconds_needed(inline_seconds: float) -> float:
    """The longest a webhook's request can take: the inline path (deliver.inline_seconds_at_most),
    then the spill, then the answer. The HTTP function's timeout must be at least this
    (`make deploy` and `make package` refuse a stage where it is not: operations/deploy_guards.py)."""
    return inline_seconds + SPILL_BUDGET_SECONDS + ANSWER_MARGIN_SECONDS


def spill_message(envelope: Envelope, error: str) -> QueueMessage:
    return new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), error)


def spill_to_retry_queue(
    envelope: Envelope, error: str, claim_check_bucket: str | None = None, encoded: str | None = None
) -> str:
    """Returns the SQS message id. With a claim_check_bucket (an event too large for a queue
    message), the encoded envelope goes to the bucket first and the message carries the pointer.
    Everything is done within SPILL_BUDGET_SECONDS. Raises QueueUnavailable (ClaimCheckUnavailable
    when S3 failed)."""
    # Imported on the first spill: the door sizes every event with this module, but only an
    # outage sends one, and a cold start need not import the AWS path before (bench B5).
    from chalicelib.queue import sqs
    from chalicelib.queue.claim_check import check_in

    deadline = time.monotonic() + SPILL_BUDGET_SECONDS
    pointer = None
    if claim_check_bucket is not None:
        # The upload's second try must leave the send its first.
        upload_deadline = deadline - sqs.ATTEMPT_SECONDS
        pointer = check_in(claim_check_bucket, envelope, encoded or encode_envelope(envelope), upload_deadline)
    message = new_queue_message(envelope, utc_timestamp(datetime.now(UTC)), error, pointer)
    return sqs.send(sqs.retry_queue_url(), encode_queue_message(message), deadline=deadline)


def spilled_size(envelope: Envelope) -> int:
    """The bytes SQS would count for the event's queue message (with an empty last_error)."""
    return encoded_size(encode_queue_message(spill_message(envelope, "")))


# What a fresh queue message holds around its envelope (keys, counters, a fixed-length
# timestamp), in bytes: measured once from a real one.
SPILL_WRAPPER_BYTES = spilled_size(cast(Envelope, {})) - len("{}")
