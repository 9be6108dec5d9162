"""What runs when the function loads: validate webhooks.json early and say what is wrong."""

from __future__ import annotations

import logging

from chalicelib.errors import ConfigError
from chalicelib.runtime import get_relay_config
from chalicelib.structured_log import log_event


def validate_config_at_load() -> None:
    """Logs a broken configuration at cold start instead of failing the import: `chalice
    package` imports app.py on a build machine that has none of the stage's variables."""
    try:
        config = get_relay_config()
    except ConfigError as exc:
        log_event("config_invalid", level=logging.ERROR, error=str(exc))
        return
    log_event("config_loaded", path=config.path, webhooks=sorted(config.webhooks))
