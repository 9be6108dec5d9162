"""`make bench-local`: stock `chalice local` against Spillway's local server, same app and load.

16 keep-alive connections posting a 1 KB JSON webhook to a real Redis; req/s, p50, p99 and
the ratio of the two, measured back to back in one run (the machine is shared and noisy:
read the ratio, not the absolute numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.http_load import LoadResult, run_load
from devstack.ports import free_port, wait_for_port
from devstack.redis_server import RedisServer

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def kilobyte_json() -> bytes:
    body = {"action": "opened", "repository": {"full_name": "acme/widgets"}, "padding": ""}
    body["padding"] = "x" * (1024 - len(json.dumps(body)))
    return json.dumps(body).encode()


@contextmanager
def serving(command: list[str], port: int, environ: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_for_port("127.0.0.1", port, timeout=30):
            raise RuntimeError(f"{command[0]} did not listen on {port}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def measure(command: list[str], port: int, environ: dict[str, str], connections: int, seconds: float) -> LoadResult:
    body = kilobyte_json()
    with serving(command, port, environ):
        run_load("127.0.0.1", port, "/webhook/redis_test", body, connections=connections, seconds=1.0)
        return run_load("127.0.0.1", port, "/webhook/redis_test", body, connections=connections, seconds=seconds)


def server_environ(redis_server: RedisServer) -> dict[str, str]:
    """What a served app needs: the shipped webhooks.json aimed at this Redis, placeholder AWS
    credentials (the load never spills), and no per-request log noise beyond the metrics."""
    environ = {
        **os.environ,
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environ.pop("WEBHOOKS_CONFIG", None)
    return environ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="load per server (default 10)")
    parser.add_argument("--connections", type=int, default=16)
    arguments = parser.parse_args()
    with RedisServer() as redis_server:
        environ = server_environ(redis_server)
        stock_port, ours_port = free_port(), free_port()
        stock = measure(
            [os.path.join(BIN, "chalice"), "local", "--no-autoreload", "--stage", "local", "--port", str(stock_port)],
            stock_port,
            environ,
            arguments.connections,
            arguments.seconds,
        )
        ours = measure(
            [sys.executable, "-m", "scripts.serve_http", "--port", str(ours_port)],
            ours_port,
            environ,
            arguments.connections,
            arguments.seconds,
        )
    print(
        f"bench-local: {arguments.connections} keep-alive connections, 1 KB JSON, {arguments.seconds:.0f} s each, "
        "real Redis"
    )
    print(f"{'server':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, result in (("stock chalice local", stock), ("spillway local server", ours)):
        print(
            f"{name:<24} {result.requests_per_second:>8.0f} {result.p50_ms:>8.1f} {result.p99_ms:>8.1f} "
            f"{result.errors:>7}"
        )
    ratio = ours.requests_per_second / stock.requests_per_second if stock.requests_per_second else float("inf")
    print(f"ratio (spillway / stock req/s): {ratio:.1f}x  target >= 5x: {'met' if ratio >= 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
