"""B1c, B2c, B1w, B2w, B11: the relay on production-shaped Redis, and Redis's CPU per event.

One process, one app, one signed body, four webhooks (each on a Redis of its own):
  single   one redis-server, as B1 and B2 run it
  cluster  a local Redis Cluster, 3 primaries + 3 replicas, `cluster: true` (ElastiCache
           Serverless, MemoryDB, node-based ElastiCache with cluster mode)
  nowait   a primary with one replica, `min_replicas_acked: 0` (node-based ElastiCache)
  wait     the same pair, `min_replicas_acked: 1`: EVALSHA and WAIT 1 pipelined
Rounds alternate the order of the loops; each handler figure is the median of the rounds'
means, as a ratio against the single node (B1c) or the same pair without WAIT (B1w).

Round trips (B2c, B2w) are counted on the client, apart from the timed rounds: every write
redis-py makes (`send_packed_command`) during the deliveries is one round trip, a pipeline
one. MONITOR, which B2 uses, sees EVALSHA and WAIT as two commands either way.

Redis CPU (B11, B11c, B11w) is the capacity-planning figure: `used_cpu_sys + used_cpu_user` of
every node of the topology (replicas apply each write too), its delta over a pass of
deliveries minus what the same nodes spend idle for as long (cluster gossip, serverCron),
per delivered event; the notes add the script's own time (commandstats usec_per_call of
evalsha). `--only B1c,B11c` runs some rows (and only the Redis they need).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
import redis.connection

from bench.api_gateway import GithubDeliveries, LambdaContext
from bench.b1_handler_cost import mean_microseconds, time_handler
from bench.relay_setup import bench_webhook, import_app, relay_environment
from bench.results import Row, Target, benchmark_main, figure_row
from devstack.redis_cluster import RedisCluster, ReplicatedRedis
from devstack.redis_server import RedisServer

ROUND_TRIP_TARGET = Target(1, at_most=True, on_ratio=False)
ALL_ROWS = ("B1c", "B2c", "B1w", "B2w", "B11", "B11c", "B11w")
# Which Redis each row needs (B11c and B11w are ratios against B11's single node).
NEEDS = {
    "B1c": ("single", "cluster"),
    "B2c": ("cluster",),
    "B1w": ("nowait", "wait"),
    "B2w": ("wait",),
    "B11": ("single",),
    "B11c": ("single", "cluster"),
    "B11w": ("single", "wait"),
}
WARM_UP_EVENTS = 200


@dataclass
class Topology:
    """One webhook and the Redis nodes behind it."""

    name: str
    webhook: dict[str, Any]
    nodes: list[RedisServer]
    deliveries: GithubDeliveries = field(init=False)
    round_means_us: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deliveries = GithubDeliveries(webhook_id=f"bench_{self.name}")


@contextlib.contextmanager
def topologies(wanted: set[str]) -> Iterator[dict[str, Topology]]:
    """The Redis each wanted topology needs, started, and its webhook; all stopped after."""
    with contextlib.ExitStack() as stack:
        found: dict[str, Topology] = {}
        if "single" in wanted:
            server = stack.enter_context(RedisServer())
            found["single"] = Topology("single", bench_webhook(server), [server])
        if "cluster" in wanted:
            cluster = stack.enter_context(RedisCluster(primaries=3, replicas_per_primary=1))
            webhook = bench_webhook(cluster.nodes[0])
            webhook["redis"]["cluster"] = True
            found["cluster"] = Topology("cluster", webhook, list(cluster.nodes))
        if wanted & {"wait", "nowait"}:
            pair = stack.enter_context(ReplicatedRedis())
            for name, acked in (("nowait", 0), ("wait", 1)):
                if name in wanted:
                    webhook = bench_webhook(pair.primary)
                    webhook["redis"]["min_replicas_acked"] = acked
                    found[name] = Topology(name, webhook, [pair.primary, pair.replica])
        yield found


def load_app(found: dict[str, Topology], folder: str) -> Any:
    config_path = os.path.join(folder, "webhooks.json")
    with open(config_path, "w", encoding="utf-8") as file:
        json.dump({f"bench_{topology.name}": topology.webhook for topology in found.values()}, file)
    os.environ.clear()
    os.environ.update(relay_environment(config_path))
    return import_app()


@contextlib.contextmanager
def counted_writes() -> Iterator[list[int]]:
    """Counts redis-py's socket writes in this process: one per command sent, one per pipeline."""
    count = [0]
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def node_cpu_seconds(nodes: list[RedisServer]) -> float:
    total = 0.0
    for node in nodes:
        client = node.client()
        try:
            info = client.info("cpu")
        finally:
            client.close()
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


def evalsha_us_per_call(nodes: list[RedisServer]) -> float:
    """The delivery script's mean time inside Redis, over the nodes that ran it."""
    calls, usec = 0, 0.0
    for node in nodes:
        client = node.client()
        try:
            stats = client.info("commandstats").get("cmdstat_evalsha")
        finally:
            client.close()
        if stats:
            calls, usec = calls + int(stats["calls"]), usec + float(stats["usec"])
    return usec / calls if calls else float("nan")


@dataclass(frozen=True)
class CpuFigure:
    us_per_event: float
    idle_us_per_second: float
    evalsha_us: float


def measure_cpu(app: Any, topology: Topology, events: int) -> CpuFigure:
    """Redis CPU per delivered event: a pass of deliveries, less the nodes' idle CPU over as long."""
    before = node_cpu_seconds(topology.nodes)
    started = time.monotonic()
    time_handler(app, topology.deliveries, events)
    busy_seconds = time.monotonic() - started
    busy = node_cpu_seconds(topology.nodes) - before
    idle_before = node_cpu_seconds(topology.nodes)
    time.sleep(busy_seconds)
    idle = node_cpu_seconds(topology.nodes) - idle_before
    return CpuFigure(
        us_per_event=max(busy - idle, 0.0) / events * 1e6,
        idle_us_per_second=idle / busy_seconds * 1e6,
        evalsha_us=evalsha_us_per_call(topology.nodes),
    )


def round_trips_per_event(app: Any, topology: Topology, events: int) -> float:
    context = LambdaContext()
    answers = []
    with counted_writes() as count:
        for _ in range(events):
            answers.append(app(topology.deliveries.next_event(), context))
    refused = [answer for answer in answers if answer["statusCode"] != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} deliveries to {topology.name} were not answered 200: {refused[0]}")
    return count[0] / events


def spread(topology: Topology) -> str:
    return f"{min(topology.round_means_us):.0f}-{max(topology.round_means_us):.0f} us"


def run(arguments: argparse.Namespace) -> list[Row]:
    rows_wanted = [row.strip() for row in arguments.only.split(",")] if arguments.only else list(ALL_ROWS)
    unknown = set(rows_wanted) - set(ALL_ROWS)
    if unknown:
        raise SystemExit(f"unknown rows {sorted(unknown)}; choose from {', '.join(ALL_ROWS)}")
    rounds = arguments.rounds or (3 if arguments.quick else 7)
    events = arguments.events or (300 if arguments.quick else 1000)
    wanted = {name for row in rows_wanted for name in NEEDS[row]}
    folder = tempfile.mkdtemp(prefix="spillway-bench-b9-")
    try:
        with topologies(wanted) as found:
            app = load_app(found, folder)
            loops: list[Callable[[], None]] = []
            for topology in found.values():
                time_handler(app, topology.deliveries, WARM_UP_EVENTS)
                loops.append(
                    lambda topology=topology: topology.round_means_us.append(  # type: ignore[misc]
                        mean_microseconds(time_handler(app, topology.deliveries, events))
                    )
                )
            for round_index in range(rounds):
                for loop in loops if round_index % 2 == 0 else loops[::-1]:
                    loop()
            cpu_events = arguments.cpu_events or (1000 if arguments.quick else 4000)
            cpu = {name: measure_cpu(app, topology, cpu_events) for name, topology in found.items()}
            trips: dict[str, float] = {
                name: round_trips_per_event(app, found[name], min(events, 200))
                for name in ("cluster", "wait")
                if name in found
            }
            rows = build_rows(found, cpu, trips, rounds=rounds, events=events, cpu_events=cpu_events)
            return [row for row in rows if row.id in rows_wanted]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_rows(
    found: dict[str, Topology],
    cpu: dict[str, CpuFigure],
    trips: dict[str, float],
    *,
    rounds: int,
    events: int,
    cpu_events: int,
) -> list[Row]:
    def handler_us(name: str) -> float | None:
        return statistics.median(found[name].round_means_us) if name in found else None

    def cpu_note(name: str) -> str:
        figure = cpu[name]
        nodes = len(found[name].nodes)
        return (
            f"{nodes} node(s); evalsha {figure.evalsha_us:.1f} us per call inside Redis; "
            f"idle CPU {figure.idle_us_per_second:.0f} us/s subtracted; {cpu_events} deliveries"
        )

    rounds_note = f"median of {rounds} alternating rounds x {events} events"
    rows = [
        figure_row(
            "B1c",
            "us/event: Chalice handler, Redis Cluster (3+3) vs one redis-server",
            "us",
            handler_us("cluster"),
            handler_us("single"),
            note=f"{rounds_note}; round means "
            + (f"cluster {spread(found['cluster'])}, single {spread(found['single'])}" if "cluster" in found else ""),
        ),
        figure_row(
            "B2c",
            "Redis round trips per delivered event, Redis Cluster",
            "",
            trips.get("cluster"),
            target=ROUND_TRIP_TARGET,
            note="socket writes by redis-py per delivery, counted on the client (the cluster client's first "
            "CLUSTER SLOTS is paid during the warm-up)",
        ),
        figure_row(
            "B1w",
            "us/event: Chalice handler, min_replicas_acked 1 vs 0 (primary + 1 replica)",
            "us",
            handler_us("wait"),
            handler_us("nowait"),
            note=f"{rounds_note}; WAIT 1 with replica_ack_timeout_ms 100, the replica on the same machine",
        ),
        figure_row(
            "B2w",
            "Redis round trips per delivered event, min_replicas_acked 1",
            "",
            trips.get("wait"),
            target=ROUND_TRIP_TARGET,
            note="socket writes by redis-py per delivery: EVALSHA and WAIT go in one pipeline",
        ),
    ]
    single_cpu = cpu["single"].us_per_event if "single" in cpu else None
    for row_id, name, figure in (
        ("B11", "single", "Redis CPU us per delivered event, one redis-server"),
        ("B11c", "cluster", "Redis CPU us per delivered event, Redis Cluster (all 6 nodes) vs one node"),
        ("B11w", "wait", "Redis CPU us per delivered event, primary + replica with WAIT 1 vs one node"),
    ):
        if name in cpu:
            baseline = None if name == "single" else single_cpu
            rows.append(figure_row(row_id, figure, "us", cpu[name].us_per_event, baseline, note=cpu_note(name)))
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 7; --quick 3)")
    parser.add_argument("--events", type=int, help="events per loop per round (default 1000; --quick 300)")
    parser.add_argument(
        "--cpu-events",
        type=int,
        help="deliveries in each Redis CPU pass (default 4000; --quick 1000): the kernel counts CPU in ticks",
    )
    parser.add_argument("--only", help=f"comma-separated rows (default all: {','.join(ALL_ROWS)})")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
