"""Stop and start the Redis that `make run` started: `make redis-stop`, `make redis-start`.

Both read the running stack's settings (.run/local-stack.json). stop sends the redis-server
SIGTERM (a clean shutdown: its append-only file keeps what it acknowledged), and the stack logs
its exit; start asks the stack (SIGUSR1) to start it again on the same port and data
directory, so the stack still owns it and Ctrl-C still stops it. With `make run CLUSTER=1`
both act on every node of the stack's Redis Cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence

from devstack.stack import redis_answers
from operations.local_stack_settings import SETTINGS_FILE, LocalStackSettings, read_settings

ANSWER_TIMEOUT_SECONDS = 15.0


def _wait_until(answering: bool, url: str) -> bool:
    deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if redis_answers(url) == answering:
            return True
        time.sleep(0.1)
    return False


def stop(settings: LocalStackSettings) -> int:
    assert settings.redis_pid is not None
    try:
        os.kill(settings.redis_pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"redis-server (PID {settings.redis_pid}) is not running; start it again: make redis-start")
        return 0
    if not _wait_until(False, settings.redis_url):
        print(
            f"redis-server (PID {settings.redis_pid}) still answers after {ANSWER_TIMEOUT_SECONDS:g} s", file=sys.stderr
        )
        return 1
    print(
        f"stopped redis-server (PID {settings.redis_pid}, {settings.redis_url}): webhooks now spill to the "
        "retry queue (202); start it again: make redis-start"
    )
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_cluster(pids: list[int]) -> int:
    """SIGTERM to every node; done once the stack has reaped them all (it does twice a second)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            print(f"cluster nodes still running after {ANSWER_TIMEOUT_SECONDS:g} s", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(
        f"stopped the Redis Cluster (redis-server PIDs {', '.join(map(str, pids))}): webhooks now spill to the "
        "retry queue (202); start it again: make redis-start"
    )
    return 0


def start_cluster(settings: LocalStackSettings, pids: list[int]) -> int:
    """SIGUSR1: the stack starts its stopped nodes and rewrites its settings once the cluster is healthy."""
    if all(_alive(pid) for pid in pids):
        print(f"the Redis Cluster is running (redis-server PIDs {', '.join(map(str, pids))})")
        return 0
    os.kill(settings.stack_pid, signal.SIGUSR1)
    deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS * 2
    while time.monotonic() < deadline:
        restarted = read_settings()
        if restarted is not None and restarted.redis_cluster_pids and restarted.redis_cluster_pids != pids:
            new_pids = ", ".join(map(str, restarted.redis_cluster_pids))
            print(f"the Redis Cluster answers again (redis-server PIDs {new_pids}); the drain delivers what spilled")
            return 0
        time.sleep(0.2)
    print(f"the Redis Cluster was not healthy again within {ANSWER_TIMEOUT_SECONDS * 2:g} s", file=sys.stderr)
    return 1


def start(settings: LocalStackSettings) -> int:
    if redis_answers(settings.redis_url):
        print(f"Redis already answers at {settings.redis_url}")
        return 0
    os.kill(settings.stack_pid, signal.SIGUSR1)
    if not _wait_until(True, settings.redis_url):
        print(f"Redis did not answer at {settings.redis_url} within {ANSWER_TIMEOUT_SECONDS:g} s", file=sys.stderr)
        return 1
    restarted = read_settings()
    pid = f"PID {restarted.redis_pid}, " if restarted is not None else ""
    print(f"redis-server answers again ({pid}{settings.redis_url}); the drain delivers what spilled")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local_redis", description=__doc__)
    parser.add_argument("action", choices=("stop", "start"))
    action = parser.parse_args(argv).action
    settings = read_settings()
    if settings is None:
        print(
            f"no local stack is running here ({SETTINGS_FILE} is missing or stale): start one with make run",
            file=sys.stderr,
        )
        return 1
    if settings.redis_cluster_pids:
        pids = settings.redis_cluster_pids
        return stop_cluster(pids) if action == "stop" else start_cluster(settings, pids)
    if settings.redis_pid is None:
        print(
            f"the local stack did not start the Redis at {settings.redis_url}, it found it running: "
            f"{action} it where it runs (e.g. `redis-cli -u {settings.redis_url} shutdown` to stop it)",
            file=sys.stderr,
        )
        return 1
    return stop(settings) if action == "stop" else start(settings)


if __name__ == "__main__":
    sys.exit(main())
