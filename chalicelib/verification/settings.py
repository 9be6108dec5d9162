"""A webhook's `verify` block, validated: which scheme, which secrets, which headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]


@dataclass(frozen=True)
class VerifySettings:
    provider: str
    # Several secrets verify during a rotation: the old and the new one.
    secrets: tuple[str, ...] = field(repr=False)
    tolerance_seconds: int = 300
    # Generic schemes (hmac, token) name their own header and encoding.
    header: str | None = None
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    signed_content: str = "{body}"
    timestamp_header: str | None = None
    id_header: str | None = None
