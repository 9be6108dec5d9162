"""GET /health: is the configuration loaded?"""

from __future__ import annotations

from chalicelib.answers import Answer, error_answer
from chalicelib.errors import ConfigError
from chalicelib.runtime import get_relay_config


def shallow_health() -> Answer:
    try:
        config = get_relay_config()
    except ConfigError as exc:
        return error_answer(503, "config_invalid", str(exc))
    return Answer(200, {"status": "ok", "webhooks": sorted(config.webhooks)})
