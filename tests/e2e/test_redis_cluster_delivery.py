"""Delivery against a real local Redis Cluster (3 primaries + 3 replicas, valkey-server 8.1 for
sharded channels): every event answered 200 or 202 ends up in its stream exactly once, through
slot migrations (MOVED/ASK) and failovers during load, once the drain has emptied the retry
queue."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.config.settings import get_relay_config
from chalicelib.delivery.counters import read_counters
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_cluster import RedisCluster, replication_info
from devstack.redis_server import RedisServer, find_valkey_server
from tests.conftest import WriteConfig
from tests.queue_events import body_of, drain_retry_queue, make_envelope, make_queue_message

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
# Stream names chosen for their slots: each lands on a different primary of a fresh cluster.
STREAMS = ("events-a", "events-b", "events-c")
FAULT_TIMEOUT_SECONDS = 60.0
MAX_EVENTS_DURING_FAULT = 300


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster(binary=find_valkey_server()) as running:
        yield running


@pytest.fixture
def fresh_cluster(cluster: RedisCluster) -> Iterator[RedisCluster]:
    """Every node running, every primary with a replica that follows it, no data."""
    for node in cluster.nodes:
        node.start()
    cluster.wait_until_healthy()
    wait_for_replicas(cluster)
    for primary in cluster.primaries():
        client = primary.client()
        try:
            client.flushall()
        finally:
            client.close()
    yield cluster


def wait_for_replicas(cluster: RedisCluster, timeout: float = 30.0) -> None:
    """Each primary has a replica whose link is up (a restarted node rejoins as a replica)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_replica = [int(str(replication_info(node).get("connected_slaves", 0))) for node in cluster.primaries()]
        if len(with_replica) == 3 and all(count >= 1 for count in with_replica):
            return
        time.sleep(0.1)
    raise AssertionError("not every primary has a replica again")


def entry_node(cluster: RedisCluster, avoid: RedisServer | None = None) -> RedisServer:
    """The address the relay is configured with: any node (a managed cluster's configuration
    endpoint), here one the test never kills."""
    return next(node for node in cluster.nodes if node is not avoid and node.running)


def webhook(node: RedisServer, stream: str, **redis_fields: Any) -> dict[str, Any]:
    return {
        "data_type": "json",
        "redis": {"host": node.host, "port": node.port, "cluster": True, "stream": stream, **redis_fields},
        # Redrives come round after SQS's 1 s minimum, so the drain empties the queue quickly.
        "retry": {"initial_delay": 0.0, "max_delay": 0.0},
    }


def post(chalice_client: Any, webhook_id: str, event_id: str) -> int:
    response = chalice_client.http.post(
        f"/webhook/{webhook_id}", headers={**JSON, "Idempotency-Key": event_id}, body=json.dumps({"id": event_id})
    )
    return int(response.status_code)


def stream_copies(cluster: RedisCluster, stream: str) -> Counter[str]:
    client = cluster.client()
    try:
        return Counter(json.loads(fields[b"event"])["id"] for _, fields in client.xrange(stream))
    finally:
        client.close()


def post_through_fault(
    chalice_client: Any, webhook_id: str, fault: Callable[[], None], before: int = 20, after: int = 20
) -> dict[str, int]:
    """Posts events before, during (while `fault` runs in a thread) and after a fault. Returns
    each event id's answer."""
    answers: dict[str, int] = {}

    def send(label: str) -> None:
        event_id = f"{webhook_id}-{label}-{len(answers)}"
        answers[event_id] = post(chalice_client, webhook_id, event_id)

    for _ in range(before):
        send("before")
    failure: list[BaseException] = []

    def run_fault() -> None:
        try:
            fault()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run_fault, name="cluster-fault", daemon=True)
    thread.start()
    deadline = time.monotonic() + FAULT_TIMEOUT_SECONDS
    sent_during = 0
    while thread.is_alive() and sent_during < MAX_EVENTS_DURING_FAULT and time.monotonic() < deadline:
        send("during")
        sent_during += 1
    thread.join(max(deadline - time.monotonic(), 0.1))
    assert not thread.is_alive(), "the fault did not finish in time"
    if failure:
        raise failure[0]
    for _ in range(after):
        send("after")
    return answers


def assert_each_answered_event_once(cluster: RedisCluster, stream: str, answers: dict[str, int], sqs: Any) -> None:
    assert set(answers.values()) <= {200, 202}, Counter(answers.values())
    outcomes = drain_retry_queue(sqs)
    assert not {"dead_lettered", "failed"} & set(outcomes), Counter(outcomes)
    copies = stream_copies(cluster, stream)
    assert {event_id for event_id, count in copies.items() if count > 1} == set()
    assert set(answers) - set(copies) == set(), "answered 200 or 202, never delivered"


def node_id(node: RedisServer) -> str:
    client = node.client()
    try:
        return str(client.execute_command("CLUSTER", "MYID").decode())  # type: ignore[no-untyped-call]
    finally:
        client.close()


def migrate_slot(cluster: RedisCluster, key: str, destination: RedisServer, pause: float = 0.05) -> None:
    """Moves `key`'s slot by hand, slowly enough that deliveries meet both ASK (keys already
    gone from the source) and MOVED (the slot finished moving)."""
    source = cluster.node_for_key(key)
    slot = cluster.client().keyslot(key)
    source_client, destination_client = source.client(), destination.client()
    try:
        destination_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))  # type: ignore[no-untyped-call]
        source_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(destination))  # type: ignore[no-untyped-call]
        for _ in range(10_000):
            keys = source_client.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 5)  # type: ignore[no-untyped-call]
            if not keys:
                break
            source_client.execute_command(  # type: ignore[no-untyped-call]
                "MIGRATE", destination.host, destination.port, "", 0, 5_000, "KEYS", *keys
            )
            time.sleep(pause)
        for client in (destination_client, source_client):
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", node_id(destination))  # type: ignore[no-untyped-call]
    finally:
        source_client.close()
        destination_client.close()


def test_webhooks_whose_streams_hash_to_different_slots_each_get_every_event_once(
    fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: three webhooks, one stream on each primary
    owners = {fresh_cluster.node_for_key(stream).port for stream in STREAMS}
    assert len(owners) == 3
    node = entry_node(fresh_cluster)
    write_config({f"hook-{number}": webhook(node, stream) for number, stream in enumerate(STREAMS)})
    # when
    answers = {
        (number, event): post(chalice_client, f"hook-{number}", f"event-{event}")
        for number in range(len(STREAMS))
        for event in range(20)
    }
    # then: all delivered at once, each in its own stream once, counted by /stats
    assert set(answers.values()) == {200}
    for number, stream in enumerate(STREAMS):
        assert stream_copies(fresh_cluster, stream) == Counter({f"event-{event}": 1 for event in range(20)})
        config = get_relay_config().webhook(f"hook-{number}")
        assert config is not None
        assert read_counters(config)["delivered_inline"] == 20


def test_a_copy_of_a_delivered_event_is_a_duplicate_in_cluster_mode(
    fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given
    write_config({"hook": webhook(entry_node(fresh_cluster), "events-a")})
    # when
    first, second = post(chalice_client, "hook", "same"), post(chalice_client, "hook", "same")
    # then
    assert (first, second) == (200, 200)
    assert stream_copies(fresh_cluster, "events-a") == Counter({"same": 1})


def test_sharded_channel_reaches_a_shard_subscriber_and_counts_it(
    fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: a channel alone (min_subscribers 1), published with SPUBLISH
    settings = webhook(entry_node(fresh_cluster), "unused", channel="{shard}.live", sharded_channel=True)
    del settings["redis"]["stream"]
    write_config({"hook": settings})
    # when: nobody listens
    unheard = post(chalice_client, "hook", "unheard")
    # then: the event waits
    assert unheard == 202
    # given: a shard subscriber on the channel's node
    client = fresh_cluster.client()
    subscriber = client.pubsub()
    try:
        subscriber.ssubscribe("{shard}.live")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and subscriber.get_sharded_message(timeout=0.1) is None:
            pass
        # when
        heard = post(chalice_client, "hook", "heard")
        # then
        assert heard == 200
        message = None
        deadline = time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = subscriber.get_sharded_message(ignore_subscribe_messages=True, timeout=0.1)
        assert message is not None
        assert json.loads(message["data"])["id"] == "heard"
    finally:
        subscriber.close()
        client.close()


@pytest.mark.parametrize("replicas", [0, 1])
def test_a_slot_migration_during_load_loses_and_duplicates_nothing(
    replicas: int, fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given
    stream = "events-a"
    source = fresh_cluster.node_for_key(stream)
    destination = next(node for node in fresh_cluster.primaries() if node.port != source.port)
    write_config({"hook": webhook(entry_node(fresh_cluster), stream, min_replicas_acked=replicas)})
    # when: the stream's slot moves to another primary while events arrive
    answers = post_through_fault(chalice_client, "hook", lambda: migrate_slot(fresh_cluster, stream, destination))
    # then
    assert fresh_cluster.node_for_key(stream).port == destination.port
    assert_each_answered_event_once(fresh_cluster, stream, answers, sqs)


@pytest.mark.parametrize("replicas", [0, 1])
def test_a_cluster_failover_during_load_loses_and_duplicates_nothing(
    replicas: int, fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given
    stream = "events-b"
    primary = fresh_cluster.node_for_key(stream)
    replica = fresh_cluster.replica_of(primary)
    write_config({"hook": webhook(entry_node(fresh_cluster), stream, min_replicas_acked=replicas)})
    # when: CLUSTER FAILOVER on the replica while events arrive
    answers = post_through_fault(chalice_client, "hook", lambda: fresh_cluster.failover_to(replica))
    # then
    assert fresh_cluster.node_for_key(stream).port == replica.port
    assert_each_answered_event_once(fresh_cluster, stream, answers, sqs)


def test_a_sigkilled_primary_during_load_loses_and_duplicates_nothing_with_replica_acks(
    fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: deliveries count once the replica has them
    stream = "events-c"
    primary = fresh_cluster.node_for_key(stream)
    replica = fresh_cluster.replica_of(primary)
    write_config({"hook": webhook(entry_node(fresh_cluster, avoid=primary), stream, min_replicas_acked=1)})

    def crash_and_promote() -> None:
        primary.kill()
        deadline = time.monotonic() + FAULT_TIMEOUT_SECONDS / 2
        while replication_info(replica).get("role") != "master":
            assert time.monotonic() < deadline, "the cluster did not promote the replica"
            time.sleep(0.05)

    # when: the stream's primary crashes while events arrive, and the cluster promotes its replica
    answers = post_through_fault(chalice_client, "hook", crash_and_promote)
    # then: without a replica, the promoted primary cannot confirm anything: events wait
    assert answers[max(answers, key=lambda event_id: int(event_id.rsplit("-", 1)[1]))] == 202
    # when: the crashed node comes back (as the new primary's replica) and the drain runs
    primary.start()
    fresh_cluster.wait_until_healthy()
    wait_for_replicas(fresh_cluster)
    # then
    assert_each_answered_event_once(fresh_cluster, stream, answers, sqs)


def test_the_drain_finds_an_expired_copy_delivered_and_counts_a_dead_letter_in_cluster_mode(
    fresh_cluster: RedisCluster, write_config: WriteConfig, sqs: Any, chalice_client: Any
) -> None:
    # given: one event delivered, and two queued copies past max_age_seconds: that one's, and
    # one never delivered
    settings = webhook(entry_node(fresh_cluster), "events-a")
    settings["retry"]["max_age_seconds"] = 60
    write_config({"hook": settings})
    assert post(chalice_client, "hook", "old-delivered") == 200
    records = [
        DrainRecord(event_id, body_of(make_queue_message(make_envelope("hook", event_id, age_seconds=120))))
        for event_id in ("old-delivered", "old-lost")
    ]
    # when
    report = drain_batch(records)
    # then: the marker is found in the stream's slot; the other is dead, and counted in /stats
    assert report.outcomes == {"old-delivered": DrainOutcome.DUPLICATE, "old-lost": DrainOutcome.DEAD_LETTERED}
    config = get_relay_config().webhook("hook")
    assert config is not None
    counters = read_counters(config)
    assert (counters["duplicates"], counters["dead_lettered"]) == (1, 1)
