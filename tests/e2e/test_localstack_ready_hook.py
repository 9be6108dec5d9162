"""docker-compose.yml's LocalStack ready hook, run by bash as LocalStack runs it, against moto's
server, with tests/aws_cli_shim.py as its `awslocal`: what it creates is what the relay needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.config.message_size import SQS_MAX_MESSAGE_BYTES
from devstack.moto_sqs import MotoSqsServer
from operations.queue_bootstrap import MAX_RETENTION_SECONDS, bootstrap_queues
from tests.chalice_project import PROJECT_ROOT

pytestmark = pytest.mark.e2e

READY_HOOK = PROJECT_ROOT / "devstack" / "localstack" / "create-queues.sh"
AWS_CLI_SHIM = PROJECT_ROOT / "tests" / "aws_cli_shim.py"
# The hook starts `awslocal` five or six times, a Python process importing boto3 each.
HOOK_TIMEOUT_SECONDS = 120
RETRY_QUEUE = "hook-retry"
DEAD_LETTER_QUEUE = "hook-dead-letter"
BUCKET = "hook-large-payloads"
# The drain's timeout in .chalice/config.json's AWS stages, which the hook's visibility is 6 x.
DRAIN_TIMEOUT_SECONDS = 60


@pytest.fixture
def awslocal_dir(tmp_path: Path) -> Path:
    """A folder whose `awslocal` runs the shim with this interpreter (and its boto3)."""
    awslocal = tmp_path / "bin" / "awslocal"
    awslocal.parent.mkdir()
    awslocal.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{AWS_CLI_SHIM}" "$@"\n')
    awslocal.chmod(0o755)
    return awslocal.parent


def run_hook(awslocal_dir: Path, server: MotoSqsServer, **environ: str) -> subprocess.CompletedProcess[str]:
    """The hook with only what LocalStack's container gives it, awslocal pointed at moto's server."""
    return subprocess.run(
        ["bash", str(READY_HOOK)],
        env={
            "PATH": f"{awslocal_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AWS_ENDPOINT_URL": server.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "RETRY_QUEUE_NAME": RETRY_QUEUE,
            "DEAD_LETTER_QUEUE_NAME": DEAD_LETTER_QUEUE,
            **environ,
        },
        capture_output=True,
        text=True,
        timeout=HOOK_TIMEOUT_SECONDS,
        check=False,
    )


def client(server: MotoSqsServer, service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def attributes(sqs: Any, queue_name: str) -> dict[str, str]:
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    found: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return found


def test_ready_hook_creates_both_queues_with_size_retention_and_redrive_policy(
    awslocal_dir: Path, moto_sqs: MotoSqsServer
) -> None:
    # given an empty SQS, as LocalStack starts

    # when
    run = run_hook(awslocal_dir, moto_sqs)

    # then: the attributes operations/queue_bootstrap.py gives them
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"spillway queues ready: {RETRY_QUEUE} -> {DEAD_LETTER_QUEUE}" in run.stdout
    sqs = client(moto_sqs, "sqs")
    dead = attributes(sqs, DEAD_LETTER_QUEUE)
    retry = attributes(sqs, RETRY_QUEUE)
    assert dead["MaximumMessageSize"] == retry["MaximumMessageSize"] == str(SQS_MAX_MESSAGE_BYTES)
    assert dead["MessageRetentionPeriod"] == retry["MessageRetentionPeriod"] == str(MAX_RETENTION_SECONDS)
    assert retry["VisibilityTimeout"] == str(6 * DRAIN_TIMEOUT_SECONDS)
    policy = json.loads(retry["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == dead["QueueArn"]
    assert int(policy["maxReceiveCount"]) == 5


def test_ready_hook_leaves_nothing_for_bootstrap_to_correct(awslocal_dir: Path, moto_sqs: MotoSqsServer) -> None:
    # given the queues the hook made
    run = run_hook(awslocal_dir, moto_sqs)
    assert run.returncode == 0, run.stdout + run.stderr

    # when `make bootstrap`'s code looks at them with the AWS stages' drain timeout
    urls = bootstrap_queues(
        client(moto_sqs, "sqs"), RETRY_QUEUE, DEAD_LETTER_QUEUE, drain_timeout_seconds=DRAIN_TIMEOUT_SECONDS
    )

    # then: the hook and the bootstrap agree on every attribute
    assert [change.action for change in urls.changes] == ["unchanged", "unchanged"], [
        change.describe() for change in urls.changes
    ]


def test_ready_hook_creates_the_large_payload_bucket_only_when_one_is_named(
    awslocal_dir: Path, moto_sqs: MotoSqsServer
) -> None:
    # given / when: once without a bucket, then twice with one (a restart runs the hook again)
    without = run_hook(awslocal_dir, moto_sqs)
    buckets_before = client(moto_sqs, "s3").list_buckets()["Buckets"]
    first = run_hook(awslocal_dir, moto_sqs, LARGE_PAYLOAD_BUCKET=BUCKET)
    again = run_hook(awslocal_dir, moto_sqs, LARGE_PAYLOAD_BUCKET=BUCKET)

    # then
    for run in (without, first, again):
        assert run.returncode == 0, run.stdout + run.stderr
    assert buckets_before == []
    assert [bucket["Name"] for bucket in client(moto_sqs, "s3").list_buckets()["Buckets"]] == [BUCKET]
    assert f"bucket {BUCKET}" in again.stdout
