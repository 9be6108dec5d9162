"""Typed, located access to one JSON object of webhooks.json: every error says where."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from chalicelib.errors import ConfigError

# Their values never appear in an error message: it reaches logs and the /health answer.
SECRET_FIELDS = frozenset({"password", "url", "secrets", "username"})

T = TypeVar("T")
MISSING = object()


class FieldBlock:
    """Typed field access on one JSON object, raising ConfigError that says where."""

    def __init__(self, raw: Mapping[str, Any], path: str, webhook_id: str | None, prefix: str):
        self.raw = raw
        self.path = path
        self.webhook_id = webhook_id
        self.prefix = prefix

    def field_name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str | None, problem: str) -> ConfigError:
        field = self.prefix.rstrip(".") if key is None else self.field_name(key)
        return ConfigError(self.path, self.webhook_id, field or None, problem)

    def reject_unknown(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.raw) - allowed)
        if unknown:
            raise self.error(unknown[0], f"unknown field; allowed: {', '.join(sorted(allowed))}")

    def block(self, key: str, required: bool = False) -> FieldBlock:
        value = self.raw.get(key, MISSING)
        if value is MISSING:
            if required:
                raise self.error(key, "is required")
            value = {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be an object, got {type(value).__name__}")
        return FieldBlock(value, self.path, self.webhook_id, self.field_name(key) + ".")

    def get(self, key: str, convert: Callable[[Any], T], kind: str, default: Any = MISSING) -> T:
        value = self.raw.get(key, MISSING)
        if value is MISSING or value is None:
            if default is MISSING:
                raise self.error(key, "is required")
            return cast(T, default)
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            shown = "a value that is not shown" if key in SECRET_FIELDS else repr(value)
            raise self.error(key, f"must be {kind}, got {shown}") from exc

    def string(self, key: str, default: Any = MISSING) -> str:
        return self.get(key, as_string, "a non-empty string", default)

    def optional_string(self, key: str) -> str | None:
        return self.get(key, as_string, "a non-empty string", None)

    def integer(self, key: str, default: Any = MISSING, minimum: int = 0, maximum: int | None = None) -> int:
        value: int = self.get(key, as_int, "a whole number", default)
        self._check_range(key, value, minimum, maximum)
        return value

    def optional_integer(self, key: str, minimum: int = 0) -> int | None:
        value: int | None = self.get(key, as_int, "a whole number", None)
        if value is not None:
            self._check_range(key, value, minimum, None)
        return value

    def number(self, key: str, default: Any = MISSING, minimum: float = 0.0, maximum: float | None = None) -> float:
        value: float = self.get(key, as_float, "a number", default)
        self._check_range(key, value, minimum, maximum)
        return value

    def boolean(self, key: str, default: Any = MISSING) -> bool:
        return self.get(key, as_bool, "true or false", default)

    def string_list(self, key: str, required: bool = False) -> tuple[str, ...]:
        """A list of non-empty strings; a single string is taken as a list of one."""
        value = self.raw.get(key, MISSING)
        if value is MISSING or value is None:
            if required:
                raise self.error(key, "is required")
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise self.error(key, "must be a non-empty list of strings")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise ConfigError(
                    self.path, self.webhook_id, f"{self.field_name(key)}[{index}]", "must be a non-empty string"
                )
        return tuple(items)

    def is_present(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def _check_range(self, key: str, value: float, minimum: float, maximum: float | None) -> None:
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")


def as_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def as_int(value: Any) -> int:
    # "${REDIS_PORT:-6379}" arrives as a string; JSON numbers arrive as int.
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError
    # NaN passes every range check (all its comparisons are false).
    if not math.isfinite(number):
        raise ValueError
    return number


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError
