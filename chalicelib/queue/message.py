"""The wire shape of a message on the retry queue and the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any, TypedDict, cast

from chalicelib.envelope import Envelope, MalformedEnvelope, checked_envelope


class RedriveState(TypedDict):
    attempts: int
    waits: int
    first_failed_at: str
    last_error: str
    not_before: str | None


class QueueMessage(TypedDict):
    envelope: Envelope
    redrive: RedriveState


class MalformedMessage(ValueError):
    """The body is not a Spillway queue message; retrying it can never help."""


def new_queue_message(envelope: Envelope, failed_at: str, error: str) -> QueueMessage:
    return QueueMessage(
        envelope=envelope,
        redrive=RedriveState(attempts=0, waits=0, first_failed_at=failed_at, last_error=error, not_before=None),
    )


# SQS refuses message bodies holding these two non-characters; json.dumps(ensure_ascii=False)
# leaves them raw (it escapes only control characters), so they are escaped here. They can
# only occur inside JSON strings, where the escape means the same character.
SQS_FORBIDDEN = {"\ufffe": "\\ufffe", "\uffff": "\\uffff"}


def encode_queue_message(message: QueueMessage | dict[str, Any]) -> str:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    for character, escape in SQS_FORBIDDEN.items():
        if character in text:
            text = text.replace(character, escape)
    return text


def decode_queue_message(body: str) -> QueueMessage:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedMessage("body is not a JSON object")
    try:
        checked_envelope(document.get("envelope"))
    except MalformedEnvelope as exc:
        raise MalformedMessage(f"body has {exc}") from exc
    redrive = document.get("redrive")
    if not isinstance(redrive, dict):
        raise MalformedMessage("body has no 'redrive' state")
    attempts, waits = redrive.get("attempts"), redrive.get("waits")
    if not isinstance(attempts, int) or not isinstance(waits, int) or attempts < 0 or waits < 0:
        raise MalformedMessage("redrive 'attempts' and 'waits' must be whole numbers")
    if not isinstance(redrive.get("first_failed_at"), str):
        raise MalformedMessage("redrive 'first_failed_at' must be a timestamp")
    redrive.setdefault("last_error", "")
    redrive.setdefault("not_before", None)
    return cast(QueueMessage, document)
