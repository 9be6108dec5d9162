"""The chaos soak in small: 500 events under seeded faults, every one reconciled (`make chaos` at scale)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.chaos.faults import fault_plan
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
