"""The chaos soak in small: 500 events under seeded faults, every one reconciled (`make chaos` at scale)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.chaos.faults import fault_plan
from devstack.chaos.outage import DrillOptions, run_drill_on_own_stack
from devstack.chaos.soak import SoakOptions, run_soak

pytestmark = pytest.mark.e2e


def test_seeded_soak_of_500_events_under_faults_loses_none_and_delivers_none_twice(tmp_path: Path) -> None:
    # given seed 4's 25 s: Redis hangs, then Redis and SQS go down together, then SQS hangs, and the
    # drain's runner is SIGKILLed twice, while 16 senders post 500 events
    options = SoakOptions(events=500, seconds=25, senders=16, seed=4, drain_deadline_seconds=45, work_dir=str(tmp_path))
    infrastructure, runner = fault_plan(options.seed, options.seconds)
    assert [fault.kind.value for fault in infrastructure] == ["redis_hang", "redis_and_sqs_down", "sqs_hang"]
    assert len(runner) == 2

    # when
    report = run_soak(options)

    # then every accepted event is on the stream once, and nothing else went wrong
    print(report.summary_line(), f"(logs in {tmp_path})")
    outcome = report.reconciliation
    assert outcome.lost == []
    assert outcome.duplicates == 0
    assert (outcome.other_5xx, outcome.answers_4xx, outcome.dead_letters) == (0, 0, 0)
    assert outcome.wrong_payload == []
    assert outcome.answered_200 + outcome.answered_202 + outcome.never_accepted == 500
    assert report.drained
    assert report.unexpected_exits == []
    assert report.fault_counts == {"redis_hang": 1, "redis_and_sqs_down": 1, "sqs_hang": 1, "runner_crash": 2}
    assert report.passed


def test_cluster_soak_with_a_killed_primary_a_failover_and_a_stalled_replica_loses_none_and_duplicates_none(
    tmp_path: Path,
) -> None:
    # given seed 4's 25 s against a local Redis Cluster with min_replicas_acked 1: the stream's
    # replica stalls (SIGSTOP), its shard fails over (CLUSTER FAILOVER), then its primary is
    # SIGKILLed, and the drain's runner twice, while 16 senders post 500 events
    options = SoakOptions(
        events=500, seconds=25, senders=16, seed=4, drain_deadline_seconds=45, cluster=True, work_dir=str(tmp_path)
    )
    infrastructure, runner = fault_plan(options.seed, options.seconds, cluster=True)
    assert [fault.kind.value for fault in infrastructure] == [
        "cluster_replica_lag",
        "cluster_failover",
        "cluster_primary_crash",
    ]
    assert len(runner) == 2

    # when
    report = run_soak(options)

    # then every event answered 200 or 202 is on the stream once, read through a cluster client
    print(report.summary_line(), f"(logs in {tmp_path})")
    outcome = report.reconciliation
    assert outcome.lost == []
    assert outcome.duplicates == 0
    assert (outcome.other_5xx, outcome.answers_4xx, outcome.dead_letters) == (0, 0, 0)
    assert outcome.answered_200 + outcome.answered_202 + outcome.never_accepted == 500
    assert report.drained
    assert report.unexpected_exits == []
    assert all("skipped" not in record.detail for record in report.faults)
    assert report.passed


def test_outage_drill_on_a_stack_of_its_own_answers_as_planned_and_delivers_each_event_once() -> None:
    # given the seed's plan: 5 webhooks with Redis up, Redis stopped, 15 more, a short outage
    options = DrillOptions(outage_seconds=3, deadline_seconds=60)

    # when `make outage` runs it against a stack of its own (separate processes, Redis stopped by PID)
    lines: list[str] = []
    report = run_drill_on_own_stack(options, lines.append)

    # then every answer is the planned one, and each event is on the stream once, none dead-lettered
    print("\n".join(lines), report.table(), sep="\n")
    assert [planned.event.accepted_with for planned in report.planned] == [200] * 5 + [202] * 15
    assert report.delivered_once == 20
    assert report.outcome.reconciliation.dead_letters == 0
    assert report.passed
    assert report.logs is None
    # and it said what it used
    assert any(line.strip().startswith("SQS") and "moto started here" in line for line in lines)
