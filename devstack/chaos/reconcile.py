"""What arrived, against what was sent: every accepted event in the stream exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis

from devstack.chaos.senders import NO_ANSWER, SentEvent, event_payload
from operations.sqs_admin import SqsAdminError, message_count

STREAM_READ_COUNT = 1000


@dataclass
class Delivery:
    """Every copy of one event on the stream: when each was added, and whether the payload is the one sent."""

    added_at: list[float] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)


def stream_end(client: redis.Redis, stream: str) -> str:
    """The id of the stream's newest entry, "-" for an empty or missing stream."""
    newest = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrevrange(stream, count=1))
    return newest[0][0].decode() if newest else "-"


class StreamReader:
    """Reads the stream incrementally: each call fetches only entries added since the last, and
    none before `after` (a stream_end(): what was there before a run is not the run's)."""

    def __init__(self, client: redis.Redis, stream: str, after: str = "-") -> None:
        self.client = client
        self.stream = stream
        self.deliveries: dict[str, Delivery] = {}
        self._last_id = after

    def read_new(self) -> int:
        """Entries read; raises redis.RedisError while Redis is away."""
        read = 0
        while True:
            start = self._last_id if self._last_id == "-" else f"({self._last_id}"
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                self.client.xrange(self.stream, min=start, max="+", count=STREAM_READ_COUNT),
            )
            for entry_id, fields in entries:
                self._record(entry_id, fields)
                self._last_id = entry_id.decode()
            read += len(entries)
            if len(entries) < STREAM_READ_COUNT:
                return read

    def _record(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        envelope = json.loads(fields[b"event"])
        delivery = self.deliveries.setdefault(str(envelope["id"]), Delivery())
        # A stream entry id starts with the Redis server's clock in milliseconds.
        delivery.added_at.append(int(entry_id.split(b"-")[0]) / 1000)
        delivery.payloads.append(envelope.get("payload"))


@dataclass(frozen=True)
class QueueDepths:
    """Messages left in the retry queue and the dead-letter queue; None where SQS did not answer."""

    retry: int | None
    dead_letters: int | None


def queue_depth(sqs: Any, queue_url: str) -> int | None:
    """Visible, in flight and delayed messages; None when SQS does not answer."""
    try:
        return message_count(sqs, queue_url)
    except SqsAdminError:
        return None


@dataclass(frozen=True)
class Reconciliation:
    sent: int
    answered_200: int
    answered_202: int
    answers_503: int
    other_5xx: int
    answers_4xx: int
    no_answer: int
    never_accepted: int
    delivered: int
    duplicates: int
    lost: list[str]
    wrong_payload: list[str]
    strangers: int
    # None: the queues were not looked at (a stack run elsewhere, with no SQS endpoint given).
    queues: QueueDepths | None
    slowest_delivery_seconds: float
    slowest_event_id: str | None

    @property
    def dead_letters(self) -> int | None:
        return None if self.queues is None else self.queues.dead_letters

    @property
    def retry_queue_left(self) -> int | None:
        return None if self.queues is None else self.queues.retry

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and self.duplicates == 0
            and self.other_5xx == 0
            and self.answers_4xx == 0
            and not self.wrong_payload
            and self.strangers == 0
            and (self.queues is None or self.dead_letters == 0)
        )

    def summary_line(self) -> str:
        if self.queues is None:
            dead_letters = "not checked"
        else:
            dead_letters = "?" if self.dead_letters is None else str(self.dead_letters)
        return (
            f"sent {self.sent}, 200 {self.answered_200}, 202 {self.answered_202}, 503 {self.answers_503}, "
            f"delivered {self.delivered}, duplicates {self.duplicates}, lost {len(self.lost)}, "
            f"other 5xx {self.other_5xx}, 4xx {self.answers_4xx}, DLQ {dead_letters}, "
            f"{f'not sent but on the stream {self.strangers}, ' if self.strangers else ''}"
            f"slowest time-to-delivery {self.slowest_delivery_seconds:.1f} s"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "sent": self.sent,
            "answered_200": self.answered_200,
            "answered_202": self.answered_202,
            "answers_503": self.answers_503,
            "other_5xx": self.other_5xx,
            "answers_4xx": self.answers_4xx,
            "no_answer": self.no_answer,
            "never_accepted": self.never_accepted,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "lost": len(self.lost),
            "lost_event_ids": self.lost[:20],
            "wrong_payload": len(self.wrong_payload),
            "strangers": self.strangers,
            "queues_checked": self.queues is not None,
            "dead_letters": self.dead_letters,
            "retry_queue_left": self.retry_queue_left,
            "slowest_delivery_seconds": round(self.slowest_delivery_seconds, 3),
            "slowest_event_id": self.slowest_event_id,
        }


def reconcile(
    run_id: str,
    events: Sequence[SentEvent],
    deliveries: dict[str, Delivery],
    queues: QueueDepths | None,
) -> Reconciliation:
    """An accepted event (200 or 202 to any of its tries) must be on the stream once; one never
    accepted may be there (a 503 after a write that did land) but never twice."""
    sent_ids = {event.event_id for event in events}
    all_answers = [status for event in events for status in event.answers]
    slowest, slowest_id = 0.0, None
    lost, wrong_payload = [], []
    for event in events:
        delivery = deliveries.get(event.event_id)
        if delivery is None:
            if event.accepted:
                lost.append(event.event_id)
            continue
        if any(payload != event_payload(run_id, event.sequence) for payload in delivery.payloads):
            wrong_payload.append(event.event_id)
        to_delivery = min(delivery.added_at) - event.first_sent_at
        if to_delivery > slowest:
            slowest, slowest_id = to_delivery, event.event_id
    return Reconciliation(
        sent=len(events),
        answered_200=sum(event.accepted_with == 200 for event in events),
        answered_202=sum(event.accepted_with == 202 for event in events),
        answers_503=all_answers.count(503),
        other_5xx=sum(status >= 500 and status != 503 for status in all_answers),
        # Every event sent is valid: a 4xx is the relay refusing what it should take.
        answers_4xx=sum(400 <= status < 500 for status in all_answers),
        no_answer=all_answers.count(NO_ANSWER),
        never_accepted=sum(not event.accepted for event in events),
        delivered=sum(event_id in deliveries for event_id in sent_ids),
        duplicates=sum(len(delivery.added_at) - 1 for delivery in deliveries.values()),
        lost=lost,
        wrong_payload=wrong_payload,
        strangers=sum(event_id not in sent_ids for event_id in deliveries),
        queues=queues,
        slowest_delivery_seconds=max(slowest, 0.0),
        slowest_event_id=slowest_id,
    )
