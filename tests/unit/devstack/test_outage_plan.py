"""The outage drill's verdict and `make outage`'s choice of stack, without processes."""

from __future__ import annotations

import json

import pytest
import redis

from devstack.chaos.faults import FaultKind, FaultRecord
from devstack.chaos.outage import OUTAGE_PLAN, DrillReport, PlannedEvent
from devstack.chaos.reconcile import Delivery, QueueDepths, StreamReader, reconcile, stream_end
from devstack.chaos.senders import SentEvent, event_payload
from devstack.chaos.soak import DrainOutcome
from scripts import outage

RUN = "run"


def drill_report(*answers: list[int], copies: int = 1) -> DrillReport:
    """Events answered as given (in plan order), each on the stream `copies` times."""
    expected = [phase.expect for phase in OUTAGE_PLAN for _ in range(phase.events)]
    planned = [
        PlannedEvent(SentEvent(n, f"e{n}", first_sent_at=100.0, answers=list(a)), 1 if want == 200 else 2, want)
        for n, (a, want) in enumerate(zip(answers, expected, strict=False))
    ]
    deliveries = {
        item.event.event_id: Delivery([101.0] * copies, [event_payload(RUN, item.event.sequence)] * copies)
        for item in planned
    }
    events = [item.event for item in planned]
    reconciliation = reconcile(RUN, events, deliveries, QueueDepths(retry=0, dead_letters=0))
    outcome = DrainOutcome(reconciliation, deliveries, drained=True, seconds=1.0)
    return DrillReport(planned, outcome, FaultRecord(FaultKind.REDIS_STOP, 0.0, 3.0))


AS_PLANNED = [[200]] * 5 + [[202]] * 15


def test_drill_passes_when_every_answer_is_the_planned_one_and_each_event_arrived_once() -> None:
    report = drill_report(*AS_PLANNED)
    assert report.passed
    assert report.table().endswith("PASS")


def test_drill_fails_when_an_event_sent_with_redis_down_is_answered_200() -> None:
    # given the first event of phase 2 delivered inline: Redis was not down when it should be
    report = drill_report(*AS_PLANNED[:5], [200], *AS_PLANNED[6:])
    # then the stream alone would pass, the plan does not
    assert report.outcome.reconciliation.passed
    assert [item.event.sequence for item in report.unexpected_answers] == [5]
    assert not report.passed
    assert report.table().endswith("FAIL")


def test_drill_fails_on_a_503_even_when_a_retry_was_accepted() -> None:
    report = drill_report(*AS_PLANNED[:5], [503, 202], *AS_PLANNED[6:])
    assert report.server_errors == 1
    assert not report.passed


def test_drill_takes_a_broken_connection_retried_as_a_provider_would() -> None:
    report = drill_report([0, 200], *AS_PLANNED[1:])
    assert report.passed


def test_drill_fails_when_an_event_arrived_twice() -> None:
    report = drill_report(*AS_PLANNED, copies=2)
    assert report.delivered_once == 0
    assert not report.passed


def test_outage_without_url_refuses_to_drill_its_own_stack_while_aws_endpoint_url_points_elsewhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given the shell points at a running LocalStack
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    # when `make outage` runs with no --url
    status = outage.main([], environ)
    # then it starts nothing and says what it would have ignored and what to pass instead
    assert status == 2
    message = capsys.readouterr().err
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4566" in message
    assert "--url" in message and "--own-stack" in message


def test_outage_aimed_at_a_running_stack_checks_its_queues_at_aws_endpoint_url() -> None:
    # given
    arguments = outage.parse_arguments(
        ["--url", "http://127.0.0.1:8000", "--redis-url", "redis://127.0.0.1:6379/0", "--docker-container", "r"]
    )
    # when
    stack = outage.external_stack(arguments, {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    # then
    assert (stack.sqs_endpoint, stack.sqs_endpoint_origin) == ("http://127.0.0.1:4566", "AWS_ENDPOINT_URL")
    assert "docker stop r" in stack.describe()[1]


def test_outage_endpoint_url_without_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        outage.parse_arguments(["--endpoint-url", "http://127.0.0.1:4566"])
    assert "--endpoint-url goes with --url" in capsys.readouterr().err


def test_a_drill_reads_only_what_reached_the_stream_after_it_began(redis_db: redis.Redis) -> None:
    # given a running stack's stream holding an earlier drill's event
    redis_db.xadd("webhook_events", {"event": json.dumps({"id": "earlier", "payload": {}})})
    begin = stream_end(redis_db, "webhook_events")
    # when this drill's event arrives and the stream is read from where the drill began
    redis_db.xadd("webhook_events", {"event": json.dumps({"id": "this-drill", "payload": {}})})
    reader = StreamReader(redis_db, "webhook_events", after=begin)
    reader.read_new()
    # then the earlier event is not counted as a stranger to this drill
    assert list(reader.deliveries) == ["this-drill"]


def test_stream_end_of_a_stream_not_yet_written_is_its_start(redis_db: redis.Redis) -> None:
    assert stream_end(redis_db, "webhook_events") == "-"
