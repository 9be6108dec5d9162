"""The drain: each retry-queue record is delivered, redriven later, or dead-lettered.

Records are handled one by one, so one bad record never makes the good ones run again. A
record is reported as a batch item failure only when it could be neither delivered nor put
back on a queue: SQS then redelivers that record alone after its visibility timeout.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.config.model import WebhookConfig
from chalicelib.config.settings import get_relay_config
from chalicelib.delivery.counters import count_dead_letter
from chalicelib.delivery.deliver import deliver, delivered_before
from chalicelib.delivery.redis_script import DeliveryOutcome
from chalicelib.envelope import utc_timestamp
from chalicelib.errors import (
    ClaimCheckInvalid,
    ConfigError,
    DeliveryError,
    DeliveryRefused,
    DestinationUnavailable,
    QueueUnavailable,
)
from chalicelib.queue.claim_check import claimed_envelope, release
from chalicelib.queue.dead_letter import DeadLetter, DeadLetterInfo, DeadLetterReason, send_to_dead_letter_queue
from chalicelib.queue.message import (
    LAST_ERROR_LIMIT,
    MalformedMessage,
    QueueMessage,
    decode_queue_message,
    encode_queue_message,
    parse_timestamp,
)
from chalicelib.queue.redrive_schedule import SQS_MAX_DELAY_SECONDS, redrive_delay
from chalicelib.queue.sqs import retry_queue_url, send
from chalicelib.structured_log import log_event

# A DLQ message must fit the smallest queue limit (256 KiB) too: JSON escaping can grow a
# character to six bytes (\u0001), so a poison body is kept only up to this many characters.
POISON_BODY_LIMIT = 40_000


class DrainOutcome(enum.Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    REDRIVEN = "redriven"
    HOPPED = "hopped"
    DEAD_LETTERED = "dead_lettered"
    FAILED = "failed"


@dataclass(frozen=True)
class DrainRecord:
    message_id: str
    body: str


@dataclass(frozen=True)
class DrainReport:
    outcomes: dict[str, DrainOutcome]

    @property
    def failed_message_ids(self) -> list[str]:
        return [message_id for message_id, outcome in self.outcomes.items() if outcome is DrainOutcome.FAILED]

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed_message_ids]}


class RecordDrain:
    """One record's handling at one moment: deliver it, send it back later, or dead-letter it."""

    def __init__(self, record: DrainRecord, now: datetime, rng: random.Random | None = None):
        self.record = record
        self.now = now
        self.rng = rng

    def run(self) -> DrainOutcome:
        """Raises QueueUnavailable when the record could not be put anywhere, ConfigError when
        the configuration cannot be read (both: leave the record to SQS)."""
        message = self.read()
        if message is None:
            return DrainOutcome.DEAD_LETTERED
        webhook_id = message["envelope"]["webhook_id"]
        webhook = get_relay_config().webhook(webhook_id)
        if webhook is None:
            return self.dead_letter("poison", f"webhook {webhook_id!r} is not configured", message)
        # Age first: a not_before beyond max_age (written by hand, or by a schedule longer than
        # the event may live) must not hop every 900 s for ever.
        age = self.age_seconds(message)
        if age is not None and age > webhook.retry.max_age_seconds:
            return self.expire(message, webhook, age)
        if self.hop_if_early(message):
            return DrainOutcome.HOPPED
        try:
            redrive = message["redrive"]
            outcome = deliver(
                message["envelope"], webhook.redis, webhook.inline, redrives=redrive["attempts"] + redrive["waits"]
            )
        except (DestinationUnavailable, DeliveryRefused) as exc:
            return self.redrive(message, webhook, exc)
        drained = DrainOutcome.DUPLICATE if outcome is DeliveryOutcome.DUPLICATE else DrainOutcome.DELIVERED
        return self.done(drained, message, age)

    def read(self) -> QueueMessage | None:
        """The record's message with its envelope (a claim-checked one's fetched from S3); None
        when it is poison, and dead-lettered. Raises ClaimCheckUnavailable (S3 down, a
        QueueUnavailable: the record stays with SQS)."""
        try:
            message = decode_queue_message(self.record.body)
        except MalformedMessage as exc:
            self.dead_letter("poison", f"not a Spillway queue message: {exc}", None)
            return None
        if "claim_check" in message:
            try:
                message["envelope"] = claimed_envelope(message["claim_check"])
            except ClaimCheckInvalid as exc:
                self.dead_letter("poison", str(exc), message)
                return None
        return message

    def expire(self, message: QueueMessage, webhook: WebhookConfig, age: float) -> DrainOutcome:
        """Too old to deliver, unless another copy was delivered already (an inline try that
        Redis ran after the door gave up on it, SQS handing a message out twice): that one
        is a duplicate, not an expired event."""
        detail = f"older than max_age_seconds ({webhook.retry.max_age_seconds} s)"
        try:
            if delivered_before(message["envelope"], webhook.redis, webhook.inline):
                return self.done(DrainOutcome.DUPLICATE, message, age)
        except DeliveryError as exc:
            detail += f"; not known whether another copy was delivered: {exc}"[:LAST_ERROR_LIMIT]
        return self.dead_letter("expired", detail, message, webhook)

    def done(self, drained: DrainOutcome, message: QueueMessage, age: float | None) -> DrainOutcome:
        webhook_id = message["envelope"]["webhook_id"]
        if "claim_check" in message:
            # Only now, with the event in Redis: a redrive or a dead letter keeps the object.
            release(message["claim_check"])
        log_event(
            "duplicate" if drained is DrainOutcome.DUPLICATE else "delivered_from_queue",
            metrics={"Duplicates" if drained is DrainOutcome.DUPLICATE else "DeliveredFromQueue": 1},
            message_id=self.record.message_id,
            webhook_id=webhook_id,
            event_id=message["envelope"]["id"],
            attempts=message["redrive"]["attempts"],
            waits=message["redrive"]["waits"],
            age_seconds=age,
        )
        return drained

    def age_seconds(self, message: QueueMessage) -> float | None:
        """Time since the event was queued: a replay from the dead-letter queue starts it again."""
        try:
            return (self.now - parse_timestamp(message["redrive"]["first_failed_at"])).total_seconds()
        except (TypeError, ValueError):
            return None

    def hop_if_early(self, message: QueueMessage) -> bool:
        not_before = message["redrive"].get("not_before")
        if not not_before:
            return False
        remaining = (parse_timestamp(not_before) - self.now).total_seconds()
        if remaining <= 1:
            return False
        self.send_back(message, remaining, keep_target=True)
        return True

    def send_back(self, message: QueueMessage, delay: float, keep_target: bool = False) -> None:
        """SQS delays at most 900 s: a longer wait goes as hops that carry not_before."""
        if delay > SQS_MAX_DELAY_SECONDS:
            if not keep_target:
                message["redrive"]["not_before"] = utc_timestamp(self.now + timedelta(seconds=delay))
            delay = SQS_MAX_DELAY_SECONDS
        else:
            message["redrive"]["not_before"] = None
        send(retry_queue_url(), encode_queue_message(message), math.ceil(delay))

    def redrive(self, message: QueueMessage, webhook: WebhookConfig, error: Exception) -> DrainOutcome:
        redrive = message["redrive"]
        redrive["last_error"] = str(error)[:LAST_ERROR_LIMIT]
        if isinstance(error, DestinationUnavailable):
            # Redis could not be reached: waiting is not the event's fault, so it costs no attempt.
            redrive["waits"] += 1
        else:
            redrive["attempts"] += 1
            if redrive["attempts"] >= webhook.retry.max_attempts:
                return self.dead_letter("exhausted", f"Redis refused it {redrive['attempts']} times", message, webhook)
        delay = redrive_delay(webhook.retry, redrive["attempts"] + redrive["waits"], self.rng)
        self.send_back(message, delay)
        log_event(
            "redriven",
            metrics={"Redriven": 1},
            message_id=self.record.message_id,
            webhook_id=webhook.webhook_id,
            event_id=message["envelope"]["id"],
            attempts=redrive["attempts"],
            waits=redrive["waits"],
            delay_seconds=delay,
            error=redrive["last_error"],
        )
        return DrainOutcome.REDRIVEN

    def dead_letter(
        self,
        reason: DeadLetterReason,
        detail: str,
        message: QueueMessage | None,
        webhook: WebhookConfig | None = None,
    ) -> DrainOutcome:
        redrive = message["redrive"] if message else None
        # A claim-checked message whose object is missing or changed has no envelope, only its pointer.
        envelope = message.get("envelope") if message else None
        claim_check = message.get("claim_check") if message else None
        info = DeadLetterInfo(
            reason=reason,
            detail=detail[:LAST_ERROR_LIMIT],
            webhook_id=envelope["webhook_id"] if envelope else claim_check["webhook_id"] if claim_check else None,
            event_id=envelope["id"] if envelope else claim_check["event_id"] if claim_check else None,
            attempts=redrive["attempts"] if redrive else 0,
            age_seconds=self.age_seconds(message) if message else None,
            last_error=redrive["last_error"] if redrive else "",
            dead_lettered_at=utc_timestamp(self.now),
            source_message_id=self.record.message_id,
        )
        raw_body = None if message else self.record.body[:POISON_BODY_LIMIT]
        letter = DeadLetter(envelope=envelope, redrive=redrive, dead_letter=info, raw_body=raw_body)
        if claim_check is not None:
            # The letter keeps the pointer, and the object stays for a replay or a purge.
            letter["claim_check"] = claim_check
        send_to_dead_letter_queue(letter)
        metrics = {"DeadLettered": 1} if info["webhook_id"] and webhook is not None else None
        log_event("dead_lettered", level=logging.WARNING, metrics=metrics, message_id=self.record.message_id, **info)
        if webhook is not None and redrive is not None:
            count_dead_letter(webhook, redrive["attempts"] + redrive["waits"])
        return DrainOutcome.DEAD_LETTERED


def drain_record(record: DrainRecord, now: datetime, rng: random.Random | None = None) -> DrainOutcome:
    """Raises QueueUnavailable or ConfigError: leave the record to SQS."""
    drain = RecordDrain(record, now, rng)
    try:
        return drain.run()
    except (QueueUnavailable, ConfigError):
        raise
    except Exception as exc:
        # Anything else comes from the record itself (text Redis or boto3 cannot encode, a value
        # no check foresaw): it would fail the same way every time, and must not fail the batch.
        # The letter keeps the body as SQS handed it over, which SQS can carry again.
        return drain.dead_letter("poison", f"could not be handled: {type(exc).__name__}: {exc}", None)


def drain_batch(
    records: Iterable[DrainRecord], now: datetime | None = None, rng: random.Random | None = None
) -> DrainReport:
    outcomes: dict[str, DrainOutcome] = {}
    for record in records:
        moment = now or datetime.now(UTC)
        try:
            outcomes[record.message_id] = drain_record(record, moment, rng)
        except Exception as exc:
            # QueueUnavailable, ConfigError, or a poison record whose dead letter failed too: only
            # this record is left to SQS (its redrive policy moves it on after maxReceiveCount).
            log_event(
                "drain_failed", level=logging.ERROR, message_id=record.message_id, error=f"{type(exc).__name__}: {exc}"
            )
            outcomes[record.message_id] = DrainOutcome.FAILED
    return DrainReport(outcomes)
