"""Fixtures for the delivery tests that need more than one redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from devstack.redis_cluster import RedisCluster


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """A real Redis Cluster, 3 primaries + 3 replicas (~2 s to start), shared by a module's tests."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def cluster(redis_cluster: RedisCluster) -> Iterator[RedisCluster]:
    """The module's cluster, every node running, healthy and empty; running again afterwards
    whatever the test stopped."""
    _running_and_empty(redis_cluster)
    yield redis_cluster
    for node in redis_cluster.nodes:
        node.start()
    redis_cluster.wait_until_healthy()


def _running_and_empty(cluster: RedisCluster) -> None:
    for node in cluster.nodes:
        node.start()
    cluster.wait_until_healthy()
    client = cluster.client()
    try:
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    finally:
        client.close()
