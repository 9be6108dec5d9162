"""Process-wide settings and configuration, read once on first use and resettable in tests."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.config_loader import load_config
from chalicelib.errors import ConfigError
from chalicelib.webhook_config import RelayConfig

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


_lock = threading.Lock()
_settings: Settings | None = None
_config: RelayConfig | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_environ(os.environ)
    return _settings


def get_relay_config() -> RelayConfig:
    """The webhooks.json in force; a broken file raises ConfigError on every call until fixed."""
    global _config
    if _config is None:
        with _lock:
            if _config is None:
                _config = load_config(get_settings().webhooks_config)
    return _config


def reset_runtime() -> None:
    """Forget settings and configuration so the next call reads the environment again."""
    global _settings, _config
    with _lock:
        _settings = None
        _config = None
