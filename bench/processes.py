"""Child processes the benchmarks start: each bounded in time, measured, and always stopped."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.ports import free_port, port_accepts

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(PROJECT_DIR, "bench")
# SIGTERM first, so a benchmark's own `finally` stops what it started; SIGKILL after this long.
TERMINATE_GRACE_SECONDS = 10.0


class ChildFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    seconds: float
    max_rss_mb: float
    stdout: str


def bench_command(module: str, *arguments: str) -> list[str]:
    """bench/<module>.py as a module: the child needs cwd=PROJECT_DIR, as run_measured gives it."""
    return [sys.executable, "-m", f"bench.{module}", *arguments]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=TERMINATE_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=TERMINATE_GRACE_SECONDS)


def run_measured(
    command: Sequence[str], environ: Mapping[str, str], timeout: float, stdout_path: str | None = None
) -> ChildRun:
    """Runs a child to its end (SIGTERM, then SIGKILL, past `timeout`); its peak RSS comes from
    wait4's rusage, which counts that process alone, not the ones it started."""
    started = time.monotonic()
    with open(stdout_path or os.devnull, "wb") as output:
        process = subprocess.Popen(list(command), cwd=PROJECT_DIR, env=dict(environ), stdout=output)
        try:
            status, rusage = _wait_until(process, started + timeout)
        finally:
            stop_process(process)
    seconds = time.monotonic() - started
    text = ""
    if stdout_path is not None:
        with open(stdout_path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    returncode = os.waitstatus_to_exitcode(status)
    if returncode != 0:
        raise ChildFailed(f"{' '.join(command[:2])} exited with {returncode}")
    # ru_maxrss is in kilobytes on Linux.
    return ChildRun(returncode, seconds, rusage.ru_maxrss / 1024, text)


def _wait_until(process: subprocess.Popen[bytes], deadline: float) -> tuple[int, resource.struct_rusage]:
    while True:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            # Tell Popen, so its own wait() and __del__ do not look for the reaped child.
            process.returncode = os.waitstatus_to_exitcode(status)
            return status, rusage
        if time.monotonic() > deadline:
            process.send_signal(signal.SIGTERM)
            raise ChildFailed(f"{process.args!r} still running at its deadline")
        time.sleep(0.02)


@contextmanager
def moto_sqs_process(timeout: float = 30.0) -> Iterator[str]:
    """moto's server in a process of its own, yielding its URL. Not devstack's in-process
    MotoSqsServer: there its CPU would share the relay's GIL and its memory the relay's RSS."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        # A benchmark empties its queue more often than the once a minute SQS allows.
        env={**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        # Not devstack.moto_sqs.endpoint_answers: importing that module imports moto, and moto boto3.
        while not port_accepts("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ChildFailed(f"moto server did not answer on {url}")
            time.sleep(0.05)
        yield url
    finally:
        stop_process(process)
