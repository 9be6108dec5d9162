"""`make bench`: every benchmark of issue 7, each in a child process of its own, in one table.

Usage: python -m bench.suite [--quick] [--only B1,B4] [--json-out rows.json]
Each row gives the figure measured, its baseline measured in the same run, their ratio, the
target and whether it is met. A benchmark that fails or overruns its time limit gives FAILED
rows and the suite goes on. Every module also runs alone: python -m bench.b1_handler_cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.processes import ChildFailed, bench_command, run_measured
from bench.results import FAILED, Row, exit_cleanly_on_sigterm, failed_row, read_rows, table_lines, write_rows


@dataclass(frozen=True)
class Benchmark:
    module: str
    row_ids: tuple[str, ...]
    figure: str
    time_limit_seconds: float


BENCHMARKS = (
    Benchmark("b1_handler_cost", ("B1", "B6a"), "handler cost vs redis-py loop; RSS", 240),
    Benchmark("b2_round_trips", ("B2",), "Redis round trips per event", 120),
    Benchmark("b3_outage_latency", ("B3a", "B3b"), "answers while Redis is stopped or hung", 240),
    Benchmark("b4_drain_rate", ("B4", "B6b"), "drain rate vs raw SQS; RSS", 600),
    Benchmark("b5_cold_start", ("B5",), "cold start vs hello-world", 240),
    Benchmark("b7_package_size", ("B7",), "deployment zip size", 240),
    Benchmark("b8_local_servers", ("B8a", "B8b", "B8c"), "local server vs chalice local and FastAPI", 300),
    Benchmark("b9_redrive_requests", ("B9",), "SQS requests per redriven record", 120),
    Benchmark("b10_cost", ("B10", "B10-outage"), "USD per million events, Redis up and all spilled", 180),
    Benchmark(
        "b11_production_redis",
        ("B1c", "B2c", "B1w", "B2w", "B11", "B11c", "B11w"),
        "Redis Cluster, WAIT 1 and Redis CPU per event",
        240,
    ),
)


def run_benchmark(benchmark: Benchmark, quick: bool, folder: str) -> list[Row]:
    rows_path = os.path.join(folder, f"{benchmark.module}.json")
    log_path = os.path.join(folder, f"{benchmark.module}.log")
    arguments = ["--json-out", rows_path, *(["--quick"] if quick else [])]
    try:
        run_measured(bench_command(benchmark.module, *arguments), os.environ, benchmark.time_limit_seconds, log_path)
        return read_rows(rows_path)
    except (ChildFailed, OSError, ValueError) as exc:
        with open(log_path, encoding="utf-8", errors="replace") as file:
            tail = file.read()[-2000:]
        if tail:
            print(tail, file=sys.stderr)
        return [failed_row(row_id, benchmark.figure, str(exc)) for row_id in benchmark.row_ids]


def names_row(wanted: str, row_id: str) -> bool:
    """`B3` names B3a and B3b, `B1` names B1 and B1c but not B11 (the next character would be a
    digit: another row's number)."""
    row = row_id.upper()
    return row.startswith(wanted) and not row[len(wanted) : len(wanted) + 1].isdigit()


def header(quick: bool) -> str:
    return (
        f"Spillway benchmarks ({'quick' if quick else 'full'} run), {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, events and seconds (about 1 minute)")
    parser.add_argument("--only", help="comma-separated row ids or prefixes, e.g. B1,B3 (default: all)")
    parser.add_argument("--json-out", help="also write every row here as JSON")
    arguments = parser.parse_args()
    exit_cleanly_on_sigterm()
    wanted = [name.strip().upper() for name in arguments.only.split(",")] if arguments.only else None
    selected = [
        benchmark
        for benchmark in BENCHMARKS
        if wanted is None or any(names_row(prefix, row_id) for row_id in benchmark.row_ids for prefix in wanted)
    ]
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="spillway-bench-suite-") as folder:
        for benchmark in selected:
            benchmark_started = time.monotonic()
            print(f"{benchmark.module}: {benchmark.figure} ...", end="", flush=True)
            rows += run_benchmark(benchmark, arguments.quick, folder)
            print(f" {time.monotonic() - benchmark_started:.0f} s", flush=True)
    rows.sort(key=lambda row: row.id)
    if arguments.json_out:
        write_rows(arguments.json_out, rows)
    print()
    print(header(arguments.quick))
    print()
    print("\n".join(table_lines(rows)))
    met = sum(row.met is True for row in rows)
    with_target = sum(row.met is not None for row in rows)
    print(f"\n{met} of {with_target} targets met; {time.monotonic() - started:.0f} s in all")
    return 1 if any(row.note.startswith(FAILED) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
