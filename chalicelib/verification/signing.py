"""HMAC over raw bytes, constant-time comparison and the replay window."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from collections.abc import Iterable

from chalicelib.errors import RejectedRequest

# ASCII digits only (str.isdigit also takes "²"), and few enough for int() to take.
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
DIGESTS = ("sha1", "sha256", "sha512")


@functools.lru_cache(maxsize=64)
def _keyed(secret: bytes, algorithm: str) -> hmac.HMAC:
    # The key schedule once per secret; each request copies it. A one-shot HMAC makes OpenSSL
    # look its digest up again per call, ~4 us of a webhook's handling (bench B1). Bounded: a
    # secret rotated out is evicted by new ones, and nothing here outlives the process.
    return hmac.new(secret, digestmod=algorithm)


def hmac_digest(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    if algorithm not in DIGESTS:
        raise ValueError(f"unsupported HMAC digest {algorithm!r}")
    keyed = _keyed(secret, algorithm).copy()
    keyed.update(message)
    return keyed.digest()


def any_digest_matches(expected: Iterable[bytes], received: Iterable[bytes]) -> bool:
    """True when one received signature equals one expected digest; every comparison is
    constant time (hmac.compare_digest), so timing says nothing about a secret."""
    candidates = list(received)
    matched = False
    for digest in expected:
        for candidate in candidates:
            matched |= hmac.compare_digest(digest, candidate)
    return matched


def decode_hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        return None


def decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def missing(header: str) -> RejectedRequest:
    return RejectedRequest(401, "missing_signature", f"the {header} header is missing or malformed")


def invalid() -> RejectedRequest:
    return RejectedRequest(401, "invalid_signature", "the signature does not match the body with any configured secret")


def check_timestamp(text: str | None, header: str, now: float, tolerance_seconds: int) -> int:
    """The sender's Unix timestamp, if within tolerance of now in either direction (a replay
    of an old request is refused, and so is a clock far ahead)."""
    if text is None or not UNIX_SECONDS.fullmatch(text.strip()):
        raise RejectedRequest(401, "missing_timestamp", f"the {header} header is missing or not a Unix timestamp")
    timestamp = int(text.strip())
    if abs(now - timestamp) > tolerance_seconds:
        raise RejectedRequest(
            401,
            "timestamp_out_of_tolerance",
            f"the {header} timestamp is more than {tolerance_seconds} s from the relay's clock",
        )
    return timestamp
