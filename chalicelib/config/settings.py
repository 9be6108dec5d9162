"""Process-wide settings and configuration: read on first use, kept (a configuration read from
SSM or Secrets Manager is read again every SECRETS_REFRESH_SECONDS), resettable in tests."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import NamedTuple

from chalicelib.config import declarations as declared
from chalicelib.config.fields import FieldBlock
from chalicelib.config.loader import load_config
from chalicelib.config.message_size import SQS_DEFAULT_MESSAGE_BYTES, queue_max_message_bytes
from chalicelib.config.model import RelayConfig
from chalicelib.errors import ConfigError
from chalicelib.process_state import ProcessCache, clock
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


# A NamedTuple, not a frozen dataclass: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5).
class Settings(NamedTuple):
    """The stage's environment variables, read and checked."""

    webhooks_config: str
    retry_queue_name: str
    retry_queue_url: str | None
    dead_letter_queue_name: str
    dead_letter_queue_url: str | None
    retry_after_seconds: int
    report_batch_item_failures: bool
    aws_region: str
    # The largest queue message the door may count on: at most the queues' MaximumMessageSize.
    queue_max_message_bytes: int = SQS_DEFAULT_MESSAGE_BYTES
    # The claim check's S3 bucket; None: an event too large for a queue message is refused (413).
    large_payload_bucket: str | None = None
    secrets_refresh_seconds: int = declared.ENV_SECRETS_REFRESH_SECONDS.default
    admin_token: str | None = None

    def __repr__(self) -> str:
        # The admin token never reaches a log.
        shown = ", ".join(f"{name}={value!r}" for name, value in self._asdict().items() if name != "admin_token")
        return f"Settings({shown})"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Raises ConfigError naming the variable."""
        variables = FieldBlock.environment(environ, declared.ENVIRONMENT.names())
        return cls(
            webhooks_config=variables.read(declared.ENV_WEBHOOKS_CONFIG) or default_webhooks_config(),
            retry_queue_name=variables.read(declared.ENV_RETRY_QUEUE_NAME),
            retry_queue_url=variables.read(declared.ENV_RETRY_QUEUE_URL),
            dead_letter_queue_name=variables.read(declared.ENV_DEAD_LETTER_QUEUE_NAME),
            dead_letter_queue_url=variables.read(declared.ENV_DEAD_LETTER_QUEUE_URL),
            retry_after_seconds=variables.read(declared.ENV_RETRY_AFTER_SECONDS),
            # Lenient on purpose: anything but a yes is false, the setting that loses nothing
            # (a failed record fails its whole batch, which runs again).
            report_batch_item_failures=(environ.get(declared.ENV_REPORT_BATCH_ITEM_FAILURES.name) or "").lower()
            in ("1", "true", "yes"),
            aws_region=variables.read(
                declared.ENV_AWS_REGION, default=environ.get("AWS_DEFAULT_REGION") or declared.ENV_AWS_REGION.default
            ),
            queue_max_message_bytes=queue_max_message_bytes(environ),
            large_payload_bucket=variables.read(declared.ENV_LARGE_PAYLOAD_BUCKET),
            secrets_refresh_seconds=variables.read(declared.ENV_SECRETS_REFRESH_SECONDS),
            admin_token=variables.read(declared.ENV_ADMIN_TOKEN),
        )


class ConfigInForce:
    """One WEBHOOKS_CONFIG's configuration. One read from SSM or Secrets Manager is read again
    every `refresh_seconds`, so a rotated secret or an edited parameter takes effect without a
    deploy; a configuration read only from a file and the environment is kept for good.

    A failed refresh keeps the last good configuration and logs why: an AWS outage, or a bad edit
    of a parameter, must not turn accepted webhooks into 503s. It is tried again a period later."""

    def __init__(self, config: RelayConfig, reload: Callable[[], RelayConfig], refresh_seconds: int):
        self._config = config
        self._reload = reload
        self._refresh_seconds = refresh_seconds
        self._refresh_at = self._next_refresh(config)
        self._refreshing = threading.Lock()

    def _next_refresh(self, config: RelayConfig) -> float | None:
        return clock() + self._refresh_seconds if config.read_from_aws else None

    def current(self) -> RelayConfig:
        if self._refresh_at is None or clock() < self._refresh_at:
            return self._config
        # One thread reads AWS; the others go on with the configuration they have.
        if not self._refreshing.acquire(blocking=False):
            return self._config
        try:
            try:
                self._config = self._reload()
            except Exception as exc:
                # Not only ConfigError: whatever a bad edit or a broken answer raises, the
                # configuration in force stays, and no webhook answers 500 for it.
                log_event("config_refresh_failed", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")
                self._refresh_at = clock() + self._refresh_seconds
            else:
                self._refresh_at = self._next_refresh(self._config)
        finally:
            self._refreshing.release()
        return self._config


_settings: ProcessCache[str, Settings] = ProcessCache("settings")
_configs: ProcessCache[str, ConfigInForce] = ProcessCache("relay config")


def get_settings() -> Settings:
    return _settings.get("environ", lambda _: Settings.from_environ(os.environ))


def _load_in_force(path: str) -> ConfigInForce:
    settings = get_settings()

    def load() -> RelayConfig:
        return load_config(path, aws_region=settings.aws_region)

    return ConfigInForce(load(), load, settings.secrets_refresh_seconds)


def get_relay_config() -> RelayConfig:
    """The configuration in force; a broken one raises ConfigError on every call until fixed
    (once loaded, a configuration read from AWS stays in force through failed refreshes)."""
    return _configs.get(get_settings().webhooks_config, _load_in_force).current()


def validate_config_at_load() -> None:
    """Logs a broken configuration at cold start instead of failing the import: `chalice
    package` imports app.py on a build machine that has none of the stage's variables."""
    try:
        config = get_relay_config()
    except ConfigError as exc:
        log_event("config_invalid", level=logging.ERROR, error=str(exc))
        return
    log_event("config_loaded", path=config.path, webhooks=sorted(config.webhooks))
