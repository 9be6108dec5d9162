"""An SSM-held secret under `make run` (scripts/run_local.py), as issue 14's "Done when" has it:
a webhook whose GitHub secret is `${ssm:/...}` on the local stack's emulator verifies requests
signed with it, and after the parameter is rotated the new secret is taken and the old one
refused within SECRETS_REFRESH_SECONDS, with the same stack process (no restart). The signed
requests come from `make send`'s module in a terminal with nothing about AWS exported."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.moto_sqs import MotoSqsServer
from devstack.ports import free_port
from tests.e2e.test_make_run import PROJECT_ROOT, RunLocal, clean_environ, run_module

pytestmark = pytest.mark.e2e

PARAMETER = "/spillway/e2e/github-secret"
REGION = "us-east-1"
REFRESH_SECONDS = 1
# Bounds the wait for the rotation to be taken: many refresh periods, never a speed check.
ROTATION_WAIT_SECONDS = 30.0


@pytest.fixture
def emulator_url() -> Iterator[str]:
    """moto's server on a free port, as the stack's AWS endpoint (SQS, S3 and SSM alike): the
    parameter exists before the stack loads webhooks.json, and 4566 stays free for a person's."""
    with MotoSqsServer(port=0) as server:
        server.reset()
        yield server.url


def put_secret(emulator_url: str, value: str) -> None:
    ssm = boto3.client(
        "ssm",
        endpoint_url=emulator_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    ssm.put_parameter(Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True)


def config_with_ssm_secret(path: Path) -> Path:
    """The shipped webhooks.json plus `github_ssm`: github_example with its secret in SSM."""
    config: dict[str, Any] = json.loads((PROJECT_ROOT / "webhooks.json").read_text())
    webhook = json.loads(json.dumps(config["github_example"]))
    webhook["verify"]["secrets"] = [f"${{ssm:{PARAMETER}}}"]
    config["github_ssm"] = webhook
    path.write_text(json.dumps(config))
    return path


def send_status(cwd: Path, terminal: dict[str, str], http_url: str, *args: str) -> int:
    """The HTTP status `make send WEBHOOK=github_ssm` printed (0: nothing was sent)."""
    sent = run_module("scripts.send", ["github_ssm", "--url", http_url, *args], cwd, terminal)
    for line in sent.stdout.splitlines():
        if line.startswith("HTTP "):
            return int(line.split()[1])
    assert sent.returncode == 2, sent.stdout + sent.stderr
    return 0


def test_an_ssm_secret_rotated_on_the_local_stack_is_taken_without_a_restart(tmp_path: Path, emulator_url: str) -> None:
    # given a SecureString on the stack's emulator and a webhook whose GitHub secret names it
    put_secret(emulator_url, "old-secret")
    config = config_with_ssm_secret(tmp_path / "webhooks.json")
    stack_environ = clean_environ(
        PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
        AWS_ENDPOINT_URL=emulator_url,
        WEBHOOKS_CONFIG=str(config),
        SECRETS_REFRESH_SECONDS=str(REFRESH_SECONDS),
    )
    stack = RunLocal(tmp_path, stack_environ)
    try:
        stack.wait_for("Ctrl-C stops everything")
        http_url = stack.settings()["http_url"]
        # a new terminal: only the config's path, nothing about AWS (the stack's settings file
        # gives `make send` the endpoint to read the secret from)
        terminal = clean_environ(WEBHOOKS_CONFIG=str(config))

        # when signed with the secret SSM holds
        # then it is accepted
        assert send_status(tmp_path, terminal, http_url) == 200
        assert send_status(tmp_path, terminal, http_url, "--secret", "old-secret") == 200

        # when the parameter is rotated
        put_secret(emulator_url, "new-secret")
        deadline = time.monotonic() + ROTATION_WAIT_SECONDS
        old_status = 200
        while old_status == 200 and time.monotonic() < deadline:
            time.sleep(REFRESH_SECONDS / 2)
            old_status = send_status(tmp_path, terminal, http_url, "--secret", "old-secret")

        # then the old secret is refused, the new one accepted (also as `make send` reads it
        # from SSM), by the same stack process
        assert old_status == 401
        assert send_status(tmp_path, terminal, http_url, "--secret", "new-secret") == 200
        assert send_status(tmp_path, terminal, http_url) == 200
        assert stack.process.poll() is None
    finally:
        code = stack.stop()
    assert code == 0
