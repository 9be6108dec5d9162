"""The claim check: a spilled event too large for a queue message waits in S3, and its queue
message carries a pointer with the object's SHA-256.

The door checks an event in when its queue message would not fit the retry queue; the drain
fetches it (the hash must match: a changed or missing object is poison), delivers it, and only
then deletes the object. A redrive and a dead letter keep the pointer, so the object stays until
a delivery or a purge; the bucket's lifecycle rule (operations/claim_check_bucket.py: longer than
a letter can live and be replayed) removes what a failed send left behind. boto3 is imported
only when a large event spills or drains.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

from chalicelib.aws_calls import aws_retrying_before, build_client, call_aws
from chalicelib.config.settings import get_settings
from chalicelib.envelope import Envelope, MalformedEnvelope, checked_envelope
from chalicelib.errors import ClaimCheckInvalid, ClaimCheckMissing, ClaimCheckUnavailable
from chalicelib.json_numbers import loads_exact
from chalicelib.process_state import ProcessCache
from chalicelib.queue.message import ClaimCheck
from chalicelib.structured_log import log_event

CONNECT_TIMEOUT_SECONDS = 1.0
# Writing 4 MiB takes longer than an SQS send. At the door one try of the upload always fits
# the spill's deadline (queue/spill.py SPILL_BUDGET_SECONDS), a second only while time is left.
READ_TIMEOUT_SECONDS = 5.0
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
NO_SUCH_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})

_clients: ProcessCache[str, Any] = ProcessCache("s3 client")


def _build_client(region: str) -> Any:
    return build_client("s3", region, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)


def get_s3() -> Any:
    return _clients.get(get_settings().aws_region, _build_client)


def object_key(envelope: Envelope) -> str:
    """One object per spill (a sender's retry of the same event spills again): the event id is
    the sender's text, so the key names only the webhook and a fresh UUID."""
    return f"{envelope['webhook_id']}/{uuid.uuid4().hex}.json"


def check_in(bucket: str, envelope: Envelope, encoded_envelope: str, deadline: float | None = None) -> ClaimCheck:
    """Stores the encoded envelope; returns the pointer. With a deadline (time.monotonic()), a
    second try only if it could end by then. Raises ClaimCheckUnavailable."""
    data = encoded_envelope.encode("utf-8")
    pointer = ClaimCheck(
        bucket=bucket,
        key=object_key(envelope),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        webhook_id=envelope["webhook_id"],
        event_id=envelope["id"],
        received_at=envelope["received_at"],
    )
    call_aws(
        lambda: get_s3().put_object(Bucket=bucket, Key=pointer["key"], Body=data, ContentType="application/json"),
        f"put_object({bucket}/{pointer['key']})",
        ClaimCheckUnavailable,
        None if deadline is None else aws_retrying_before(deadline, ATTEMPT_SECONDS),
    )
    return pointer


def _is_missing(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code", "") in NO_SUCH_KEY_CODES


def _fetch(pointer: ClaimCheck) -> bytes | None:
    """The object's bytes, or None when there is no such object."""
    from botocore.exceptions import ClientError

    try:
        response = get_s3().get_object(Bucket=pointer["bucket"], Key=pointer["key"])
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    return bytes(response["Body"].read())


def claimed_envelope(pointer: ClaimCheck) -> Envelope:
    """The envelope the pointer names, checked against its hash. Raises ClaimCheckUnavailable
    (try again later), ClaimCheckMissing, or ClaimCheckInvalid (never deliverable: changed or
    malformed)."""
    where = f"s3://{pointer['bucket']}/{pointer['key']}"
    data = call_aws(lambda: _fetch(pointer), f"get_object({where})", ClaimCheckUnavailable)
    if data is None:
        raise ClaimCheckMissing(f"claim check {where} is missing")
    digest = hashlib.sha256(data).hexdigest()
    if digest != pointer["sha256"] or len(data) != pointer["size"]:
        raise ClaimCheckInvalid(
            f"claim check {where} does not match its pointer: sha256 {digest} and {len(data)} bytes, "
            f"expected {pointer['sha256']} and {pointer['size']}"
        )
    try:
        envelope = checked_envelope(loads_exact(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError, MalformedEnvelope) as exc:
        raise ClaimCheckInvalid(f"claim check {where} holds no envelope: {exc}") from exc
    # The drain decided expiry and hops by the pointer's ids: they must be the envelope's.
    if (envelope["webhook_id"], envelope["id"]) != (pointer["webhook_id"], pointer["event_id"]):
        raise ClaimCheckInvalid(f"claim check {where} holds another event than its pointer names")
    return envelope


def release(pointer: ClaimCheck) -> None:
    """Deletes the object once its event is delivered. A failure is logged, not raised: the
    event is delivered, and the bucket's lifecycle rule removes the object in time."""
    where = f"s3://{pointer['bucket']}/{pointer['key']}"
    try:
        call_aws(
            lambda: get_s3().delete_object(Bucket=pointer["bucket"], Key=pointer["key"]),
            f"delete_object({where})",
            ClaimCheckUnavailable,
        )
    except ClaimCheckUnavailable as exc:
        log_event("claim_check_not_deleted", level=logging.WARNING, event_id=pointer["event_id"], error=str(exc))
