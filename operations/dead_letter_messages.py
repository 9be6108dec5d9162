"""What a dead-letter-queue message says: read, classified, and selected by filters."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from chalicelib.envelope import Envelope, MalformedEnvelope, checked_envelope
from chalicelib.json_numbers import loads_exact
from chalicelib.queue.message import ClaimCheck, MalformedMessage, checked_claim_check

REASON_MAX_RECEIVE_COUNT = "max_receive_count"
REASON_UNREADABLE = "unreadable"
SQS_BATCH_LIMIT = 10  # ReceiveMessage, ChangeMessageVisibilityBatch and DeleteMessageBatch take at most 10

T = TypeVar("T")
StopReason = Literal["empty", "limit", "time", "scanned"]


@dataclass(frozen=True)
class ScanLimits:
    """How a command reads the DLQ. Every round of receives is bounded by count and by time."""

    # Long polling asks every SQS server, so an empty answer means the queue has nothing visible
    # (short polling samples a subset and can answer empty while messages wait).
    wait_seconds: int = 1
    # list and show: long enough not to meet the same message twice in one pass, short enough
    # that a crashed listing does not hide the queue for long.
    list_visibility_seconds: int = 30
    # replay and purge hold what they will act on across a confirmation prompt and the sends.
    hold_visibility_seconds: int = 300
    max_seconds: float = 30.0
    max_scanned: int = 10_000


@dataclass(frozen=True)
class DeadLetterMessage:
    """One DLQ message as the tool understands it, whichever kind it is."""

    message_id: str
    receipt_handle: str
    body: str
    document: dict[str, Any] | None
    reason: str
    detail: str
    webhook_id: str | None
    event_id: str | None
    attempts: int | None
    last_error: str
    envelope: Envelope | None
    received_at: datetime | None  # when the door took the event
    sent_at: datetime | None  # when this message was sent to its queue (SQS SentTimestamp)
    # A large event's pointer into the claim-check bucket (its envelope is there, not here).
    claim_check: ClaimCheck | None = None

    @property
    def replayable(self) -> bool:
        return self.envelope is not None or self.claim_check is not None

    def age_seconds(self, now: datetime) -> float | None:
        start = self.received_at or self.sent_at
        return None if start is None else max(0.0, (now - start).total_seconds())

    def summary(self) -> str:
        if self.event_id is None:
            return f"message {self.message_id} ({self.reason})"
        return f"event {self.event_id} (webhook {self.webhook_id}, {self.reason}, message {self.message_id})"


@dataclass(frozen=True)
class Selection:
    """Which messages a command acts on; no webhook and no ids selects everything."""

    webhook_id: str | None = None
    ids: frozenset[str] = frozenset()

    def matches(self, message: DeadLetterMessage) -> bool:
        if self.webhook_id is not None and message.webhook_id != self.webhook_id:
            return False
        return not self.ids or message.message_id in self.ids or message.event_id in self.ids

    def missing(self, found: Iterable[DeadLetterMessage]) -> list[str]:
        seen = {identifier for message in found for identifier in (message.message_id, message.event_id)}
        return sorted(self.ids - seen)

    def describe(self) -> str:
        if self.webhook_id is not None:
            return f"webhook {self.webhook_id}"
        if self.ids:
            return f"{len(self.ids)} id(s)"
        return "every message"


@dataclass(frozen=True)
class Scan:
    matched: list[DeadLetterMessage]
    others: list[DeadLetterMessage]
    stopped_by: StopReason

    @property
    def held(self) -> list[DeadLetterMessage]:
        return self.matched + self.others

    def stop_note(self) -> str | None:
        """Why the scan may not have seen the whole queue, or None when it did."""
        if self.stopped_by == "empty":
            return None
        why = {"limit": "limit reached", "time": "time limit reached", "scanned": "scan limit reached"}
        return f"stopped after reading {len(self.held)} message(s) ({why[self.stopped_by]}): more may remain"


@dataclass(frozen=True)
class ReplayReport:
    replayed: list[str]
    skipped: list[str]
    failed: list[str]
    not_found: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_found


@dataclass(frozen=True)
class PurgeReport:
    aborted: bool  # the operator did not confirm
    deleted: list[str]
    failed: list[str]

    @property
    def ok(self) -> bool:
        return not self.aborted and not self.failed


# --- reading a message -------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole_number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_epoch_milliseconds(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def replayable_envelope(value: Any) -> Envelope | None:
    """The envelope when it is complete enough for the drain to accept (its decode's rules)."""
    try:
        return checked_envelope(value)
    except MalformedEnvelope:
        return None


def claim_check_of(document: Mapping[str, Any]) -> ClaimCheck | None:
    if "claim_check" not in document:
        return None
    try:
        return checked_claim_check(document["claim_check"])
    except MalformedMessage:
        return None


def read_message(sqs_message: Mapping[str, Any]) -> DeadLetterMessage:
    """Classifies one ReceiveMessage entry; never raises on a strange body."""
    body = str(sqs_message.get("Body", ""))
    unreadable = DeadLetterMessage(
        message_id=str(sqs_message["MessageId"]),
        receipt_handle=str(sqs_message["ReceiptHandle"]),
        body=body,
        document=None,
        reason=REASON_UNREADABLE,
        detail="body is not JSON",
        webhook_id=None,
        event_id=None,
        attempts=None,
        last_error="",
        envelope=None,
        received_at=None,
        sent_at=_from_epoch_milliseconds(sqs_message.get("Attributes", {}).get("SentTimestamp")),
    )
    try:
        # Exact numbers, as the drain reads them: a replay re-encodes the envelope.
        document = loads_exact(body)
    except ValueError:
        return unreadable
    if not isinstance(document, dict):
        return dataclasses.replace(unreadable, detail="body is not a JSON object")
    raw_envelope = document.get("envelope")
    envelope = replayable_envelope(raw_envelope)
    claim_check = claim_check_of(document)
    block = document.get("dead_letter")
    info: dict[str, Any] = block if isinstance(block, dict) else {}
    if isinstance(block, dict):
        reason = _text(info.get("reason")) or "unknown"
        detail = _text(info.get("detail")) or ""
    elif envelope is not None or claim_check is not None:
        reason, detail = REASON_MAX_RECEIVE_COUNT, "moved by SQS after maxReceiveCount receives"
    else:
        return dataclasses.replace(unreadable, document=document, detail="JSON, but not a Spillway message")
    # A claim-checked letter's pointer names the event as its envelope would.
    loose: Mapping[str, Any] = raw_envelope if isinstance(raw_envelope, dict) else {}
    if claim_check is not None and not loose:
        pointer = claim_check
        loose = {"webhook_id": pointer["webhook_id"], "id": pointer["event_id"], "received_at": pointer["received_at"]}
    state = document.get("redrive")
    redrive: dict[str, Any] = state if isinstance(state, dict) else {}
    return dataclasses.replace(
        unreadable,
        document=document,
        reason=reason,
        detail=detail,
        webhook_id=_text(info.get("webhook_id")) or _text(loose.get("webhook_id")),
        event_id=_text(info.get("event_id")) or _text(loose.get("id")),
        attempts=_whole_number(info.get("attempts", redrive.get("attempts"))),
        last_error=_text(info.get("last_error")) or _text(redrive.get("last_error")) or "",
        envelope=envelope,
        received_at=_parse_time(loose.get("received_at")),
        claim_check=claim_check,
    )
