"""Whether a dead letter can still be replayed safely: its idempotency marker must outlive the copy.

A dead letter's event may have been delivered already (by another copy: an inline try Redis ran
after the door spilled, SQS handing a message out twice). The marker set then is what makes the
replayed copy a duplicate instead of a second publish. It was set at the earliest when the event
arrived, and lasts the webhook's redis.idempotency_ttl_seconds; the replayed copy may wait up to
retry.max_age_seconds on the retry queue before it is delivered. When those two no longer fit,
replay skips the letter unless told --force.

A claim-checked letter's envelope waits in the bucket, whose lifecycle rule deletes it
EXPIRATION_DAYS after the spill (operations/claim_check_bucket.py): a replayed pointer must be
delivered before then, or the drain finds no object and the event is lost as poison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.config.loader import load_config
from chalicelib.config.model import DEFAULT_MAX_AGE_SECONDS, RelayConfig, default_idempotency_ttl
from chalicelib.errors import ConfigError
from operations.claim_check_bucket import EXPIRATION_DAYS, SECONDS_PER_DAY
from operations.dead_letter_messages import DeadLetterMessage
from operations.dead_letter_report import format_age


@dataclass(frozen=True)
class MarkerLifetimes:
    """Each webhook's marker TTL and max_age from webhooks.json; the defaults for a webhook it
    does not name, or when it cannot be read (`note` says why)."""

    config: RelayConfig | None = None
    note: str | None = None

    @classmethod
    def load(cls, path: str, environ: Mapping[str, str]) -> MarkerLifetimes:
        try:
            return cls(load_config(path, environ))
        except ConfigError as exc:
            return cls(None, f"note: {exc}; assuming the default marker TTL and max_age_seconds for every webhook")

    def settings(self, webhook_id: str | None) -> tuple[int, int]:
        """(redis.idempotency_ttl_seconds, retry.max_age_seconds) of this webhook."""
        webhook = self.config.webhook(webhook_id) if self.config is not None and webhook_id else None
        if webhook is None:
            return default_idempotency_ttl(DEFAULT_MAX_AGE_SECONDS), DEFAULT_MAX_AGE_SECONDS
        return webhook.redis.idempotency_ttl_seconds, webhook.retry.max_age_seconds

    def replay_risk(self, message: DeadLetterMessage, now: datetime) -> str | None:
        """Why a replayed copy of this letter could be published twice, or None when it cannot."""
        if message.received_at is None:
            return "when it arrived is unknown, so its idempotency marker may have expired"
        ttl, max_age = self.settings(message.webhook_id)
        age = max(0.0, (now - message.received_at).total_seconds())
        # The object was put after the event arrived: timed from received_at, it is gone no earlier.
        object_lifetime = EXPIRATION_DAYS * SECONDS_PER_DAY
        if message.claim_check is not None and age + max_age > object_lifetime:
            return (
                f"it arrived {format_age(age)} ago; its envelope's object in s3://{message.claim_check['bucket']} "
                f"expires {EXPIRATION_DAYS} days after the spill and a replayed copy may wait "
                f"retry.max_age_seconds ({max_age} s), so the object may be gone when the copy is delivered"
            )
        if age + max_age <= ttl:
            return None
        return (
            f"it arrived {format_age(age)} ago; its idempotency marker lasts redis.idempotency_ttl_seconds "
            f"({ttl} s) and a replayed copy may wait retry.max_age_seconds ({max_age} s), so the marker may be "
            "gone when the copy is delivered and it could be published twice"
        )
