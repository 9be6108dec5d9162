"""Process-wide settings and configuration, read once on first use and resettable in tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.config.loader import load_config
from chalicelib.config.model import RelayConfig
from chalicelib.errors import ConfigError
from chalicelib.process_state import ProcessCache
from chalicelib.structured_log import log_event

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEBHOOKS_CONFIG_NAME = "webhooks.json"
# Lambda receives only app.py, chalicelib/, vendor/ and requirements.txt: `make package` and
# `make deploy` copy the project's webhooks.json to this path (gitignored) so that it ships.
BUNDLED_WEBHOOKS_CONFIG = os.path.join("chalicelib", WEBHOOKS_CONFIG_NAME)


def default_webhooks_config(project_root: str = PROJECT_ROOT) -> str:
    """webhooks.json beside app.py; else the copy bundled into chalicelib/ (as on Lambda). When
    neither exists, the first, so that the error names the file a developer expects."""
    beside_app = os.path.join(project_root, WEBHOOKS_CONFIG_NAME)
    bundled = os.path.join(project_root, BUNDLED_WEBHOOKS_CONFIG)
    if not os.path.exists(beside_app) and os.path.exists(bundled):
        return bundled
    return beside_app


@dataclass(frozen=True)
class Settings:
    webhooks_config: str
    retry_queue_name: str
    retry_queue_url: str | None
    dead_letter_queue_name: str
    dead_letter_queue_url: str | None
    retry_after_seconds: int
    report_batch_item_failures: bool
    aws_region: str
    admin_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        retry_after = environ.get("RETRY_AFTER_SECONDS", "30")
        if not retry_after.isdigit():
            raise ConfigError(
                "environment", None, "RETRY_AFTER_SECONDS", f"must be a whole number, got {retry_after!r}"
            )
        return cls(
            webhooks_config=environ.get("WEBHOOKS_CONFIG") or default_webhooks_config(),
            retry_queue_name=environ.get("RETRY_QUEUE_NAME") or "spillway-retry",
            retry_queue_url=environ.get("RETRY_QUEUE_URL") or None,
            dead_letter_queue_name=environ.get("DEAD_LETTER_QUEUE_NAME") or "spillway-dead-letter",
            dead_letter_queue_url=environ.get("DEAD_LETTER_QUEUE_URL") or None,
            retry_after_seconds=int(retry_after),
            report_batch_item_failures=environ.get("REPORT_BATCH_ITEM_FAILURES", "false").lower()
            in ("1", "true", "yes"),
            aws_region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            admin_token=environ.get("ADMIN_TOKEN") or None,
        )


_settings: ProcessCache[str, Settings] = ProcessCache("settings")
_configs: ProcessCache[str, RelayConfig] = ProcessCache("relay config")


def get_settings() -> Settings:
    return _settings.get("environ", lambda _: Settings.from_environ(os.environ))


def get_relay_config() -> RelayConfig:
    """The webhooks.json in force; a broken file raises ConfigError on every call until fixed."""
    return _configs.get(get_settings().webhooks_config, load_config)


def validate_config_at_load() -> None:
    """Logs a broken configuration at cold start instead of failing the import: `chalice
    package` imports app.py on a build machine that has none of the stage's variables."""
    try:
        config = get_relay_config()
    except ConfigError as exc:
        log_event("config_invalid", level=logging.ERROR, error=str(exc))
        return
    log_event("config_loaded", path=config.path, webhooks=sorted(config.webhooks))
