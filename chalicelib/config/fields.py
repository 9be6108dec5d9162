"""Typed, located access to one JSON object of webhooks.json: every error says where."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

from chalicelib.errors import ConfigError

# Their values never appear in an error message: it reaches logs and the /health answer.
SECRET_FIELDS = frozenset({"password", "url", "secrets", "username"})

T = TypeVar("T")
MISSING = object()

# "text" is a string that may be empty; "list of strings" takes a single string as a list of
# one; "JSON Schema" is read by its own parser.
Kind = Literal["string", "text", "whole number", "number", "boolean", "list of strings", "JSON Schema"]


# NamedTuples, not frozen dataclasses: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5). Built with keywords.
class Field(NamedTuple, Generic[T]):
    """One setting: its name, type, default, bounds and meaning, written once. The loader
    checks a value against it, the dataclasses take their defaults from it, and
    `python -m operations.config_reference` writes the reference table from it."""

    name: str
    kind: Kind
    default: T
    meaning: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    # The reference's text for the default when it follows from other settings (then the
    # loader passes it to `FieldBlock.read`) or is not a plain value.
    shown_default: str | None = None


class Block(NamedTuple):
    """A nested object of settings (`redis`, `retry`, ...), declared like a field."""

    name: str
    meaning: str
    fields: tuple[Field[Any] | Block, ...]
    required: bool = False
    # The reference's text for a block left out: by default, its own fields' defaults.
    shown_default: str = "its fields' defaults"

    def names(self) -> set[str]:
        return {entry.name for entry in self.fields}


def required_string(name: str, meaning: str, choices: tuple[str, ...] = ()) -> Field[str]:
    # A required field's default is never used: reading it without a value is an error.
    return Field(name=name, kind="string", default="", meaning=meaning, choices=choices, required=True)


def string(name: str, default: str, meaning: str, choices: tuple[str, ...] = ()) -> Field[str]:
    return Field(name=name, kind="string", default=default, meaning=meaning, choices=choices)


def optional_string(name: str, meaning: str, *, shown_default: str | None = None) -> Field[str | None]:
    return Field(name=name, kind="string", default=None, meaning=meaning, shown_default=shown_default)


def text(name: str, default: str, meaning: str) -> Field[str]:
    return Field(name=name, kind="text", default=default, meaning=meaning)


def whole_number(
    name: str,
    default: int,
    meaning: str,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    shown_default: str | None = None,
) -> Field[int]:
    return Field(
        name=name,
        kind="whole number",
        default=default,
        meaning=meaning,
        minimum=minimum,
        maximum=maximum,
        shown_default=shown_default,
    )


def optional_whole_number(
    name: str, meaning: str, *, minimum: int = 0, maximum: int | None = None, shown_default: str | None = None
) -> Field[int | None]:
    return Field(
        name=name,
        kind="whole number",
        default=None,
        meaning=meaning,
        minimum=minimum,
        maximum=maximum,
        shown_default=shown_default,
    )


def number(
    name: str, default: float, meaning: str, *, minimum: float = 0.0, maximum: float | None = None
) -> Field[float]:
    return Field(name=name, kind="number", default=default, meaning=meaning, minimum=minimum, maximum=maximum)


def boolean(name: str, default: bool, meaning: str) -> Field[bool]:
    return Field(name=name, kind="boolean", default=default, meaning=meaning)


def string_list(
    name: str, meaning: str, *, required: bool = False, shown_default: str | None = None
) -> Field[tuple[str, ...]]:
    return Field(
        name=name,
        kind="list of strings",
        default=(),
        meaning=meaning,
        required=required,
        shown_default=shown_default,
    )


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

    def section(self, declared: Block) -> FieldBlock:
        """A declared nested block, with its unknown fields refused."""
        block = self.block(declared.name, declared.required)
        block.reject_unknown(declared.names())
        return block

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

    def read(self, field: Field[T], default: Any = MISSING, maximum: float | None = None) -> T:
        """The value of a declared field, checked against its kind, bounds and choices.
        `default` and `maximum` replace the declared ones where they follow from other settings."""
        if field.kind == "list of strings":
            return cast(T, self.string_list(field.name, field.required))
        if field.kind not in CONVERSIONS:
            raise TypeError(f"{field.name} ({field.kind}) is read by its own parser")
        convert, phrase = CONVERSIONS[field.kind]
        if field.required:
            default = MISSING
        elif default is MISSING:
            default = field.default
        value: Any = self.get(field.name, convert, phrase, default)
        if value is None:
            return cast(T, value)
        if field.choices and value not in field.choices:
            raise self.error(field.name, f"must be one of {', '.join(field.choices)}, got {value!r}")
        self._check_range(field.name, value, field.minimum, field.maximum if maximum is None else maximum)
        return cast(T, value)

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

    @classmethod
    def environment(cls, environ: Mapping[str, str], names: set[str]) -> FieldBlock:
        """The stage's environment variables as a block; set but empty counts as unset."""
        present = {name: environ[name] for name in names if environ.get(name)}
        return cls(present, "environment", None, "")

    def is_present(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def _check_range(self, key: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
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


def as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError


# How each kind read by `FieldBlock.read` is converted, and how an error names it.
CONVERSIONS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "string": (as_string, "a non-empty string"),
    "text": (as_text, "a string"),
    "whole number": (as_int, "a whole number"),
    "number": (as_float, "a number"),
    "boolean": (as_bool, "true or false"),
}
