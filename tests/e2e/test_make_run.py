"""`make run` (scripts/run_local.py) as a person meets it, in a process of its own: what it says
when a named endpoint is silent or webhooks.json is broken, the tools beside it with nothing
exported, a dead Redis reported by PID, `make redis-stop`/`redis-start`, `make chalice-local`."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest
import redis

from devstack.moto_sqs import MotoSqsServer
from devstack.ports import free_port, port_accepts
from devstack.stack import redis_answers

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 60.0
SETTINGS = Path(".run") / "local-stack.json"


def clean_environ(**overrides: str) -> dict[str, str]:
    """A new terminal's environment: nothing about AWS, Redis or the relay exported."""
    prefixes = ("AWS_", "REDIS_", "LOG_", "WEBHOOKS_CONFIG", "PORT", "RETRY_QUEUE", "DEAD_LETTER_QUEUE")
    environ = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    return {**environ, "PYTHONPATH": str(PROJECT_ROOT), **overrides}


def run_module(
    module: str, args: Sequence[str], cwd: Path, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=90,
    )


class RunLocal:
    """`python -m scripts.run_local` in the foreground of its own process, its output read line by line."""

    def __init__(self, cwd: Path, environ: dict[str, str], args: Sequence[str] = ()) -> None:
        self.cwd = cwd
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_local", *args],
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._arrived: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._arrived.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._arrived.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self._arrived.empty():
                    break
                continue
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.lines))

    def settings(self) -> dict[str, Any]:
        return dict(json.loads((self.cwd / SETTINGS).read_text()))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)
        finally:
            self._reader.join(timeout=5)


@pytest.fixture
def sqs_endpoint() -> Iterator[str]:
    """moto's server on a free port: the stacks here never touch 4566, where a person's may run."""
    with MotoSqsServer(port=0) as server:
        server.reset()
        yield server.url


@pytest.fixture
def stack_environ(sqs_endpoint: str) -> dict[str, str]:
    return clean_environ(PORT=str(free_port()), REDIS_PORT=str(free_port()), AWS_ENDPOINT_URL=sqs_endpoint)


@pytest.fixture
def running_stack(tmp_path: Path, stack_environ: dict[str, str]) -> Iterator[RunLocal]:
    stack = RunLocal(tmp_path, stack_environ)
    stack.wait_for("Ctrl-C stops everything")
    yield stack
    stack.stop()


def post_webhook(http_url: str, body: dict[str, Any]) -> int:
    host, port = http_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "POST", "/webhook/redis_test", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def wait_for_stream_length(redis_url: str, length: int, timeout: float = 45.0) -> int:
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            seen = int(client.xlen("webhook_events"))
            if seen >= length or time.monotonic() > deadline:
                return seen
            time.sleep(0.3)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("variable", "silent_url"),
    [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:{port}"),
        ("REDIS_URL", "redis://127.0.0.1:{port}/0"),
    ],
)
def test_make_run_refuses_a_named_endpoint_that_does_not_answer_and_starts_no_stand_in(
    tmp_path: Path, variable: str, silent_url: str
) -> None:
    # given a variable naming a port where nothing listens
    port = free_port()
    url = silent_url.format(port=port)
    environ = clean_environ(PORT=str(free_port()), REDIS_PORT=str(free_port()), **{variable: url})
    # when
    run = run_module("scripts.run_local", [], tmp_path, environ)
    # then one line says which endpoint and which variable, and nothing took its place
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(rf"make run: .*{re.escape(url)} \({variable}\) does not answer", run.stderr), run.stderr
    assert "Traceback" not in run.stderr
    assert not port_accepts("127.0.0.1", port)
    assert not (tmp_path / SETTINGS).exists()


def test_make_run_waits_for_a_named_endpoint_only_as_long_as_asked(tmp_path: Path) -> None:
    # given an SQS endpoint that never answers, and a wait of one second
    silent = f"http://127.0.0.1:{free_port()}"
    environ = clean_environ(PORT=str(free_port()), REDIS_PORT=str(free_port()), AWS_ENDPOINT_URL=silent)
    # when
    run = run_module("scripts.run_local", ["--wait-for-endpoints", "1"], tmp_path, environ)
    # then
    assert run.returncode == 1
    assert f"{silent} (AWS_ENDPOINT_URL) did not answer within 1 s" in run.stderr


def test_make_run_with_an_invalid_webhooks_json_exits_non_zero_with_config_invalid(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    # given a webhooks.json that is not JSON
    config = tmp_path / "webhooks.json"
    config.write_text("{not json")
    redis_port = int(stack_environ["REDIS_PORT"])
    # when
    run = run_module("scripts.run_local", [], tmp_path, {**stack_environ, "WEBHOOKS_CONFIG": str(config)})
    # then it names the file and how to start anyway, and leaves nothing running
    assert run.returncode == 1
    assert re.search(r"make run: CONFIG INVALID: .*webhooks\.json", run.stderr), run.stderr
    assert "--allow-invalid-config" in run.stderr
    assert "Try:" not in run.stdout
    assert not port_accepts("127.0.0.1", redis_port)


def test_make_run_allowed_to_start_with_an_invalid_config_says_config_invalid_in_its_banner(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    # given
    config = tmp_path / "webhooks.json"
    config.write_text("{not json")
    environ = {**stack_environ, "WEBHOOKS_CONFIG": str(config)}
    stack = RunLocal(tmp_path, environ, ["--allow-invalid-config"])
    try:
        # when
        stack.wait_for(r"^CONFIG INVALID: .*webhooks\.json")
        stack.wait_for("Ctrl-C stops everything")
        status = post_webhook(stack.settings()["http_url"], {"n": 1})
    finally:
        code = stack.stop()
    # then
    assert status == 503
    assert not any(line.startswith("Try:") for line in stack.lines)
    assert code == 0


def test_dlq_and_bootstrap_beside_make_run_need_no_exported_variables(tmp_path: Path, running_stack: RunLocal) -> None:
    # given a new terminal: nothing exported
    terminal = clean_environ()
    # when
    listing = run_module("scripts.dlq", ["list"], tmp_path, terminal)
    bootstrap = run_module("scripts.bootstrap_queues", [], tmp_path, terminal)
    # then both reach the stack's queues, and say they do
    assert listing.returncode == 0, listing.stderr
    assert "0 message(s) on spillway-dead-letter" in listing.stdout
    assert "using the local stack's SQS" in listing.stderr
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert "spillway-retry" in bootstrap.stdout

    # when the stack stops
    assert running_stack.stop() == 0
    after = run_module("scripts.dlq", ["list"], tmp_path, terminal)
    # then its settings are gone, and the tool says in one line what to set
    assert not (tmp_path / SETTINGS).exists()
    assert after.returncode == 1
    assert after.stderr.startswith("error: SQS client: no AWS region: for AWS set AWS_DEFAULT_REGION")
    assert "Traceback" not in after.stderr


def test_a_killed_redis_is_logged_with_its_pid_and_redis_start_brings_it_back(
    tmp_path: Path, running_stack: RunLocal
) -> None:
    # given the Redis make run started
    settings = running_stack.settings()
    redis_pid, redis_url = settings["redis_pid"], settings["redis_url"]
    # when it crashes
    os.kill(redis_pid, signal.SIGKILL)
    # then the stack says so, naming its PID
    running_stack.wait_for(
        rf"redis-server \(PID {redis_pid}, .*exited with signal SIGKILL.*make redis-start", timeout=20
    )

    # when `make redis-start`
    started = run_module("scripts.local_redis", ["start"], tmp_path, clean_environ())
    # then it answers again, a new child of the stack's
    assert started.returncode == 0, started.stderr
    assert redis_answers(redis_url)
    new_pid = running_stack.settings()["redis_pid"]
    assert new_pid != redis_pid

    # when `make redis-stop`
    stopped = run_module("scripts.local_redis", ["stop"], tmp_path, clean_environ())
    # then it is down, and the stack reported that exit too
    assert stopped.returncode == 0, stopped.stderr
    assert not redis_answers(redis_url)
    running_stack.wait_for(rf"redis-server \(PID {new_pid}, .*exited with code 0", timeout=20)


def test_make_chalice_local_serves_stock_chalice_local_and_drains_what_spilled(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    # given stock `chalice local` with the stack's Redis, queues and drain
    stack = RunLocal(tmp_path, stack_environ, ["--chalice-local"])
    try:
        stack.wait_for(r"HTTP function .*stock `.*chalice local --stage local --no-autoreload`")
        stack.wait_for("Ctrl-C stops everything")
        settings = stack.settings()
        http_url, redis_url = settings["http_url"], settings["redis_url"]
        # when one webhook arrives with Redis up, and one while it is stopped
        inline = post_webhook(http_url, {"n": 1})
        assert run_module("scripts.local_redis", ["stop"], tmp_path, clean_environ()).returncode == 0
        spilled = post_webhook(http_url, {"n": 2})
        assert run_module("scripts.local_redis", ["start"], tmp_path, clean_environ()).returncode == 0
        # then the first is delivered at once, the second by the drain once Redis is back
        assert (inline, spilled) == (200, 202)
        assert wait_for_stream_length(redis_url, 2) == 2
        stack.wait_for(r"\d\d:\d\d:\d\d\.\d{3} 202 redis_test queued [\d.]+ ms", timeout=5)
    finally:
        code = stack.stop()
    assert code == 0
    assert not port_accepts("127.0.0.1", int(stack_environ["PORT"]))


def test_make_run_cluster_answers_200_and_spills_202_while_the_cluster_is_down(
    tmp_path: Path, stack_environ: dict[str, str]
) -> None:
    # given `make run CLUSTER=1`: a Redis Cluster of its own, the shipped webhooks in cluster mode
    stack = RunLocal(tmp_path, stack_environ, ["--cluster"])
    try:
        banner = stack.wait_for(r"Redis .*a Redis Cluster, 3 primaries \+ 3 replicas")
        stack.wait_for("Ctrl-C stops everything")
        settings = stack.settings()
        node_pids = [int(pid) for pid in re.findall(r"PID (\d+)", banner)]
        # when one webhook arrives with the cluster up, and one after `make redis-stop`
        inline = post_webhook(settings["http_url"], {"n": 1})
        stopped = run_module("scripts.local_redis", ["stop"], tmp_path, clean_environ())
        spilled = post_webhook(settings["http_url"], {"n": 2})
        # then the first is delivered at once and the second queued, each node's exit reported by PID
        assert stopped.returncode == 0, stopped.stderr
        assert (sorted(settings["redis_cluster_pids"]), inline, spilled) == (sorted(node_pids), 200, 202)
        stack.wait_for(rf"redis-server \(PID {node_pids[-1]}, .*cluster node\) exited with code 0", timeout=20)

        # when `make redis-start`
        started = run_module("scripts.local_redis", ["start"], tmp_path, clean_environ())
        # then the stack's nodes are back, and the drain delivers what spilled, into the cluster
        assert started.returncode == 0, started.stderr
        stack.wait_for(r"6 cluster node\(s\) started again", timeout=5)
        cluster = redis.RedisCluster.from_url(settings["redis_url"], socket_timeout=2)
        try:
            deadline = time.monotonic() + 45
            while int(cluster.xlen("webhook_events")) < 2 and time.monotonic() < deadline:
                time.sleep(0.3)
            delivered = [fields[b"event_id"] for _, fields in cluster.xrange("webhook_events")]
        finally:
            cluster.close()
        assert len(delivered) == len(set(delivered)) == 2
    finally:
        code = stack.stop()
    assert code == 0
    # and every node it started is stopped with it
    assert not any(port_accepts("127.0.0.1", int(port)) for port in re.findall(r"(\d+) PID", banner))
