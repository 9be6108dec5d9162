"""A webhook with `redis.cluster: true` against a real local Redis Cluster (3 primaries + 3
replicas): the door delivers inline through any node it is given, the deep check and /stats read
the cluster, and with the cluster down the event spills (202)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devstack.redis_cluster import RedisCluster, replication_info
from tests.conftest import ADMIN_TOKEN, RETRY_QUEUE, STREAM, WriteConfig, drain_messages

JSON = {"Content-Type": "application/json"}
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
# The local cluster calls a silent primary failed after 1 s (devstack NODE_TIMEOUT_MILLISECONDS).
FAILOVER_TIMEOUT_SECONDS = 15.0

pytestmark = pytest.mark.usefixtures("admin_token")


def cluster_webhook(**redis: Any) -> dict[str, Any]:
    return {"data_type": "json", "redis": {"cluster": True, "stream": STREAM, **redis}}


def post(chalice_client: Any, key: str) -> Any:
    return chalice_client.http.post("/webhook/hook", headers={**JSON, "Idempotency-Key": key}, body=b'{"n": 1}')


def cluster_stream_ids(cluster: RedisCluster) -> list[str]:
    client = cluster.client()
    try:
        entries = client.xrange(STREAM)
    finally:
        client.close()
    return [json.loads(fields[b"event"])["id"] for _, fields in entries]


def deep_redis_check(chalice_client: Any) -> dict[str, Any]:
    checks = json.loads(chalice_client.http.get("/health?deep=1", headers=ADMIN).body)["checks"]
    return next(check for name, check in checks.items() if name.startswith("redis:"))


def test_cluster_webhook_delivers_inline_and_deep_health_and_stats_read_the_cluster(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given a webhook naming one node of the cluster
    host, port = cluster.startup_nodes[0]
    write_config({"hook": cluster_webhook(host=host, port=port)})

    # when
    response = post(chalice_client, "cluster-1")
    check = deep_redis_check(chalice_client)
    stats = chalice_client.http.get("/stats", headers=ADMIN).json_body

    # then the event is in the stream, on whichever primary owns its slot
    assert response.status_code == 200, response.body
    assert cluster_stream_ids(cluster) == ["cluster-1"]
    assert (check["ok"], check["cluster"]) == (True, True)
    assert stats["webhooks"]["hook"]["delivered_inline"] == 1


def test_cluster_webhook_given_the_url_of_a_node_that_does_not_own_its_slot_is_redirected_and_delivers(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given the URL of a primary that does not hold the stream's slot
    owner = cluster.node_for_key(STREAM)
    elsewhere = next(node for node in cluster.primaries() if node.port != owner.port)
    write_config({"hook": cluster_webhook(url=elsewhere.url)})

    # when
    response = post(chalice_client, "cluster-url-1")

    # then
    assert response.status_code == 200, response.body
    assert cluster_stream_ids(cluster) == ["cluster-url-1"]


def test_cluster_webhook_answers_202_and_deep_health_reports_it_down_while_the_cluster_is_stopped(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given a cluster webhook, and every node of the cluster stopped (the fixture starts them again)
    host, port = cluster.startup_nodes[0]
    write_config({"hook": cluster_webhook(host=host, port=port)})
    for node in cluster.nodes:
        node.stop()

    # when
    response = post(chalice_client, "cluster-down-1")
    check = deep_redis_check(chalice_client)
    stats = chalice_client.http.get("/stats", headers=ADMIN)

    # then the event waits on the retry queue; the check and /stats say Redis is away
    assert response.status_code == 202, response.body
    assert [json.loads(message["Body"])["envelope"]["id"] for message in drain_messages(sqs, RETRY_QUEUE)] == [
        "cluster-down-1"
    ]
    assert check["ok"] is False and "ConnectionError" in check["error"]
    assert stats.status_code == 200
    assert "error" in stats.json_body["webhooks"]["hook"]


def test_cluster_webhook_delivers_again_once_the_cluster_is_back(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given a client built while the cluster was up, then every node restarted
    host, port = cluster.startup_nodes[0]
    write_config({"hook": cluster_webhook(host=host, port=port)})
    assert post(chalice_client, "before-restart").status_code == 200
    for node in cluster.nodes:
        node.stop()
    for node in cluster.nodes:
        node.start()
    cluster.wait_until_healthy()

    # when
    response = post(chalice_client, "after-restart")

    # then the same process reconnects by itself
    assert response.status_code == 200, response.body
    assert cluster_stream_ids(cluster) == ["before-restart", "after-restart"]


def test_cluster_webhook_keeps_delivering_after_the_node_it_names_dies_and_its_replica_takes_over(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given a webhook naming the primary that owns its stream, which then dies; its replica is
    # promoted (the fixture starts the old primary again, as a replica)
    owner = cluster.node_for_key(STREAM)
    replica = cluster.replica_of(owner)
    write_config({"hook": cluster_webhook(host=owner.host, port=owner.port)})
    assert post(chalice_client, "before-failover").status_code == 200
    owner.stop()
    deadline = time.monotonic() + FAILOVER_TIMEOUT_SECONDS
    while replication_info(replica).get("role") != "master":
        assert time.monotonic() < deadline, "the replica was not promoted"
        time.sleep(0.05)
    cluster.wait_until_healthy()

    # when events keep coming (the first may find the dead node and spill)
    answers = [post(chalice_client, f"after-failover-{n}").status_code for n in range(3)]

    # then the client found the promoted replica through the other nodes it had discovered
    assert answers[-1] == 200, answers
    assert "after-failover-2" in cluster_stream_ids(cluster)


def test_one_shard_down_opens_the_breaker_for_every_webhook_of_the_cluster_and_theirs_spill_too(
    write_config: WriteConfig, cluster: RedisCluster, sqs: Any, chalice_client: Any
) -> None:
    # given two webhooks on one cluster, their streams on different primaries, and the first's
    # primary hung (SIGSTOP) long enough to open the cluster's breaker
    host, port = cluster.startup_nodes[0]
    write_config(
        {
            "hook_a": cluster_webhook(host=host, port=port, stream="events_a"),
            "hook_b": cluster_webhook(host=host, port=port, stream="events_b"),
        }
    )
    assert cluster.node_for_key("events_a") is not cluster.node_for_key("events_b")
    hung = cluster.node_for_key("events_a")
    hung.pause()
    try:
        first = chalice_client.http.post("/webhook/hook_a", headers={**JSON, "Idempotency-Key": "a-1"}, body=b"{}")

        # when the second webhook, whose shard is healthy, gets an event
        started = time.monotonic()
        second = chalice_client.http.post("/webhook/hook_b", headers={**JSON, "Idempotency-Key": "b-1"}, body=b"{}")
        elapsed = time.monotonic() - started
    finally:
        hung.resume()

    # then both wait on the retry queue: the second without trying Redis (the breaker is the
    # cluster's, docs/guarantees.md "One circuit breaker per cluster"), so within milliseconds
    assert (first.status_code, second.status_code) == (202, 202), (first.body, second.body)
    assert elapsed < 1.0
    errors = {
        json.loads(message["Body"])["envelope"]["id"]: json.loads(message["Body"])["redrive"]["last_error"]
        for message in drain_messages(sqs, RETRY_QUEUE)
    }
    assert set(errors) == {"a-1", "b-1"}
    assert errors["b-1"].startswith("circuit open")
