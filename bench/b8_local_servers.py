"""B8: Spillway's local HTTP server (scripts/serve_http.py) in req/s and p99, against stock
`chalice local` and against FastAPI + uvicorn with 1 worker doing the same work
(bench/fastapi_app.py). Same app logic, same real Redis, the seed's redis_test webhook, 16
keep-alive connections posting 1 KB of JSON (bench/local_server.py measures the first pair
alone: `make bench-local`).

The three servers run side by side, idle but for the one under load; rounds load each in turn,
in an order that reverses every round, and each figure is the median of its rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from contextlib import ExitStack

from bench.http_load import LoadResult, run_load
from bench.local_server import BIN, kilobyte_json, server_environ, serving
from bench.results import Row, Target, benchmark_main, figure_row
from devstack.ports import free_port
from devstack.redis_server import RedisServer

STOCK_TARGET = Target(5, at_most=False)
FASTAPI_TARGET = Target(0.8, at_most=False)


STOCK = "stock chalice local"
SPILLWAY = "spillway local server"
FASTAPI = "FastAPI + uvicorn"
WEBHOOK_PATH = "/webhook/redis_test"
WARM_UP_SECONDS = 1.0


def server_commands(port: int) -> dict[str, list[str]]:
    return {
        STOCK: [
            os.path.join(BIN, "chalice"),
            "local",
            "--no-autoreload",
            "--stage",
            "local",
            "--port",
            str(port),
        ],
        SPILLWAY: [sys.executable, "-m", "scripts.serve_http", "--port", str(port)],
        FASTAPI: [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.fastapi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    }


def describe(name: str, result: LoadResult) -> str:
    errors = f", {result.errors} errors" if result.errors else ""
    rate = f"{result.requests_per_second:,.0f} req/s"
    return f"{name} {rate}, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms{errors}"


def median_result(rounds: list[LoadResult]) -> LoadResult:
    return LoadResult(
        tool=rounds[0].tool,
        requests_per_second=statistics.median(result.requests_per_second for result in rounds),
        p50_ms=statistics.median(result.p50_ms for result in rounds),
        p99_ms=statistics.median(result.p99_ms for result in rounds),
        errors=sum(result.errors for result in rounds),
    )


def measure_side_by_side(
    environ: dict[str, str], rounds: int, seconds: float, connections: int
) -> dict[str, LoadResult]:
    body = kilobyte_json()
    ports = {name: free_port() for name in (STOCK, SPILLWAY, FASTAPI)}
    results: dict[str, list[LoadResult]] = {name: [] for name in ports}
    with ExitStack() as servers:
        for name, port in ports.items():
            servers.enter_context(serving(server_commands(port)[name], port, environ))
            run_load("127.0.0.1", port, WEBHOOK_PATH, body, connections=connections, seconds=WARM_UP_SECONDS)
        order = list(ports)
        for round_index in range(rounds):
            for name in order if round_index % 2 == 0 else order[::-1]:
                results[name].append(
                    run_load("127.0.0.1", ports[name], WEBHOOK_PATH, body, connections=connections, seconds=seconds)
                )
    return {name: median_result(rounds) for name, rounds in results.items()}


def run(arguments: argparse.Namespace) -> list[Row]:
    rounds = arguments.rounds or (2 if arguments.quick else 3)
    seconds = arguments.seconds or (2.0 if arguments.quick else 4.0)
    with RedisServer() as redis_server:
        results = measure_side_by_side(server_environ(redis_server), rounds, seconds, arguments.connections)
    ours, stock, fastapi = results[SPILLWAY], results[STOCK], results[FASTAPI]
    load = (
        f"{arguments.connections} keep-alive connections, 1 KB JSON, median of {rounds} rounds x {seconds:g} s "
        f"per server, load from {ours.tool}"
    )
    return [
        figure_row(
            "B8a",
            "local server req/s vs stock `chalice local`",
            "req/s",
            ours.requests_per_second,
            stock.requests_per_second,
            target=STOCK_TARGET,
            note=f"{load}; {describe('stock', stock)}; {describe('spillway', ours)}",
        ),
        figure_row(
            "B8b",
            "local server req/s vs FastAPI + uvicorn",
            "req/s",
            ours.requests_per_second,
            fastapi.requests_per_second,
            target=FASTAPI_TARGET,
            note=f"{describe('FastAPI', fastapi)}; uvicorn with uvloop and httptools, door.receive called in the "
            "async endpoint (no threadpool)",
        ),
        figure_row(
            "B8c",
            "local server p99 latency vs FastAPI + uvicorn",
            "ms",
            ours.p99_ms,
            fastapi.p99_ms,
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="load rounds per server (default 3; --quick 2)")
    parser.add_argument("--seconds", type=float, help="load per server per round (default 4; --quick 2)")
    parser.add_argument("--connections", type=int, default=16)
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
