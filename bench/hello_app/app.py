"""B5's baseline: the smallest Chalice app that imports redis, with the webhook route's shape."""

from __future__ import annotations

import redis  # noqa: F401 - imported for its cost, as Spillway imports it
from chalice.app import Chalice

app = Chalice(app_name="hello")


@app.route("/webhook/{webhook_id}", methods=["POST"], content_types=["*/*"])
def webhook(webhook_id: str) -> dict[str, str]:
    return {"hello": webhook_id}
