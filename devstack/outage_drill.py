"""The seed's Redis-outage scenario, made true: every accepted event arrives exactly once.

Phase 1: 5 webhooks with Redis up (200). Phase 2: Redis stopped, 15 more (202). Phase 3:
Redis stays down for the outage, then comes back; wait for the drain. Phase 4: read the
stream and check every event arrived once with its payload.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import redis

PHASE_ONE_EVENTS = 5
PHASE_TWO_EVENTS = 15


class RedisSwitch(Protocol):
    def stop_redis(self) -> None: ...

    def start_redis(self) -> None: ...


@dataclass
class SentEvent:
    sequence: int
    event_id: str
    phase: int
    sent_at: float
    status: int = 0
    latency_ms: float = 0.0
    answer: str = ""
    delivered_at: list[float] = field(default_factory=list)
    payload_matches: bool = False

    @property
    def path(self) -> str:
        return {200: "inline", 202: "queue"}.get(self.status, "-")

    @property
    def delivered_once(self) -> bool:
        return len(self.delivered_at) == 1 and self.payload_matches


@dataclass
class DrillReport:
    events: list[SentEvent]
    waited_seconds: float

    @property
    def server_errors(self) -> list[SentEvent]:
        return [event for event in self.events if event.status >= 500 or event.status == 0]

    @property
    def delivered_once(self) -> int:
        return sum(event.delivered_once for event in self.events)

    @property
    def duplicates(self) -> int:
        return sum(max(len(event.delivered_at) - 1, 0) for event in self.events)

    @property
    def passed(self) -> bool:
        return self.delivered_once == len(self.events) and not self.server_errors

    def expected_statuses_seen(self) -> bool:
        return all(event.status == (200 if event.phase == 1 else 202) for event in self.events)


class WebhookSender:
    """One keep-alive connection, as a sender would hold it; reconnects when it breaks."""

    def __init__(self, base_url: str, webhook_id: str, timeout: float = 10.0):
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = f"{parts.path.rstrip('/')}/webhook/{webhook_id}"
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request("POST", self.path, body=body, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _send(sender: WebhookSender, run_id: str, sequence: int, phase: int) -> SentEvent:
    event_id = f"drill-{run_id}-{sequence:02d}"
    body = json.dumps({"drill": run_id, "sequence": sequence, "phase": phase}).encode()
    event = SentEvent(sequence=sequence, event_id=event_id, phase=phase, sent_at=time.time())
    started = time.perf_counter()
    try:
        event.status, event.answer = sender.post(
            body, {"Content-Type": "application/json", "Idempotency-Key": event_id}
        )
    except OSError as exc:
        event.answer = f"{type(exc).__name__}: {exc}"
    event.latency_ms = (time.perf_counter() - started) * 1000
    return event


def _read_deliveries(client: redis.Redis, stream: str, events: list[SentEvent], run_id: str) -> None:
    by_id = {event.event_id: event for event in events}
    for event in events:
        event.delivered_at.clear()
        event.payload_matches = False
    for entry_id, fields in client.xrange(stream):
        envelope = json.loads(fields[b"event"])
        event = by_id.get(envelope.get("id"))
        if event is None:
            continue
        milliseconds = int(entry_id.split(b"-")[0])
        event.delivered_at.append(milliseconds / 1000)
        expected = {"drill": run_id, "sequence": event.sequence, "phase": event.phase}
        event.payload_matches = envelope.get("payload") == expected


def _all_arrived(events: list[SentEvent]) -> bool:
    return all(event.delivered_at for event in events if event.status in (200, 202))


def run_drill(
    base_url: str,
    redis_url: str,
    switch: RedisSwitch,
    *,
    outage_seconds: float = 30.0,
    deadline_seconds: float = 120.0,
    webhook_id: str = "redis_test",
    stream: str = "webhook_events",
    out: TextIO | None = None,
) -> DrillReport:
    def say(line: str) -> None:
        if out is not None:
            print(line, file=out, flush=True)

    run_id = uuid.uuid4().hex[:8]
    sender = WebhookSender(base_url, webhook_id)
    reader = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=1)
    events: list[SentEvent] = []
    try:
        say(f"phase 1: {PHASE_ONE_EVENTS} webhooks with Redis up")
        events += [_send(sender, run_id, n, 1) for n in range(1, PHASE_ONE_EVENTS + 1)]
        say("phase 2: Redis stopped")
        switch.stop_redis()
        outage_started = time.monotonic()
        say(f"phase 2: {PHASE_TWO_EVENTS} webhooks with Redis down")
        first = PHASE_ONE_EVENTS + 1
        events += [_send(sender, run_id, n, 2) for n in range(first, first + PHASE_TWO_EVENTS)]
        remaining = outage_seconds - (time.monotonic() - outage_started)
        say(f"phase 3: Redis stays down {max(remaining, 0):.1f} s more, then restarts")
        time.sleep(max(remaining, 0.0))
        switch.start_redis()
        restarted = time.monotonic()
        deadline = restarted + deadline_seconds
        while True:
            with contextlib.suppress(redis.RedisError):
                _read_deliveries(reader, stream, events, run_id)
            if _all_arrived(events) or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        waited = time.monotonic() - restarted
        say(f"phase 4: read {stream}: waited {waited:.1f} s after the restart")
        return DrillReport(events=events, waited_seconds=waited)
    finally:
        sender.close()
        reader.close()


def format_report(report: DrillReport) -> str:
    lines = [
        f"{'#':>3} {'phase':>5} {'status':>6} {'latency ms':>11} {'path':>6} {'delivered':>9} {'to delivery s':>13}"
    ]
    for event in report.events:
        copies = len(event.delivered_at)
        to_delivery = f"{event.delivered_at[0] - event.sent_at:.2f}" if event.delivered_at else "-"
        lines.append(
            f"{event.sequence:>3} {event.phase:>5} {event.status or 'error':>6} {event.latency_ms:>11.1f} "
            f"{event.path:>6} {copies:>9} {to_delivery:>13}"
        )
    statuses = Counter(event.status for event in report.events)
    lines.append(
        f"sent {len(report.events)}, answers {dict(sorted(statuses.items()))}, "
        f"delivered exactly once {report.delivered_once}/{len(report.events)}, duplicates {report.duplicates}, "
        f"5xx {len(report.server_errors)}"
    )
    lines.append("PASS" if report.passed else "FAIL")
    return "\n".join(lines)


def report_as_json(report: DrillReport) -> dict[str, Any]:
    return {
        "passed": report.passed,
        "delivered_once": report.delivered_once,
        "duplicates": report.duplicates,
        "server_errors": len(report.server_errors),
        "events": [
            {"sequence": e.sequence, "status": e.status, "path": e.path, "copies": len(e.delivered_at)}
            for e in report.events
        ],
    }
