"""The tooling's SQS helper: one error type naming the call, and the queue lookup every tool uses."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.ports import free_port
from operations.queue_bootstrap import bootstrap_queues
from operations.sqs_admin import (
    QueueMissing,
    SqsAdminError,
    admin_client,
    find_queue_url,
    message_count,
    sqs_call,
)
from tests.conftest import RETRY_QUEUE

MOTO_ACCOUNT_ID = "123456789012"  # moto's default account


def test_a_queue_is_found_by_its_name_and_by_its_name_and_owner_account(sqs: Any) -> None:
    # given: the queue, as SQS itself names it
    expected = sqs.get_queue_url(QueueName=RETRY_QUEUE)["QueueUrl"]

    # when
    by_name = find_queue_url(sqs, RETRY_QUEUE)
    by_arn_parts = find_queue_url(sqs, RETRY_QUEUE, owner_account_id=MOTO_ACCOUNT_ID)

    # then
    assert by_name == by_arn_parts == expected


def test_a_missing_queue_is_queue_missing_naming_the_queue_and_how_to_create_it(sqs: Any) -> None:
    # when
    with pytest.raises(QueueMissing) as missing:
        find_queue_url(sqs, "no-such-queue")

    # then
    assert "no-such-queue" in str(missing.value)
    assert "make bootstrap" in str(missing.value)
    assert "python -m scripts.bootstrap_queues" in str(missing.value)


def test_a_call_sqs_refuses_is_one_error_naming_the_call_and_keeping_the_aws_code(sqs: Any) -> None:
    # when: a name SQS refuses (only letters, digits, - and _)
    with pytest.raises(SqsAdminError) as refused:
        sqs_call("create_queue(bad name!)", lambda: sqs.create_queue(QueueName="bad name!"))

    # then
    assert str(refused.value).startswith("create_queue(bad name!): ClientError: ")
    assert refused.value.code == "InvalidParameterValue"


def test_an_endpoint_that_does_not_answer_is_the_same_error_with_no_code(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: nothing listens on the port; one attempt, placeholder credentials
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = admin_client("us-east-1", f"http://127.0.0.1:{free_port()}")

    # when
    with pytest.raises(SqsAdminError) as unanswered:
        bootstrap_queues(client, "tool-retry", "tool-dead")

    # then: the first call the bootstrap makes, named, with botocore's reason
    assert str(unanswered.value).startswith("get_queue_url(tool-dead): EndpointConnectionError: ")
    assert unanswered.value.code == ""


def test_no_region_anywhere_is_an_sqs_admin_error_not_a_botocore_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # given: no region in the environment or in an AWS config file
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    # when
    with pytest.raises(SqsAdminError) as no_region:
        admin_client()

    # then
    # (one line saying what to set, for AWS or for the local stack)
    assert str(no_region.value).startswith("SQS client: no AWS region: for AWS set AWS_DEFAULT_REGION; ")


def test_message_count_adds_visible_in_flight_and_delayed_messages(sqs: Any) -> None:
    # given: one message received (in flight), one visible, one delayed
    url = find_queue_url(sqs, RETRY_QUEUE)
    sqs.send_message(QueueUrl=url, MessageBody="in flight")
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
    sqs.send_message(QueueUrl=url, MessageBody="visible")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)

    # when / then
    assert message_count(sqs, url) == 3
