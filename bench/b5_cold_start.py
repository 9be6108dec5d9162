"""B5: cold start, a fresh Python process importing app.py and answering its first request
(through the Chalice handler, GitHub signature checked, real Redis), against a bare Chalice
hello-world that imports redis (bench/hello_app/app.py). Runs alternate between the two apps;
each figure is the median.

Two settings:
- B5, compiled bytecode: the source trees as they are, with every .pyc cached (one discarded
  run of each app fills a cache folder of this run's, PYTHONPYCACHEPREFIX), as a warm
  developer machine has it.
- B5-zip, as on Lambda: each app run from its unzipped deployment package, where nothing new
  is written (Lambda's /var/task is read-only). Spillway's package is `make package`'s zip,
  which ships bytecode for everything in it (operations/bytecode.py); the hello-world's holds
  its app.py, chalice and redis as plain `chalice package` ships them, with no .pyc, so every
  cold start compiles them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass

from bench.b7_package_size import build_deployment_zip
from bench.cold_start_probe import RESULT_PREFIX
from bench.processes import BENCH_DIR, PROJECT_DIR, bench_command
from bench.relay_setup import bench_relay
from bench.results import Row, Target, benchmark_main, figure_row

COLD_START_TARGET = Target(1.2, at_most=True)
# Spillway's zip ships bytecode; a plain Chalice package does not (issue 16).
ZIP_COLD_START_TARGET = Target(0.9, at_most=True)
SPILLWAY_APP = os.path.join(PROJECT_DIR, "app.py")
HELLO_APP = os.path.join(BENCH_DIR, "hello_app", "app.py")
# What the hello-world's own package would hold besides its app.py: Chalice's runtime and redis.
HELLO_PACKAGE_ENTRIES = ("chalice", "redis", "redis-")
PROBE_TIMEOUT_SECONDS = 60
IMPORTTIME_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)")


@dataclass(frozen=True)
class ColdStart:
    import_ms: float
    first_request_ms: float
    total_ms: float
    boto3_imported: bool


def cold_start(app_path: str, environ: dict[str, str]) -> ColdStart:
    completed = subprocess.run(
        bench_command("cold_start_probe", app_path),
        cwd=PROJECT_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"cold start of {app_path} failed ({completed.returncode}): {completed.stderr[-500:]}")
    result = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    if result["status"] != 200:
        raise RuntimeError(f"{app_path} answered its first request {result['status']}: {result['body']}")
    return ColdStart(result["import_ms"], result["first_request_ms"], result["total_ms"], result["boto3_imported"])


def imported_modules(app_path: str, environ: dict[str, str]) -> dict[str, int]:
    """Module -> its own import time in microseconds, from one cold start under `-X importtime`."""
    command = bench_command("cold_start_probe", app_path)
    completed = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        cwd=PROJECT_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    modules: dict[str, int] = {}
    for line in completed.stderr.splitlines():
        # "import time:  self [us] | cumulative | imported package"
        match = IMPORTTIME_LINE.match(line)
        if match:
            modules[match.group(2)] = int(match.group(1))
    return modules


def import_offenders(spillway_app: str, hello_app: str, environ: dict[str, str], count: int = 6) -> str:
    """What Spillway's cold start imports that the hello-world's does not, the slowest first."""
    hello = imported_modules(hello_app, environ)
    extra = {name: micros for name, micros in imported_modules(spillway_app, environ).items() if name not in hello}
    slowest = sorted(extra.items(), key=lambda item: -item[1])[:count]
    listed = ", ".join(f"{name} {micros / 1000:.1f}" for name, micros in slowest)
    total_ms = sum(extra.values()) / 1000
    return f"-X importtime: {len(extra)} modules beyond hello-world's, {total_ms:.0f} ms; slowest (ms) {listed}"


def alternate(
    spillway_app: str, hello_app: str, environ: dict[str, str], runs: int
) -> tuple[list[ColdStart], list[ColdStart]]:
    spillway: list[ColdStart] = []
    hello: list[ColdStart] = []
    for index in range(runs):
        pair = [(spillway_app, spillway), (hello_app, hello)]
        for app_path, results in pair if index % 2 == 0 else pair[::-1]:
            results.append(cold_start(app_path, environ))
    return spillway, hello


def compiled_environment(environ: dict[str, str], cache_folder: str) -> dict[str, str]:
    compiled = {**environ, "PYTHONPYCACHEPREFIX": cache_folder}
    compiled.pop("PYTHONDONTWRITEBYTECODE", None)
    return compiled


def uncompiled_environment(environ: dict[str, str]) -> dict[str, str]:
    """The standard library keeps its .pyc, as Lambda's runtime has them; nothing new is written."""
    uncompiled = {**environ, "PYTHONDONTWRITEBYTECODE": "1"}
    uncompiled.pop("PYTHONPYCACHEPREFIX", None)
    return uncompiled


def unpack_deployments(folder: str) -> tuple[str, str]:
    """Spillway's deployment.zip unzipped, and the hello-world's package beside it: their app.py paths."""
    spillway_dir = os.path.join(folder, "spillway-package")
    hello_dir = os.path.join(folder, "hello-package")
    with zipfile.ZipFile(build_deployment_zip(os.path.join(folder, "build"))) as archive:
        archive.extractall(spillway_dir)
    os.makedirs(hello_dir)
    shutil.copy2(HELLO_APP, hello_dir)
    for entry in os.listdir(spillway_dir):
        if entry in HELLO_PACKAGE_ENTRIES or entry.startswith(HELLO_PACKAGE_ENTRIES[-1]):
            # The bytecode is make package's addition: `chalice package` alone ships none.
            shutil.copytree(
                os.path.join(spillway_dir, entry),
                os.path.join(hello_dir, entry),
                ignore=shutil.ignore_patterns("__pycache__"),
            )
    return os.path.join(spillway_dir, "app.py"), os.path.join(hello_dir, "app.py")


def median(results: list[ColdStart], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


def cold_start_row(
    row_id: str, figure: str, target: Target, spillway: list[ColdStart], hello: list[ColdStart], *, offenders: str = ""
) -> Row:
    return figure_row(
        row_id,
        figure,
        "ms",
        median(spillway, "total_ms"),
        median(hello, "total_ms"),
        target=target,
        note=(
            f"median of {len(spillway)} runs each; Spillway import {median(spillway, 'import_ms'):.0f} ms + first "
            f"request {median(spillway, 'first_request_ms'):.1f} ms, hello-world {median(hello, 'import_ms'):.0f} + "
            f"{median(hello, 'first_request_ms'):.1f} ms; boto3 imported by Spillway's cold start: "
            f"{'yes' if any(result.boto3_imported for result in spillway) else 'no'}"
            + (f"; {offenders}" if offenders else "")
        ),
    )


def run(arguments: argparse.Namespace) -> list[Row]:
    runs = arguments.runs or (5 if arguments.quick else 15)
    with bench_relay() as relay, tempfile.TemporaryDirectory(prefix="spillway-b5-") as folder:
        compiled = compiled_environment(relay.environ, os.path.join(folder, "pycache"))
        cold_start(SPILLWAY_APP, compiled)
        cold_start(HELLO_APP, compiled)
        warm = alternate(SPILLWAY_APP, HELLO_APP, compiled, runs)
        offenders = import_offenders(SPILLWAY_APP, HELLO_APP, compiled)
        spillway_package, hello_package = unpack_deployments(folder)
        zipped = alternate(spillway_package, hello_package, uncompiled_environment(relay.environ), runs)
    return [
        cold_start_row(
            "B5", "cold start (import + 1st request) vs hello-world", COLD_START_TARGET, *warm, offenders=offenders
        ),
        cold_start_row(
            "B5-zip", "cold start from the deployment zip vs hello-world's (Lambda)", ZIP_COLD_START_TARGET, *zipped
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="cold starts of each app per setting (default 15; --quick 5)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
