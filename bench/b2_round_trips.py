"""B2: Redis round trips per delivered event, through the Chalice handler.

INFO commandstats counts every command Redis ran, those a Lua script ran included (EVALSHA
1, and then EXISTS, XADD, PUBLISH, SET, HINCRBY once each). So its deltas alone cannot tell
round trips: MONITOR, watching the same deliveries, names each command's source ("lua" for a
script's), and a round trip is a command a client sent. The first delivery of a process is
reported apart: redis-py sends EVALSHA, gets NOSCRIPT, then SCRIPT LOAD and EVALSHA again.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from bench.api_gateway import GithubDeliveries, LambdaContext
from bench.relay_setup import bench_relay, load_app_in_process
from bench.results import Row, Target, benchmark_main, figure_row

ROUND_TRIP_TARGET = Target(1, at_most=True, on_ratio=False)
START_MARKER = "spillway-bench-b2-start"
END_MARKER = "spillway-bench-b2-end"
MONITOR_TIMEOUT_SECONDS = 30


def command_calls(client: redis.Redis) -> Counter[str]:
    return Counter(
        {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in client.info("commandstats").items()}
    )


class CommandWatch:
    """MONITOR between two ECHO markers, in a thread: commands counted by name and by source."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.sent_by_clients: Counter[str] = Counter()
        self.run_by_scripts: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="b2-monitor", daemon=True)

    def __enter__(self) -> CommandWatch:
        self._thread.start()
        if not self._listening.wait(MONITOR_TIMEOUT_SECONDS):
            raise RuntimeError("MONITOR did not start")
        self.client.echo(START_MARKER)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.echo(END_MARKER)
        self._thread.join(MONITOR_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError("MONITOR did not see the end marker")
        if self.error is not None:
            raise self.error

    def _watch(self) -> None:
        try:
            with self.client.monitor() as monitor:  # type: ignore[no-untyped-call]
                self._listening.set()
                started = False
                while True:
                    entry = monitor.next_command()
                    command = str(entry["command"])
                    name = command.split(" ", 1)[0].lower()
                    if command == f"ECHO {START_MARKER}":
                        started = True
                    elif command == f"ECHO {END_MARKER}":
                        return
                    elif started:
                        source = self.run_by_scripts if entry["client_type"] == "lua" else self.sent_by_clients
                        source[name] += 1
        except BaseException as exc:
            self.error = exc
            self._listening.set()


def watch_deliveries(client: redis.Redis, deliver: Callable[[], None]) -> tuple[CommandWatch, Counter[str]]:
    # MONITOR connects (HELLO and all) before the first INFO, so only that INFO is the watch's own.
    with CommandWatch(client) as watch:
        before = command_calls(client)
        deliver()
        after = command_calls(client)
    calls = after - before
    calls.pop("info", None)
    watch.sent_by_clients.pop("info", None)
    return watch, calls


def per_event(counter: Counter[str], events: int) -> str:
    return ", ".join(f"{name} {count / events:g}" for name, count in sorted(counter.items()))


def run(arguments: argparse.Namespace) -> list[Row]:
    events = arguments.events or (50 if arguments.quick else 200)
    with bench_relay() as relay:
        app = load_app_in_process(relay)
        deliveries = GithubDeliveries()
        context = LambdaContext()
        client = redis.Redis(
            host=relay.redis_server.host, port=relay.redis_server.port, socket_timeout=MONITOR_TIMEOUT_SECONDS
        )
        answers: list[dict[str, Any]] = []

        def deliver(count: int) -> Callable[[], None]:
            return lambda: answers.extend(app(deliveries.next_event(), context) for _ in range(count))

        try:
            first_watch, _ = watch_deliveries(client, deliver(1))
            watch, calls = watch_deliveries(client, deliver(events))
        finally:
            client.close()
    refused = [answer for answer in answers if answer["statusCode"] != 200]
    if refused:
        raise RuntimeError(f"{len(refused)} deliveries were not answered 200: {refused[0]}")
    round_trips = sum(watch.sent_by_clients.values()) / events
    return [
        figure_row(
            "B2",
            "Redis round trips per delivered event",
            "",
            round_trips,
            target=ROUND_TRIP_TARGET,
            note=(
                f"{events} deliveries. Sent by the client: {per_event(watch.sent_by_clients, events)}; "
                f"run inside the script: {per_event(watch.run_by_scripts, events)}; "
                f"INFO commandstats calls: {per_event(calls, events)} "
                f"({sum(calls.values()) / events:g} per event, script commands included). "
                f"First delivery of the process: {sum(first_watch.sent_by_clients.values())} round trips "
                f"({per_event(first_watch.sent_by_clients, 1)})"
            ),
        )
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="deliveries watched (default 200; --quick 50)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
