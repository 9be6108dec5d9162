"""The claim check's bucket as `make bootstrap` and `make run` create it (moto's S3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.envelope import encode_envelope
from chalicelib.process_state import reset_process_state
from chalicelib.queue.claim_check import check_in, claimed_envelope, release
from devstack.moto_sqs import MotoSqsServer
from operations.claim_check_bucket import ensure_claim_check_bucket, s3_admin_client
from tests.queue_events import make_envelope

BUCKET = "spillway-bootstrap-test"


@pytest.fixture
def s3() -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        import boto3

        yield boto3.client("s3", region_name="us-east-1")


def test_bootstrap_creates_a_private_encrypted_bucket_whose_objects_expire_with_the_queues(s3: Any) -> None:
    # when
    change = ensure_claim_check_bucket(s3, BUCKET)

    # then
    assert change.created
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    # a pointer lives up to max_age (13 days at most) on the retry queue, 14 days on the dead-letter
    # queue, and max_age again once replayed: the object outlives all of that by a day
    assert (lifecycle["Status"], lifecycle["Expiration"]["Days"]) == ("Enabled", 2 * 13 + 14 + 1)


def test_bootstrap_run_again_finds_the_bucket_and_succeeds(s3: Any) -> None:
    # given
    ensure_claim_check_bucket(s3, BUCKET)
    s3.put_object(Bucket=BUCKET, Key="kept", Body=b"x")

    # when
    change = ensure_claim_check_bucket(s3, BUCKET)

    # then nothing in it is lost
    assert not change.created
    assert "already there" in change.describe()
    assert s3.get_object(Bucket=BUCKET, Key="kept")["Body"].read() == b"x"


def test_the_relay_checks_in_and_claims_an_envelope_on_moto_servers_s3_endpoint(
    moto_sqs: MotoSqsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the bucket on the endpoint `make run` gives both SQS and S3
    ensure_claim_check_bucket(s3_admin_client("us-east-1"), BUCKET)
    monkeypatch.setenv("LARGE_PAYLOAD_BUCKET", BUCKET)
    reset_process_state()
    envelope = make_envelope(webhook_id="blob_hook", payload="x" * 300_000)

    # when
    pointer = check_in(BUCKET, envelope, encode_envelope(envelope))
    claimed = claimed_envelope(pointer)
    release(pointer)

    # then
    assert claimed == envelope
    assert s3_admin_client("us-east-1").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
