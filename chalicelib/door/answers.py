"""What the door says back: a status, a JSON body, and headers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


# A NamedTuple, not a frozen dataclass: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5).
class Answer(NamedTuple):
    """One HTTP answer, before Chalice's Response wraps it."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = NO_HEADERS


def error_answer(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message}}, headers or {})


def unavailable_answer(message: str, retry_after_seconds: int) -> Answer:
    return error_answer(503, "unavailable", message, {"Retry-After": str(retry_after_seconds)})
