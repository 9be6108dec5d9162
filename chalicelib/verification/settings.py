"""A webhook's `verify` block, validated: which scheme, which secrets, which headers."""

from __future__ import annotations

from typing import Literal, NamedTuple

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]
AUTHORIZATION = "authorization"


# A NamedTuple, not a frozen dataclass: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5).
class VerifySettings(NamedTuple):
    """No defaults here: the loader passes every field, with the defaults declared in
    chalicelib/config/declarations.py (the one place they are written)."""

    provider: str
    # Several secrets verify during a rotation: the old and the new one.
    secrets: tuple[str, ...]
    tolerance_seconds: int
    # Generic schemes (hmac, token) name their own header and encoding.
    header: str | None
    algorithm: Algorithm
    encoding: Encoding
    prefix: str
    signed_content: str
    timestamp_header: str | None
    id_header: str | None

    def __repr__(self) -> str:
        # The secrets never reach a log.
        shown = ", ".join(f"{name}={value!r}" for name, value in self._asdict().items() if name != "secrets")
        return f"VerifySettings({shown})"


def credential_header(settings: VerifySettings) -> str | None:
    """The header that carries the shared secret itself, for the schemes that send one (token,
    basic): the door never forwards it. Here, not in credentials.py, so that a webhook that
    does not use those schemes never imports their module."""
    if settings.provider == "token":
        return settings.header or AUTHORIZATION
    if settings.provider == "basic":
        return AUTHORIZATION
    return None


class InvalidSettings(ValueError):
    """A verify setting its provider cannot use. `field` is named within the verify block
    (`secrets[0]`, `algorithm`); the loader adds the file and the webhook."""

    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field = field
        self.problem = problem
