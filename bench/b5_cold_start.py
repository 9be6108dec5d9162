"""B5: cold start, a fresh Python process importing app.py and answering its first request
(through the Chalice handler, GitHub signature checked, real Redis), against a bare Chalice
hello-world that imports redis (bench/hello_app/app.py). Runs alternate between the two apps;
each figure is the median.

Two settings:
- B5, compiled bytecode: the source trees as they are, with every .pyc cached (one discarded
  run of each app fills a cache folder of this run's, PYTHONPYCACHEPREFIX), as a warm
  developer machine has it.
- B5-zip, as on Lambda: each app run from its unzipped deployment package with no .pyc for
  it. `chalice package` ships none and Lambda's /var/task is read-only, so every cold start
  compiles app.py, chalicelib and the vendored libraries (redis, chalice). Spillway's package
  is `make package`'s zip; the hello-world's holds its app.py, chalice and redis.
"""

from __future__ import annotations

import argparse
import json
import os
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
SPILLWAY_APP = os.path.join(PROJECT_DIR, "app.py")
HELLO_APP = os.path.join(BENCH_DIR, "hello_app", "app.py")
# What the hello-world's own package would hold besides its app.py: Chalice's runtime and redis.
HELLO_PACKAGE_ENTRIES = ("chalice", "redis", "redis-")
PROBE_TIMEOUT_SECONDS = 60


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
            shutil.copytree(os.path.join(spillway_dir, entry), os.path.join(hello_dir, entry))
    return os.path.join(spillway_dir, "app.py"), os.path.join(hello_dir, "app.py")


def median(results: list[ColdStart], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


def cold_start_row(row_id: str, figure: str, spillway: list[ColdStart], hello: list[ColdStart]) -> Row:
    return figure_row(
        row_id,
        figure,
        "ms",
        median(spillway, "total_ms"),
        median(hello, "total_ms"),
        target=COLD_START_TARGET,
        note=(
            f"median of {len(spillway)} runs each; Spillway import {median(spillway, 'import_ms'):.0f} ms + first "
            f"request {median(spillway, 'first_request_ms'):.1f} ms, hello-world {median(hello, 'import_ms'):.0f} + "
            f"{median(hello, 'first_request_ms'):.1f} ms; boto3 imported by Spillway's cold start: "
            f"{'yes' if any(result.boto3_imported for result in spillway) else 'no'}"
        ),
    )


def run(arguments: argparse.Namespace) -> list[Row]:
    runs = arguments.runs or (5 if arguments.quick else 15)
    with bench_relay() as relay, tempfile.TemporaryDirectory(prefix="spillway-b5-") as folder:
        compiled = compiled_environment(relay.environ, os.path.join(folder, "pycache"))
        cold_start(SPILLWAY_APP, compiled)
        cold_start(HELLO_APP, compiled)
        warm = alternate(SPILLWAY_APP, HELLO_APP, compiled, runs)
        spillway_package, hello_package = unpack_deployments(folder)
        zipped = alternate(spillway_package, hello_package, uncompiled_environment(relay.environ), runs)
    return [
        cold_start_row("B5", "cold start (import + 1st request) vs hello-world", *warm),
        cold_start_row("B5-zip", "cold start from the deployment zip, no .pyc (Lambda)", *zipped),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="cold starts of each app per setting (default 15; --quick 5)")
    return parser


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run, build_parser()))
