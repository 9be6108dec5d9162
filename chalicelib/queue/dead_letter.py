"""The dead-letter queue's message: the event (when there is one) and why it stopped."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from chalicelib.envelope import Envelope
from chalicelib.queue.message import ClaimCheck, RedriveState, encode_queue_message
from chalicelib.queue.sqs import OutgoingMessage, dead_letter_queue_url

DeadLetterReason = Literal["exhausted", "expired", "poison"]


class DeadLetterInfo(TypedDict):
    reason: DeadLetterReason
    detail: str
    webhook_id: str | None
    event_id: str | None
    attempts: int
    age_seconds: float | None
    last_error: str
    dead_lettered_at: str
    source_message_id: str


class DeadLetter(TypedDict):
    envelope: Envelope | None
    redrive: RedriveState | None
    dead_letter: DeadLetterInfo
    raw_body: str | None
    # A claim-checked event's pointer: the letter then carries no envelope (encode_queue_message).
    claim_check: NotRequired[ClaimCheck]


def dead_letter_message(letter: DeadLetter) -> OutgoingMessage:
    """The letter as a message for the dead-letter queue. Raises QueueUnavailable (its URL)."""
    document: dict[str, Any] = dict(letter)
    return OutgoingMessage(dead_letter_queue_url(), encode_queue_message(document))
