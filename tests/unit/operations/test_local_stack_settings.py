"""The local stack's settings file: read by the tools only while its stack runs, never over what is set."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from chalicelib.config.loader import load_config
from operations.local_stack_settings import LocalStackSettings, remove_settings, use_local_stack, write_settings
from tests.chalice_project import PROJECT_ROOT


def settings(stack_pid: int) -> LocalStackSettings:
    return LocalStackSettings(
        stack_pid=stack_pid,
        http_url="http://127.0.0.1:8000",
        sqs_endpoint="http://127.0.0.1:4566",
        region="us-east-1",
        access_key_id="local",
        secret_access_key="local",
        retry_queue_name="spillway-retry",
        dead_letter_queue_name="spillway-dead-letter",
        redis_url="redis://127.0.0.1:6379/0",
        redis_pid=None,
        redis_data_dir=None,
    )


def test_a_tool_with_nothing_set_gets_the_running_stacks_endpoint_region_credentials_and_queues(
    tmp_path: Path,
) -> None:
    # given a running stack's file (this process plays the stack)
    path = str(tmp_path / "local-stack.json")
    write_settings(settings(os.getpid()), path)
    environ: dict[str, str] = {"DEAD_LETTER_QUEUE_NAME": "mine"}
    note = io.StringIO()
    # when
    use_local_stack(environ, path, note)
    # then what was unset comes from the file, what was set stays, and the tool says which endpoint
    assert environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert environ["AWS_DEFAULT_REGION"] == "us-east-1" and environ["AWS_ACCESS_KEY_ID"] == "local"
    assert environ["DEAD_LETTER_QUEUE_NAME"] == "mine"
    assert note.getvalue() == f"using the local stack's SQS at http://127.0.0.1:4566 (settings from {path})\n"


def test_a_remote_endpoint_is_never_pointed_at_the_local_stack(tmp_path: Path) -> None:
    # given
    path = str(tmp_path / "local-stack.json")
    write_settings(settings(os.getpid()), path)
    environ = {"AWS_ENDPOINT_URL": "https://sqs.eu-west-1.amazonaws.com"}
    # when / then
    assert use_local_stack(environ, path, None) is None
    assert environ == {"AWS_ENDPOINT_URL": "https://sqs.eu-west-1.amazonaws.com"}


def test_the_file_of_a_stack_that_is_gone_is_ignored(tmp_path: Path) -> None:
    # given a file whose stack was SIGKILLed (it could not remove it)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    path = str(tmp_path / "local-stack.json")
    write_settings(settings(gone.pid), path)
    environ: dict[str, str] = {}
    # when / then
    assert use_local_stack(environ, path, None) is None
    assert environ == {}


def test_only_the_stack_that_wrote_the_file_removes_it(tmp_path: Path) -> None:
    # given another (running) stack's file
    path = tmp_path / "local-stack.json"
    write_settings(settings(os.getppid()), str(path))
    # when a stack that failed to start cleans up
    remove_settings(str(path))
    # then the running stack's file stays
    assert path.exists()


def test_a_tool_beside_a_cluster_stack_reads_the_shipped_webhooks_json_as_the_relay_does(tmp_path: Path) -> None:
    # given a running `make run CLUSTER=1`, its nodes on ports of their own
    path = str(tmp_path / "local-stack.json")
    cluster = replace(settings(os.getpid()), redis_url="redis://127.0.0.1:30001/0", redis_cluster_pids=[11, 12, 13])
    write_settings(cluster, path)
    environ: dict[str, str] = {}

    # when a tool (make watch, make dlq) in another terminal fills in what is not set
    use_local_stack(environ, path, None)
    config = load_config(str(PROJECT_ROOT / "webhooks.json"), environ)

    # then each shipped webhook names the cluster, as the relay the stack runs reads it
    connections = {webhook.redis.connection for webhook in config.webhooks.values()}
    assert [(connection.host, connection.port, connection.cluster) for connection in connections] == [
        ("127.0.0.1", 30001, True)
    ]


def test_a_tool_beside_a_single_redis_stack_reads_its_host_and_port(tmp_path: Path) -> None:
    # given a running stack on a Redis at another port, no cluster
    path = str(tmp_path / "local-stack.json")
    write_settings(replace(settings(os.getpid()), redis_url="redis://127.0.0.1:6390/0"), path)
    environ: dict[str, str] = {}
    # when
    use_local_stack(environ, path, None)
    # then
    assert (environ["REDIS_HOST"], environ["REDIS_PORT"]) == ("127.0.0.1", "6390")
    assert "REDIS_CLUSTER" not in environ
