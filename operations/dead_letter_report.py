"""How dead letters are shown: a table, JSON rows, one pretty document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib.envelope import utc_timestamp
from operations.dead_letter_messages import (
    DeadLetterMessage,
)

LAST_ERROR_WIDTH = 60


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _truncate(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line per row, whatever the error text holds
    return text if len(text) <= width else text[: width - 3] + "..."


def table_rows(messages: Sequence[DeadLetterMessage], now: datetime) -> list[list[str]]:
    return [
        [
            message.message_id,
            _truncate(message.event_id or "-", 40),
            _truncate(message.webhook_id or "-", 24),
            message.reason,
            "-" if message.attempts is None else str(message.attempts),
            format_age(message.age_seconds(now)),
            _truncate(message.last_error or message.detail or "-", LAST_ERROR_WIDTH),
        ]
        for message in messages
    ]


TABLE_HEADER = ["MESSAGE ID", "EVENT ID", "WEBHOOK", "REASON", "ATTEMPTS", "AGE", "LAST ERROR"]


def format_table(messages: Sequence[DeadLetterMessage], now: datetime) -> str:
    rows = [TABLE_HEADER, *table_rows(messages, now)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def json_row(message: DeadLetterMessage, now: datetime) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "event_id": message.event_id,
        "webhook_id": message.webhook_id,
        "reason": message.reason,
        "detail": message.detail,
        "attempts": message.attempts,
        "age_seconds": message.age_seconds(now),
        "last_error": message.last_error,
        "replayable": message.replayable,
        "sent_at": utc_timestamp(message.sent_at) if message.sent_at else None,
    }


def pretty_document(message: DeadLetterMessage) -> str:
    if message.document is None:
        return message.body
    # Exact numbers (Decimal) are shown as their digits, in quotes: this is for reading only.
    return json.dumps(message.document, indent=2, ensure_ascii=False, default=str)
