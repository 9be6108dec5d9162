"""What the door says back: a status, a JSON body, and headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_answer(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers or {})


def unavailable_answer(message: str, retry_after_seconds: int) -> Answer:
    return error_answer(503, "unavailable", message, {"Retry-After": str(retry_after_seconds)})
