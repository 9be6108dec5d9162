"""The chaos soak's own logic, without processes: the seeded fault plan and the reconciliation."""

from __future__ import annotations

import itertools

from devstack.chaos.faults import CLUSTER_INFRASTRUCTURE_FAULTS, INFRASTRUCTURE_FAULTS, FaultKind, fault_plan
from devstack.chaos.reconcile import Delivery, QueueDepths, reconcile
from devstack.chaos.senders import SentEvent, event_payload

RUN = "run"
EMPTY_QUEUES = QueueDepths(retry=0, dead_letters=0)


def test_same_seed_gives_the_same_fault_plan_and_another_seed_another() -> None:
    assert fault_plan(7, 150) == fault_plan(7, 150)
    assert fault_plan(7, 150) != fault_plan(8, 150)


def test_every_kind_of_infrastructure_fault_comes_once_before_any_comes_twice() -> None:
    # given a plan long enough for more than one round
    infrastructure, _ = fault_plan(3, 400)
    # then its first round holds each kind once
    first_round = [fault.kind for fault in infrastructure[: len(INFRASTRUCTURE_FAULTS)]]
    assert sorted(kind.value for kind in first_round) == sorted(kind.value for kind in INFRASTRUCTURE_FAULTS)


def test_faults_of_a_track_never_overlap_and_all_end_within_the_sending_window() -> None:
    for track in fault_plan(11, 150):
        assert all(fault.at + fault.seconds <= 150 for fault in track)
        assert all(earlier.at + earlier.seconds < later.at for earlier, later in itertools.pairwise(track))
    assert {fault.kind for fault in fault_plan(11, 150)[1]} == {FaultKind.RUNNER_CRASH}


def test_the_cluster_plan_hits_the_cluster_and_sqs_never_the_whole_redis() -> None:
    # given a cluster soak's plan, one round of its kinds long
    infrastructure, _ = fault_plan(5, 400, cluster=True)
    kinds = {fault.kind for fault in infrastructure}
    # then every cluster fault comes, and no outage of the whole Redis
    assert kinds == set(CLUSTER_INFRASTRUCTURE_FAULTS)
    assert {FaultKind.CLUSTER_PRIMARY_CRASH, FaultKind.CLUSTER_FAILOVER, FaultKind.CLUSTER_REPLICA_LAG} <= kinds
    assert not kinds & {FaultKind.REDIS_STOP, FaultKind.REDIS_CRASH, FaultKind.REDIS_AND_SQS_DOWN}


def test_the_default_plan_has_no_cluster_fault() -> None:
    kinds = {fault.kind for track in fault_plan(5, 400) for fault in track}
    assert not kinds & {FaultKind.CLUSTER_PRIMARY_CRASH, FaultKind.CLUSTER_FAILOVER, FaultKind.CLUSTER_REPLICA_LAG}


def sent(sequence: int, *answers: int) -> SentEvent:
    return SentEvent(sequence, f"e{sequence}", first_sent_at=100.0, answers=list(answers))


def delivered(sequence: int, *added_at: float) -> Delivery:
    return Delivery(added_at=list(added_at), payloads=[event_payload(RUN, sequence)] * len(added_at))


def test_reconciliation_counts_the_lost_and_the_duplicated_and_the_slowest_delivery() -> None:
    # given: e0 delivered inline, e1 queued and delivered twice, e2 queued and never delivered,
    # e3 refused (503) yet landed (the write reached Redis), e4 refused and absent
    events = [sent(0, 200), sent(1, 503, 202), sent(2, 202), sent(3, 503), sent(4, 503, 503)]
    deliveries = {"e0": delivered(0, 100.1), "e1": delivered(1, 104.0, 130.0), "e3": delivered(3, 101.0)}

    # when
    outcome = reconcile(RUN, events, deliveries, EMPTY_QUEUES)

    # then
    assert (outcome.answered_200, outcome.answered_202, outcome.answers_503) == (1, 2, 4)
    assert (outcome.delivered, outcome.duplicates, outcome.lost, outcome.never_accepted) == (3, 1, ["e2"], 2)
    assert (outcome.slowest_event_id, round(outcome.slowest_delivery_seconds, 1)) == ("e1", 4.0)
    assert not outcome.passed


def test_reconciliation_flags_a_payload_that_is_not_the_one_sent() -> None:
    events = [sent(0, 200)]
    deliveries = {"e0": Delivery(added_at=[100.1], payloads=[{"something": "else"}])}
    outcome = reconcile(RUN, events, deliveries, EMPTY_QUEUES)
    assert outcome.wrong_payload == ["e0"]
    assert not outcome.passed


def test_reconciliation_without_queues_to_look_at_passes_on_the_stream_alone_and_says_so() -> None:
    # given a stack whose SQS the soak does not see (a drill aimed at a stack run elsewhere)
    outcome = reconcile(RUN, [sent(0, 200)], {"e0": delivered(0, 100.1)}, queues=None)
    # then
    assert outcome.passed
    assert "DLQ not checked" in outcome.summary_line()
    assert outcome.as_json()["queues_checked"] is False


def test_reconciliation_fails_when_the_dead_letter_queue_cannot_be_read() -> None:
    outcome = reconcile(RUN, [sent(0, 200)], {"e0": delivered(0, 100.1)}, QueueDepths(retry=0, dead_letters=None))
    assert not outcome.passed
