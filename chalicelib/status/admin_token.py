"""Who may read the relay's internals (GET /stats, GET /health?deep=1): the bearer of ADMIN_TOKEN."""

from __future__ import annotations

import hmac

from chalicelib.config.settings import get_settings


def is_admin(authorization: str | None) -> bool:
    """`Authorization: Bearer <ADMIN_TOKEN>`; never true while ADMIN_TOKEN is unset."""
    token = get_settings().admin_token
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())
