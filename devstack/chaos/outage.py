"""The seed's Redis outage as a fixed fault plan, run with the soak's parts (`make outage`).

Phase 1: 5 webhooks with Redis up, each answered 200 (delivered inline). Phase 2: Redis stopped,
15 more, each answered 202 (spilled to the retry queue). Phase 3: Redis stays down for the
outage, then starts again; the drain delivers by itself. Phase 4: as after a soak, every event
is reconciled against the stream (and the queues, where the stack's are looked at): each
exactly once with its payload, no 5xx, nothing dead-lettered.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.chaos.faults import FaultKind, FaultRecord
from devstack.chaos.reconcile import Delivery, stream_end
from devstack.chaos.senders import SenderPolicy, SenderPool, SentEvent, event_id_for, webhook_url
from devstack.chaos.soak import DrainOutcome, drain_and_reconcile
from devstack.chaos.stack import STREAM, WEBHOOK_ID, ChaosStack, RelayStack


@dataclass(frozen=True)
class Phase:
    events: int
    # The answer each event of the phase must get: what the relay promises in that state.
    expect: int
    description: str


# The seed's scenario: its test sent these and stopped there; the drill also checks arrival.
OUTAGE_PLAN = (
    Phase(5, 200, "with Redis up"),
    Phase(15, 202, "with Redis stopped"),
)
# The only fault of the plan, from the end of phase 1 for the outage's seconds.
OUTAGE_FAULT = FaultKind.REDIS_STOP
# One sender, one event at a time, as the seed's test sent them. A broken keep-alive connection
# is retried as a provider would; a 5xx fails the drill whatever came after it.
DRILL_SENDER = SenderPolicy(max_attempts=3, max_seconds=15.0)


@dataclass(frozen=True)
class DrillOptions:
    # Longer than the seed's redrive schedule (1 s doubling to 10 s), so the drain meets Redis down.
    outage_seconds: float = 30.0
    # After Redis restarts: time for the last redrive delay (10 s) and the drain's polling.
    deadline_seconds: float = 120.0
    webhook_id: str = WEBHOOK_ID
    stream: str = STREAM


@dataclass(frozen=True)
class PlannedEvent:
    event: SentEvent
    phase: int
    expect: int

    @property
    def answered_as_planned(self) -> bool:
        return self.event.accepted_with == self.expect


@dataclass
class DrillReport:
    planned: list[PlannedEvent]
    outcome: DrainOutcome
    outage: FaultRecord
    stack: list[str] = field(default_factory=list)
    logs: str | None = None

    @property
    def unexpected_answers(self) -> list[PlannedEvent]:
        return [planned for planned in self.planned if not planned.answered_as_planned]

    @property
    def server_errors(self) -> int:
        return sum(status >= 500 for planned in self.planned for status in planned.event.answers)

    @property
    def delivered_once(self) -> int:
        wrong = set(self.outcome.reconciliation.wrong_payload)
        return sum(
            len(self._delivery(planned).added_at) == 1 and planned.event.event_id not in wrong
            for planned in self.planned
        )

    @property
    def passed(self) -> bool:
        return (
            self.outcome.reconciliation.passed
            and self.outcome.drained
            and not self.unexpected_answers
            and self.server_errors == 0
            and self.delivered_once == len(self.planned)
        )

    def _delivery(self, planned: PlannedEvent) -> Delivery:
        return self.outcome.deliveries.get(planned.event.event_id, Delivery())

    def table(self) -> str:
        """One line per event, then the counts and PASS or FAIL."""
        lines = [
            f"{'#':>3} {'phase':>5} {'expect':>6} {'answers':>9} {'latency ms':>11} {'path':>6} "
            f"{'delivered':>9} {'to delivery s':>13}"
        ]
        for planned in self.planned:
            event, delivery = planned.event, self._delivery(planned)
            answers = ",".join(str(status) for status in event.answers) or "-"
            path = {200: "inline", 202: "queue"}.get(event.accepted_with or 0, "-")
            # Redis's clock against ours: an inline delivery can read a few ms early.
            seconds = max(min(delivery.added_at) - event.first_sent_at, 0.0) if delivery.added_at else None
            to_delivery = "-" if seconds is None else f"{seconds:.2f}"
            lines.append(
                f"{event.sequence:>3} {planned.phase:>5} {planned.expect:>6} {answers:>9} "
                f"{event.last_answer_seconds * 1000:>11.1f} {path:>6} {len(delivery.added_at):>9} {to_delivery:>13}"
            )
        statuses = Counter(status for planned in self.planned for status in planned.event.answers)
        lines.append(
            f"sent {len(self.planned)}, answers {dict(sorted(statuses.items()))}, "
            f"not as planned {len(self.unexpected_answers)}, "
            f"delivered exactly once {self.delivered_once}/{len(self.planned)}, "
            f"duplicates {self.outcome.reconciliation.duplicates}, 5xx {self.server_errors}"
        )
        lines.append(self.outcome.reconciliation.summary_line())
        if not self.outcome.drained:
            lines.append("the drain did not finish before the deadline")
        if self.logs:
            lines.append(f"logs kept in {self.logs}")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "delivered_once": self.delivered_once,
            "duplicates": self.outcome.reconciliation.duplicates,
            "server_errors": self.server_errors,
            "not_as_planned": len(self.unexpected_answers),
            "drained": self.outcome.drained,
            "drain_seconds": round(self.outcome.seconds, 1),
            "outage_seconds": round((self.outage.ended_at or self.outage.started_at) - self.outage.started_at, 1),
            "stack": self.stack,
            "reconciliation": self.outcome.reconciliation.as_json(),
            "events": [
                {
                    "sequence": planned.event.sequence,
                    "phase": planned.phase,
                    "expect": planned.expect,
                    "status": planned.event.accepted_with or (planned.event.answers or [0])[-1],
                    "answers": planned.event.answers,
                    "copies": len(self._delivery(planned).added_at),
                }
                for planned in self.planned
            ],
        }


def _send_phase(url: str, run_id: str, events: list[SentEvent]) -> None:
    pool = SenderPool(url, run_id, events, seconds=0.0, senders=1, policy=DRILL_SENDER, seed=0)
    pool.start()
    try:
        pool.wait(len(events) * (DRILL_SENDER.max_seconds + DRILL_SENDER.timeout_seconds))
    finally:
        pool.abort()


def _plan_events(run_id: str) -> list[PlannedEvent]:
    planned: list[PlannedEvent] = []
    for number, phase in enumerate(OUTAGE_PLAN, start=1):
        for _ in range(phase.events):
            sequence = len(planned) + 1
            planned.append(PlannedEvent(SentEvent(sequence, event_id_for(run_id, sequence)), number, phase.expect))
    return planned


def run_drill(stack: RelayStack, options: DrillOptions, say: Callable[[str], None] = lambda line: None) -> DrillReport:
    """Runs the plan against a started stack; Redis is running again when this returns or raises."""
    run_id = f"drill-{uuid.uuid4().hex[:6]}"
    url = webhook_url(stack.http_url, options.webhook_id)
    planned = _plan_events(run_id)
    before, during = OUTAGE_PLAN

    def phase_events(number: int) -> list[SentEvent]:
        return [item.event for item in planned if item.phase == number]

    # A running stack's stream holds what came before (earlier drills too): not this drill's.
    client = stack.redis_client()
    try:
        stream_after = stream_end(client, options.stream)
    finally:
        client.close()

    say(f"phase 1: {before.events} webhooks {before.description}, each to be answered {before.expect}")
    _send_phase(url, run_id, phase_events(1))
    say(f"phase 2: Redis stopped ({OUTAGE_FAULT.value})")
    started = time.monotonic()
    stack.stop_redis()
    outage = FaultRecord(OUTAGE_FAULT, started_at=0.0)
    try:
        say(f"phase 2: {during.events} webhooks {during.description}, each to be answered {during.expect}")
        _send_phase(url, run_id, phase_events(2))
        remaining = max(options.outage_seconds - (time.monotonic() - started), 0.0)
        say(f"phase 3: Redis stays down {remaining:.1f} s more, then restarts")
        time.sleep(remaining)
    finally:
        stack.start_redis()
        outage.ended_at = time.monotonic() - started
    say(f"phase 4: Redis back after {outage.ended_at:.1f} s; waiting for the drain, then reading {options.stream}")
    events = [item.event for item in planned]
    outcome = drain_and_reconcile(
        stack, run_id, events, options.deadline_seconds, stream=options.stream, stream_after=stream_after
    )
    say(f"phase 4: drain {'done' if outcome.drained else 'NOT done'} {outcome.seconds:.1f} s after the restart")
    return DrillReport(planned, outcome, outage, stack=stack.describe())


def run_drill_on_own_stack(options: DrillOptions, say: Callable[[str], None] = lambda line: None) -> DrillReport:
    """Starts a ChaosStack on free ports (its processes' logs in a temporary folder, kept when the
    drill fails), runs the plan, and stops every process it started."""
    work_dir = tempfile.mkdtemp(prefix="spillway-outage-")
    with ChaosStack(work_dir) as stack:
        say("stack of its own:")
        for line in stack.describe():
            say(f"  {line}")
        report = run_drill(stack, options, say)
    if report.passed:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        report.logs = work_dir
    return report
