"""The wire shape of a message on the retry queue and the dead-letter queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, cast

from chalicelib.envelope import Envelope, MalformedEnvelope, checked_envelope
from chalicelib.json_numbers import dumps_exact, loads_exact

# Error texts are cut to this many characters: a message must not grow past the queue's limit
# however often it is redriven (see QUEUE_MESSAGE_GROWTH_BYTES).
LAST_ERROR_LIMIT = 500
# Above any count the drain can write (max_attempts <= 1,000; one wait per second for at most
# 13 days is ~1.1 million): a bigger one is not ours.
MAX_REDRIVE_COUNT = 1_000_000_000
# What a message can still grow by after the door measured it as a fresh queue message with an
# empty last_error, at most: a last_error of LAST_ERROR_LIMIT characters at up to 6 bytes each
# once JSON-escaped (3,000), twice in a dead letter (its redrive state and its reason), the
# reason block's detail (cut like last_error: 3,000), the event id again (200 printable ASCII
# characters, 400 escaped), counters, timestamps, the source message id and the keys (< 1,000).
# tests/unit/queue/test_drain.py builds that worst case and checks it.
QUEUE_MESSAGE_GROWTH_BYTES = 11 * 1024


class RedriveState(TypedDict):
    attempts: int
    waits: int
    first_failed_at: str
    last_error: str
    not_before: str | None


class ClaimCheck(TypedDict):
    """Where a spilled event too large for a queue message waits (queue/claim_check.py): an S3
    object holding the encoded envelope, its SHA-256 (hex) and size, and whose event it is."""

    bucket: str
    key: str
    sha256: str
    size: int
    webhook_id: str
    event_id: str
    # The envelope's received_at: the dead-letter tool weighs a replay's risk without fetching it.
    received_at: str


class QueueMessage(TypedDict):
    """A claim-checked message travels as {"claim_check", "redrive"}: decode_queue_message gives it
    without its envelope, which the drain fetches (queue/claim_check.py `claimed_envelope`)."""

    envelope: Envelope
    redrive: RedriveState
    claim_check: NotRequired[ClaimCheck]


class MalformedMessage(ValueError):
    """The body is not a Spillway queue message; retrying it can never help."""


def new_redrive_state(failed_at: str, error: str) -> RedriveState:
    return RedriveState(
        attempts=0, waits=0, first_failed_at=failed_at, last_error=error[:LAST_ERROR_LIMIT], not_before=None
    )


def new_queue_message(
    envelope: Envelope, failed_at: str, error: str, claim_check: ClaimCheck | None = None
) -> QueueMessage:
    message = QueueMessage(envelope=envelope, redrive=new_redrive_state(failed_at, error))
    if claim_check is not None:
        message["claim_check"] = claim_check
    return message


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as the relay writes it (utc_timestamp); one without a zone is UTC.
    Raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# SQS refuses message bodies holding these two non-characters; json.dumps(ensure_ascii=False)
# leaves them raw (it escapes only control characters), so they are escaped here. They can
# only occur inside JSON strings, where the escape means the same character.
SQS_FORBIDDEN = {"\ufffe": "\\ufffe", "\uffff": "\\uffff"}
# A lone UTF-16 surrogate (from a JSON escape such as \ud800 in a queued body) is no UTF-8:
# boto3 could not send it. Escaped the same way, so that a dead letter holding one still goes.
# A pattern, compiled (and kept by `re`) on first use: rarely needed, and compiling it costs
# every cold start ~0.2 ms (bench B5).
LONE_SURROGATE = "[\ud800-\udfff]"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def encode_queue_message(message: QueueMessage | dict[str, Any]) -> str:
    """The message as SQS takes it: JSON with every character SQS refuses escaped. A message with a
    claim check carries the pointer instead of its envelope (the envelope is in the bucket)."""
    if "claim_check" in message:
        message = {key: value for key, value in message.items() if key != "envelope"}
    text = dumps_exact(message)
    if text.isascii():
        # The common case, answered without a scan (CPython knows it from the string's kind).
        return text
    for character, escape in SQS_FORBIDDEN.items():
        if character in text:
            text = text.replace(character, escape)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = re.sub(LONE_SURROGATE, _json_escape, text)
    return text


def encoded_size(text: str) -> int:
    """The bytes SQS counts for an encoded message."""
    return len(text.encode("utf-8"))


def decode_queue_message(body: str) -> QueueMessage:
    try:
        document = loads_exact(body)
    except ValueError as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedMessage("body nests too deep to parse") from exc
    if not isinstance(document, dict):
        raise MalformedMessage("body is not a JSON object")
    if "claim_check" in document:
        document["claim_check"] = checked_claim_check(document["claim_check"])
        document.pop("envelope", None)
    else:
        try:
            checked_envelope(document.get("envelope"))
        except MalformedEnvelope as exc:
            raise MalformedMessage(f"body has {exc}") from exc
    document["redrive"] = _checked_redrive(document.get("redrive"))
    return cast(QueueMessage, document)


CLAIM_CHECK_TEXT_FIELDS = ("bucket", "key", "sha256", "webhook_id", "event_id", "received_at")
# Compiled on first use (a claim check, in the drain), as LONE_SURROGATE.
SHA256_HEX = "[0-9a-f]{64}"


def checked_claim_check(pointer: Any) -> ClaimCheck:
    """Raises MalformedMessage."""
    if not isinstance(pointer, dict):
        raise MalformedMessage("'claim_check' must be an object")
    for name in CLAIM_CHECK_TEXT_FIELDS:
        if not isinstance(pointer.get(name), str) or not pointer[name]:
            raise MalformedMessage(f"claim_check {name!r} must be a non-empty string")
    if not re.fullmatch(SHA256_HEX, pointer["sha256"]):
        raise MalformedMessage("claim_check 'sha256' must be 64 lower-case hex digits")
    if type(pointer.get("size")) is not int or pointer["size"] < 0:
        raise MalformedMessage("claim_check 'size' must be a whole number of bytes")
    return cast(ClaimCheck, pointer)


def _checked_redrive(redrive: Any) -> RedriveState:
    """Every field the drain reads, checked here: a bad one makes the record poison at once
    instead of failing wherever the drain first uses it."""
    if not isinstance(redrive, dict):
        raise MalformedMessage("body has no 'redrive' state")
    for name in ("attempts", "waits"):
        count = redrive.get(name)
        # bool is an int subclass: true is no count.
        if type(count) is not int or not 0 <= count <= MAX_REDRIVE_COUNT:
            raise MalformedMessage(f"redrive {name!r} must be a whole number from 0 to {MAX_REDRIVE_COUNT}")
    _check_timestamp(redrive, "first_failed_at")
    if redrive.setdefault("not_before", None) is not None:
        _check_timestamp(redrive, "not_before")
    last_error = redrive.setdefault("last_error", "")
    if not isinstance(last_error, str):
        raise MalformedMessage("redrive 'last_error' must be a string")
    redrive["last_error"] = last_error[:LAST_ERROR_LIMIT]
    return cast(RedriveState, redrive)


def _check_timestamp(redrive: dict[str, Any], name: str) -> None:
    value = redrive.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError(f"not a string but {type(value).__name__}")
        # In UTC too: a zone that moves it past year 1..9999 would overflow later arithmetic.
        parse_timestamp(value).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise MalformedMessage(f"redrive {name!r} must be an ISO 8601 timestamp: {exc}") from exc
