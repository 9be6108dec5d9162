"""Queue bootstrap: both queues created with the redrive wiring, and a second run corrects drift."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.ports import free_port, wait_for_port
from operations.queue_bootstrap import (
    InvalidQueueSettings,
    QueueUrls,
    attribute_matches,
    bootstrap_queues,
)
from tests.chalice_project import PROJECT_ROOT as PROJECT_ROOT_PATH
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE

PROJECT_ROOT = str(PROJECT_ROOT_PATH)
FOURTEEN_DAYS = "1209600"
ONE_MIB = "1048576"


@pytest.fixture
def bare_sqs() -> Iterator[Any]:
    """moto's in-process SQS with no queue at all (conftest's `sqs` makes them without redrive)."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        yield boto3.client("sqs", region_name="us-east-1")


def attributes(client: Any, url: str) -> dict[str, str]:
    return dict(client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def redrive_of(client: Any, url: str) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(attributes(client, url)["RedrivePolicy"])
    return policy


def actions(urls: QueueUrls) -> dict[str, str]:
    return {change.queue_name: change.action for change in urls.changes}


def test_first_run_creates_dead_letter_queue_and_retry_queue_redriving_to_it(bare_sqs: Any) -> None:
    # given: no queue exists

    # when
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # then: both exist, at the URLs and ARNs returned
    assert urls.retry_queue_url == bare_sqs.get_queue_url(QueueName=RETRY_QUEUE)["QueueUrl"]
    assert urls.dead_letter_queue_url == bare_sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
    retry, dead = attributes(bare_sqs, urls.retry_queue_url), attributes(bare_sqs, urls.dead_letter_queue_url)
    assert retry["QueueArn"] == urls.retry_queue_arn
    assert dead["QueueArn"] == urls.dead_letter_queue_arn
    # and: visibility 6 x the 60 s drain timeout, 14 days retention on both, redrive after 5 receives
    assert retry["VisibilityTimeout"] == "360"
    assert retry["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert dead["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert redrive_of(bare_sqs, urls.retry_queue_url) == {
        "deadLetterTargetArn": urls.dead_letter_queue_arn,
        "maxReceiveCount": 5,
    }
    assert actions(urls) == {DEAD_LETTER_QUEUE: "created", RETRY_QUEUE: "created"}
    # and: both take SQS's largest messages, set explicitly (a queue made without it takes 256 KiB)
    assert retry["MaximumMessageSize"] == dead["MaximumMessageSize"] == ONE_MIB


def test_queues_made_by_hand_with_the_old_256_kib_limit_are_raised_to_1_mib(bare_sqs: Any) -> None:
    # given: queues someone made with SQS's old default message size
    for name in (DEAD_LETTER_QUEUE, RETRY_QUEUE):
        bare_sqs.create_queue(QueueName=name, Attributes={"MaximumMessageSize": "262144"})

    # when
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # then: a message over 256 KiB now goes to either queue
    large = "x" * 300_000
    for url in (urls.retry_queue_url, urls.dead_letter_queue_url):
        assert attributes(bare_sqs, url)["MaximumMessageSize"] == ONE_MIB
        assert bare_sqs.send_message(QueueUrl=url, MessageBody=large)["MessageId"]
    described = {change.queue_name: change.describe() for change in urls.changes}
    assert "MaximumMessageSize 262144 -> 1048576" in described[RETRY_QUEUE]


def test_second_run_with_the_same_settings_changes_nothing(bare_sqs: Any) -> None:
    # given
    first = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)
    before = attributes(bare_sqs, first.retry_queue_url)

    # when
    second = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # then
    assert second.retry_queue_url == first.retry_queue_url
    assert second.dead_letter_queue_arn == first.dead_letter_queue_arn
    assert actions(second) == {DEAD_LETTER_QUEUE: "unchanged", RETRY_QUEUE: "unchanged"}
    assert attributes(bare_sqs, second.retry_queue_url) == before


def test_second_run_puts_back_attributes_that_drifted(bare_sqs: Any) -> None:
    # given: queues bootstrapped, then changed by hand
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)
    bare_sqs.set_queue_attributes(
        QueueUrl=urls.retry_queue_url,
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": urls.dead_letter_queue_arn, "maxReceiveCount": 50}),
        },
    )
    bare_sqs.set_queue_attributes(QueueUrl=urls.dead_letter_queue_url, Attributes={"MessageRetentionPeriod": "345600"})

    # when
    again = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # then
    assert attributes(bare_sqs, urls.retry_queue_url)["VisibilityTimeout"] == "360"
    assert redrive_of(bare_sqs, urls.retry_queue_url)["maxReceiveCount"] == 5
    assert attributes(bare_sqs, urls.dead_letter_queue_url)["MessageRetentionPeriod"] == FOURTEEN_DAYS
    # and: the run says what it changed
    described = {change.queue_name: change.describe() for change in again.changes}
    assert "VisibilityTimeout 30 -> 360" in described[RETRY_QUEUE]
    assert "MessageRetentionPeriod 345600 -> 1209600" in described[DEAD_LETTER_QUEUE]
    assert actions(again) == {DEAD_LETTER_QUEUE: "updated", RETRY_QUEUE: "updated"}


def test_queues_made_without_redrive_policy_get_it_instead_of_an_error(bare_sqs: Any) -> None:
    # given: plain queues, as conftest's `sqs` fixture or a hand-made setup leaves them
    bare_sqs.create_queue(QueueName=DEAD_LETTER_QUEUE)
    bare_sqs.create_queue(QueueName=RETRY_QUEUE)

    # when
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # then
    assert redrive_of(bare_sqs, urls.retry_queue_url)["deadLetterTargetArn"] == urls.dead_letter_queue_arn
    assert attributes(bare_sqs, urls.retry_queue_url)["MessageRetentionPeriod"] == FOURTEEN_DAYS
    assert actions(urls) == {DEAD_LETTER_QUEUE: "updated", RETRY_QUEUE: "updated"}


def test_new_drain_timeout_and_receive_count_are_applied_on_the_next_run(bare_sqs: Any) -> None:
    # given
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)

    # when
    bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE, drain_timeout_seconds=120, max_receive_count=8)

    # then
    assert attributes(bare_sqs, urls.retry_queue_url)["VisibilityTimeout"] == "720"
    assert redrive_of(bare_sqs, urls.retry_queue_url)["maxReceiveCount"] == 8


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"max_receive_count": 4}, "max_receive_count"),
        ({"max_receive_count": 1001}, "max_receive_count"),
        ({"drain_timeout_seconds": 0}, "drain_timeout_seconds"),
        ({"drain_timeout_seconds": 7201}, "drain_timeout_seconds"),  # 6 x 7201 s > SQS's 12 h
        ({"retention_seconds": 59}, "retention_seconds"),
        ({"retention_seconds": 1_209_601}, "retention_seconds"),
    ],
)
def test_settings_outside_sqs_limits_or_aws_guidance_are_refused_before_any_queue_exists(
    bare_sqs: Any, settings: dict[str, int], named: str
) -> None:
    # when
    with pytest.raises(InvalidQueueSettings) as refused:
        bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE, **settings)

    # then
    assert named in str(refused.value)
    assert bare_sqs.list_queues().get("QueueUrls", []) == []


def test_one_name_for_both_queues_is_refused(bare_sqs: Any) -> None:
    with pytest.raises(InvalidQueueSettings):
        bootstrap_queues(bare_sqs, RETRY_QUEUE, RETRY_QUEUE)


def test_redrive_policy_with_max_receive_count_as_a_string_counts_as_unchanged() -> None:
    # given: the shape the LocalStack ready hook writes ("maxReceiveCount":"5")
    current = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": "5"})
    wanted = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq", "maxReceiveCount": 5})

    # then
    assert attribute_matches("RedrivePolicy", current, wanted)
    assert not attribute_matches("RedrivePolicy", current.replace('"5"', '"6"'), wanted)
    assert not attribute_matches("RedrivePolicy", None, wanted)


def test_sqs_moves_a_message_received_max_receive_count_times_to_the_dead_letter_queue(bare_sqs: Any) -> None:
    # given: bootstrapped queues and one message on the retry queue
    urls = bootstrap_queues(bare_sqs, RETRY_QUEUE, DEAD_LETTER_QUEUE)
    bare_sqs.send_message(QueueUrl=urls.retry_queue_url, MessageBody="never processed")

    # when: received (and never deleted) 5 times, then asked for once more
    receipts = 0
    for _ in range(6):
        got = bare_sqs.receive_message(QueueUrl=urls.retry_queue_url, VisibilityTimeout=0).get("Messages", [])
        receipts += len(got)

    # then
    assert receipts == 5
    moved = bare_sqs.receive_message(QueueUrl=urls.dead_letter_queue_url).get("Messages", [])
    assert [message["Body"] for message in moved] == ["never processed"]


@pytest.mark.e2e
def test_script_bootstraps_queues_at_the_endpoint_named_by_aws_endpoint_url_sqs() -> None:
    # given: moto's server on a free port, reachable only through boto3's endpoint variable
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        assert wait_for_port("127.0.0.1", port)
        endpoint = f"http://127.0.0.1:{port}"
        environ = {**os.environ, "AWS_ENDPOINT_URL_SQS": endpoint, "RETRY_QUEUE_NAME": "e2e-retry"}
        command = [
            *(sys.executable, "-m", "scripts.bootstrap_queues"),
            *("--dead-letter-queue", "e2e-dead", "--region", "eu-west-1"),
        ]

        # when: run twice, from the repository root like `make bootstrap`
        first = subprocess.run(
            command, check=False, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=60
        )
        second = subprocess.run(
            command, check=False, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=60
        )

        # then
        assert first.returncode == 0, first.stderr
        assert "e2e-dead: created" in first.stdout
        assert "e2e-retry: created" in first.stdout
        assert second.returncode == 0, second.stderr
        assert "e2e-retry: already as wanted" in second.stdout
        client = boto3.client("sqs", region_name="eu-west-1", endpoint_url=endpoint)
        retry_url = client.get_queue_url(QueueName="e2e-retry")["QueueUrl"]
        assert json.loads(attributes(client, retry_url)["RedrivePolicy"])["deadLetterTargetArn"].endswith(":e2e-dead")
    finally:
        server.stop()


@pytest.mark.e2e
def test_localstack_ready_hook_makes_the_queues_bootstrap_makes(moto_sqs: Any, tmp_path: Any) -> None:
    # given: `awslocal` as the AWS CLI pointed at moto's server (LocalStack's wrapper does the same)
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI, which awslocal wraps, is not installed")
    shim, calls = tmp_path / "awslocal", tmp_path / "calls.txt"
    shim.write_text(
        f'#!/bin/sh\necho "$*" | tr "\\n" " " >> "{calls}"\necho >> "{calls}"\n'
        f'exec "{aws}" --endpoint-url "{moto_sqs.url}" "$@"\n'
    )
    shim.chmod(0o755)
    environ = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}

    # when
    hook = subprocess.run(
        ["bash", "devstack/localstack/create-queues.sh"],
        check=False, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    # then: bootstrap finds both queues as it would have made them, the message size included
    assert hook.returncode == 0, hook.stderr
    import boto3

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_sqs.url)
    urls = bootstrap_queues(client, RETRY_QUEUE, DEAD_LETTER_QUEUE)
    assert actions(urls) == {DEAD_LETTER_QUEUE: "unchanged", RETRY_QUEUE: "unchanged"}
    # and: each queue is created with the size (moto's default is already 1 MiB, LocalStack's and
    # AWS's is 256 KiB, so the calls themselves must carry it)
    creations = [line for line in calls.read_text().splitlines() if line.startswith("sqs create-queue")]
    assert len(creations) == 2
    assert all(ONE_MIB in line and "MaximumMessageSize" in line for line in creations)
