"""JSON numbers kept as they were sent: a sender's `0.10000000000000000555` or `1e-400` is
not what a float holds (0.1, 0.0), and a consumer re-reading the payload must see the same
value. Parsing keeps such a number as a Decimal; encoding writes a Decimal back as its digits.

Most numbers are unaffected and stay floats: a Decimal costs only where a float would
change the value, and the encoder's C fast path runs unchanged when there is none.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any


def exact_number(text: str) -> float | Decimal:
    """json.loads' parse_float: a float when writing it back gives the same value, else the
    exact Decimal of the text."""
    if len(text) < 16 and "e" not in text and "E" not in text:
        # At most 15 significant digits and no exponent (so far from a double's limits): a
        # double holds every such decimal exactly enough for repr to give its value back
        # (DBL_DIG = 15). The common case, as cheap as a bare float() (repr costs ~0.2 us).
        return float(text)
    number = float(text)
    if repr(number) == text:
        return number
    try:
        exact = Decimal(text)
    except InvalidOperation as exc:
        # An exponent past about 10**18 fits no Decimal; json.loads reports it as bad JSON.
        raise ValueError(f"{text[:40]} has an exponent beyond any number type") from exc
    # "1.50" or "1E5" read back as 1.5 and 100000.0: the same value, written differently.
    if math.isfinite(number) and Decimal(repr(number)) == exact:
        return number
    return exact


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and dumps_exact never writes them.
    raise ValueError(f"{name} is not valid JSON")


# Made once: json.loads with options builds a decoder and its scanner per call (bench B1).
_DECODER = json.JSONDecoder(parse_float=exact_number, parse_constant=_refuse_constant)


def loads_exact(text: str | bytes) -> Any:
    """What dumps_exact wrote, numbers as exact as they were. Raises ValueError (and
    UnicodeDecodeError, a ValueError, for bytes that are no UTF-8, UTF-16 or UTF-32 text)."""
    if not isinstance(text, str):
        # What json.loads does with bytes: the encoding told from the first bytes (RFC 8259 allows
        # UTF-8, -16, -32), a surrogate escape kept as such.
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


class _HoldsDecimal(Exception):
    """The document holds a Decimal: the plain encoder cannot write it."""


def _not_serializable(value: Any) -> TypeError:
    return TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _refuse_unknown(value: Any) -> Any:
    if isinstance(value, Decimal) and value.is_finite():
        raise _HoldsDecimal
    raise _not_serializable(value)


# Made once: json.dumps with options builds an encoder per call, ~10% of encoding an
# envelope of 1 KB (bench B1). Most documents hold no Decimal and take this encoder alone.
# No cycle check (~7% of the encoding): what it encodes was parsed from JSON or built around
# it, and a cycle could only end in a RecursionError instead of a ValueError.
_PLAIN_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_refuse_unknown, check_circular=False
)


def dumps_exact(document: Any) -> str:
    """Compact JSON, non-ASCII kept as is, each Decimal written as its own digits (the C
    encoder cannot write a bare number for a type it does not know, so each Decimal goes
    through as a string holding a per-call random marker, swapped for its digits after)."""
    try:
        return _PLAIN_ENCODER.encode(document)
    except _HoldsDecimal:
        pass
    digits: list[str] = []
    marker = ""

    def mark_decimal(value: Any) -> str:
        nonlocal marker
        if not isinstance(value, Decimal) or not value.is_finite():
            raise _not_serializable(value)
        marker = marker or secrets.token_hex(16)
        digits.append(str(value))
        return f"{marker}:{len(digits) - 1}"

    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=mark_decimal)
    if not digits:
        return text
    return re.sub(f'"{marker}:([0-9]+)"', lambda match: digits[int(match.group(1))], text)
