"""The drain: each retry-queue record is delivered, redriven later, or dead-lettered.

Records are decided one by one, so one bad record never makes the good ones run again. What a
record sends on (a redrive, a hop, a dead letter) goes out with the batch's others in
SendMessageBatch requests, up to 10 messages each, instead of one SendMessage per record: an
outage drains a backlog at about a tenth of the requests. A record is reported as a batch item
failure only when it could be neither delivered nor put on a queue (its entry, or its whole
request, failed): SQS then redelivers that record alone after its visibility timeout.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import random
from collections.abc import Callable, Iterable
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
    ClaimCheckMissing,
    ConfigError,
    DeliveryError,
    DeliveryRefused,
    DestinationUnavailable,
    QueueUnavailable,
)
from chalicelib.queue.claim_check import claimed_envelope, release
from chalicelib.queue.dead_letter import DeadLetter, DeadLetterInfo, DeadLetterReason, dead_letter_message
from chalicelib.queue.message import (
    LAST_ERROR_LIMIT,
    MalformedMessage,
    QueueMessage,
    decode_queue_message,
    encode_queue_message,
    parse_timestamp,
)
from chalicelib.queue.redrive_schedule import SQS_MAX_DELAY_SECONDS, redrive_delay
from chalicelib.queue.sqs import OutgoingMessage, retry_queue_url, send_messages
from chalicelib.structured_log import log_event

# A DLQ message must fit the smallest queue limit (256 KiB) too: JSON escaping can grow a
# character to six bytes (\u0001), so a poison body is kept only up to this many characters.
POISON_BODY_LIMIT = 40_000


def event_identity(message: QueueMessage) -> tuple[str, str]:
    """(webhook_id, event_id): a claim-checked message's from its pointer, so that expiring or
    hopping it needs no object from S3 (claimed_envelope checks they are the envelope's)."""
    pointer = message.get("claim_check")
    if pointer is not None:
        return pointer["webhook_id"], pointer["event_id"]
    return message["envelope"]["webhook_id"], message["envelope"]["id"]


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
class RecordDecision:
    """What a record comes to. With an outgoing message, the outcome holds only once SQS has
    accepted that message; after_send then does what must follow the send, never precede it
    (the log line and the counters that say the record was redriven or dead-lettered)."""

    outcome: DrainOutcome
    outgoing: OutgoingMessage | None = None
    after_send: Callable[[], None] | None = None


@dataclass(frozen=True)
class DrainReport:
    outcomes: dict[str, DrainOutcome]

    @property
    def failed_message_ids(self) -> list[str]:
        return [message_id for message_id, outcome in self.outcomes.items() if outcome is DrainOutcome.FAILED]

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed_message_ids]}


class RecordDrain:
    """One record's handling at one moment: deliver it, or decide to send it back later or to
    dead-letter it (drain_batch sends what the batch's records decided)."""

    def __init__(self, record: DrainRecord, now: datetime, rng: random.Random | None = None):
        self.record = record
        self.now = now
        self.rng = rng
        # Once decoded: a record that fails later keeps its envelope in its dead letter.
        self.message: QueueMessage | None = None

    def run(self) -> RecordDecision:
        """Raises QueueUnavailable when a queue's URL or a claim-checked envelope cannot be
        fetched, ConfigError when the configuration cannot be read (both: leave the record to SQS)."""
        message = self.read()
        if isinstance(message, RecordDecision):
            return message
        webhook_id, _ = event_identity(message)
        webhook = get_relay_config().webhook(webhook_id)
        if webhook is None:
            return self.dead_letter("poison", f"webhook {webhook_id!r} is not configured", message)
        # Age first: a not_before beyond max_age (written by hand, or by a schedule longer than
        # the event may live) must not hop every 900 s for ever.
        age = self.age_seconds(message)
        if age is not None and age > webhook.retry.max_age_seconds:
            return self.expire(message, webhook, age)
        hop = self.hop_if_early(message)
        if hop is not None:
            return RecordDecision(DrainOutcome.HOPPED, hop)
        # Only now, right before the delivery: expiring or hopping needs no object from S3.
        return self.claim(message, webhook, age) or self.deliver(message, webhook, age)

    def deliver(self, message: QueueMessage, webhook: WebhookConfig, age: float | None) -> RecordDecision:
        try:
            redrive = message["redrive"]
            outcome = deliver(
                message["envelope"], webhook.redis, webhook.inline, redrives=redrive["attempts"] + redrive["waits"]
            )
        except (DestinationUnavailable, DeliveryRefused) as exc:
            return self.redrive(message, webhook, exc)
        drained = DrainOutcome.DUPLICATE if outcome is DeliveryOutcome.DUPLICATE else DrainOutcome.DELIVERED
        return self.done(drained, message, age)

    def read(self) -> QueueMessage | RecordDecision:
        """The record's message (a claim-checked one without its envelope, which `claim` fetches
        from S3), or, when it is poison, its dead letter."""
        try:
            message = decode_queue_message(self.record.body)
        except MalformedMessage as exc:
            return self.dead_letter("poison", f"not a Spillway queue message: {exc}", None)
        self.message = message
        return message

    def claim(self, message: QueueMessage, webhook: WebhookConfig, age: float | None) -> RecordDecision | None:
        """Fetches a claim-checked message's envelope into it; None when it has one now. An object
        that is gone was released after an earlier copy of this message was delivered (SQS hands a
        message out at least once; a batch without item failures runs again as a whole): the
        event's marker tells. Raises ClaimCheckUnavailable (S3 down, a QueueUnavailable: the
        record stays with SQS)."""
        pointer = message.get("claim_check")
        if pointer is None:
            return None
        try:
            message["envelope"] = claimed_envelope(pointer)
        except ClaimCheckMissing as exc:
            try:
                if delivered_before(pointer["webhook_id"], pointer["event_id"], webhook.redis, webhook.inline):
                    return self.done(DrainOutcome.DUPLICATE, message, age)
            except (DestinationUnavailable, DeliveryRefused) as error:
                # Not known yet whether it was delivered: asked again later (or when it expires).
                return self.redrive(message, webhook, error)
            return self.dead_letter("poison", str(exc), message)
        except ClaimCheckInvalid as exc:
            return self.dead_letter("poison", str(exc), message)
        return None

    def expire(self, message: QueueMessage, webhook: WebhookConfig, age: float) -> RecordDecision:
        """Too old to deliver, unless another copy was delivered already (an inline try that
        Redis ran after the door gave up on it, SQS handing a message out twice): that one
        is a duplicate, not an expired event."""
        detail = f"older than max_age_seconds ({webhook.retry.max_age_seconds} s)"
        try:
            if delivered_before(*event_identity(message), webhook.redis, webhook.inline):
                return self.done(DrainOutcome.DUPLICATE, message, age)
        except DeliveryError as exc:
            detail += f"; not known whether another copy was delivered: {exc}"[:LAST_ERROR_LIMIT]
        return self.dead_letter("expired", detail, message, webhook)

    def done(self, drained: DrainOutcome, message: QueueMessage, age: float | None) -> RecordDecision:
        webhook_id, event_id = event_identity(message)
        if "claim_check" in message:
            # Only now, with the event in Redis: a redrive or a dead letter keeps the object.
            release(message["claim_check"])
        log_event(
            "duplicate" if drained is DrainOutcome.DUPLICATE else "delivered_from_queue",
            metrics={"Duplicates" if drained is DrainOutcome.DUPLICATE else "DeliveredFromQueue": 1},
            message_id=self.record.message_id,
            webhook_id=webhook_id,
            event_id=event_id,
            attempts=message["redrive"]["attempts"],
            waits=message["redrive"]["waits"],
            age_seconds=age,
        )
        return RecordDecision(drained)

    def age_seconds(self, message: QueueMessage) -> float | None:
        """Time since the event was queued: a replay from the dead-letter queue starts it again."""
        try:
            return (self.now - parse_timestamp(message["redrive"]["first_failed_at"])).total_seconds()
        except (TypeError, ValueError):
            return None

    def hop_if_early(self, message: QueueMessage) -> OutgoingMessage | None:
        not_before = message["redrive"].get("not_before")
        if not not_before:
            return None
        remaining = (parse_timestamp(not_before) - self.now).total_seconds()
        if remaining <= 1:
            return None
        return self.send_back(message, remaining, keep_target=True)

    def send_back(self, message: QueueMessage, delay: float, keep_target: bool = False) -> OutgoingMessage:
        """SQS delays at most 900 s: a longer wait goes as hops that carry not_before."""
        if delay > SQS_MAX_DELAY_SECONDS:
            if not keep_target:
                message["redrive"]["not_before"] = utc_timestamp(self.now + timedelta(seconds=delay))
            delay = SQS_MAX_DELAY_SECONDS
        else:
            message["redrive"]["not_before"] = None
        return OutgoingMessage(retry_queue_url(), encode_queue_message(message), math.ceil(delay))

    def redrive(self, message: QueueMessage, webhook: WebhookConfig, error: Exception) -> RecordDecision:
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
        outgoing = self.send_back(message, delay)

        def after_send() -> None:
            log_event(
                "redriven",
                metrics={"Redriven": 1},
                message_id=self.record.message_id,
                webhook_id=webhook.webhook_id,
                event_id=event_identity(message)[1],
                attempts=redrive["attempts"],
                waits=redrive["waits"],
                delay_seconds=delay,
                error=redrive["last_error"],
            )

        return RecordDecision(DrainOutcome.REDRIVEN, outgoing, after_send)

    def dead_letter(
        self,
        reason: DeadLetterReason,
        detail: str,
        message: QueueMessage | None,
        webhook: WebhookConfig | None = None,
    ) -> RecordDecision:
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
        outgoing = dead_letter_message(letter)

        def after_send() -> None:
            metrics = {"DeadLettered": 1} if info["webhook_id"] and webhook is not None else None
            log_event(
                "dead_lettered", level=logging.WARNING, metrics=metrics, message_id=self.record.message_id, **info
            )
            if webhook is not None and redrive is not None:
                count_dead_letter(webhook, redrive["attempts"] + redrive["waits"])

        return RecordDecision(DrainOutcome.DEAD_LETTERED, outgoing, after_send)


def decide_record(record: DrainRecord, now: datetime, rng: random.Random | None = None) -> RecordDecision:
    """Raises QueueUnavailable or ConfigError: leave the record to SQS."""
    drain = RecordDrain(record, now, rng)
    try:
        return drain.run()
    except (QueueUnavailable, ConfigError):
        raise
    except Exception as exc:
        # Anything else comes from the record itself (text Redis cannot encode, a value no check
        # foresaw): it would fail the same way every time, and must not fail the batch. The
        # letter keeps the decoded message, so the event can be replayed once the cause is
        # mended; when even that cannot be encoded, the body as SQS handed it over.
        detail = f"could not be handled: {type(exc).__name__}: {exc}"
        if drain.message is not None:
            with contextlib.suppress(Exception):
                return drain.dead_letter("poison", detail, drain.message)
        return drain.dead_letter("poison", detail, None)


def drain_batch(
    records: Iterable[DrainRecord], now: datetime | None = None, rng: random.Random | None = None
) -> DrainReport:
    decided: list[tuple[DrainRecord, RecordDecision | None]] = []
    for record in records:
        moment = now or datetime.now(UTC)
        try:
            decided.append((record, decide_record(record, moment, rng)))
        except Exception as exc:
            # QueueUnavailable, ConfigError, or a poison record whose dead letter could not even
            # be written: only this record is left to SQS (its redrive policy moves it on after
            # maxReceiveCount).
            fail(record, f"{type(exc).__name__}: {exc}")
            decided.append((record, None))
    outgoing = {
        position: decision.outgoing
        for position, (_, decision) in enumerate(decided)
        if decision is not None and decision.outgoing is not None
    }
    failures = dict(zip(outgoing, send_messages(list(outgoing.values())), strict=True))
    outcomes: dict[str, DrainOutcome] = {}
    for position, (record, decision) in enumerate(decided):
        failure = failures.get(position)
        if decision is None or failure is not None:
            if failure is not None:
                fail(record, failure)
            outcomes[record.message_id] = DrainOutcome.FAILED
            continue
        if decision.after_send is not None:
            # Only now, with its message accepted: a log line or a counter never runs ahead of it.
            decision.after_send()
        outcomes[record.message_id] = decision.outcome
    return DrainReport(outcomes)


def fail(record: DrainRecord, error: str) -> None:
    """The record is left to SQS, which hands it out again after its visibility timeout: its
    message is not sent again within this invocation (one retry layer: sqs.py's, per request)."""
    log_event("drain_failed", level=logging.ERROR, message_id=record.message_id, error=error)
