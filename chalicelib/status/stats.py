"""GET /stats: each webhook's counters and the queues' depths, for the admin token only."""

from __future__ import annotations

from typing import Any

from chalicelib.config.settings import get_relay_config, get_settings
from chalicelib.delivery.counters import read_counters
from chalicelib.door.answers import Answer, error_answer
from chalicelib.errors import ConfigError, DestinationUnavailable
from chalicelib.status.admin_token import is_admin
from chalicelib.status.health import config_invalid_answer, queue_probes


def queue_depths() -> dict[str, Any]:
    return {probe.name: probe.run().details for probe in queue_probes(get_settings())}


def _webhook_stats(webhook_id: str) -> dict[str, Any]:
    webhook = get_relay_config().webhooks[webhook_id]
    try:
        return dict(read_counters(webhook))
    except DestinationUnavailable as exc:
        return {"error": str(exc)}


def stats_answer(authorization: str | None) -> Answer:
    if not get_settings().admin_token:
        return error_answer(403, "stats_disabled", "set ADMIN_TOKEN to enable /stats")
    if not is_admin(authorization):
        return error_answer(401, "invalid_credentials", "/stats needs Authorization: Bearer <ADMIN_TOKEN>")
    try:
        config = get_relay_config()
    except ConfigError as exc:
        return config_invalid_answer(exc)
    return Answer(
        200,
        {
            "webhooks": {webhook_id: _webhook_stats(webhook_id) for webhook_id in config.webhooks},
            "queues": queue_depths(),
        },
    )
