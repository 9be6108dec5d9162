"""The claim check's S3 bucket (LARGE_PAYLOAD_BUCKET): created, or brought to the wanted settings.

Large spilled events wait there (chalicelib/queue/claim_check.py), so the bucket is private
(every public-access block on), encrypted at rest (SSE-S3), and forgets objects once no message
can point at them any more (EXPIRATION_DAYS, 41 days). `make bootstrap`, the
local stack and the deploy template (operations/deploy_template.py) give it the same settings.
Idempotent: creating a bucket this account already owns is no error, and the settings are put
again each run (S3 has no partial update to compare with).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config.declarations import MAX_AGE_LIMIT_SECONDS
from operations.queue_bootstrap import MAX_RETENTION_SECONDS
from operations.sqs_admin import SqsAdminError, sqs_call

SECONDS_PER_DAY = 86_400
# Objects expire only once no message can point at them: a pointer waits up to max_age on the
# retry queue, then 14 days on the dead-letter queue; a replay sends it back for up to max_age
# again (operations/dead_letter_markers.py skips older letters), plus a day: 2 x 13 + 14 + 1 = 41.
EXPIRATION_DAYS = (2 * MAX_AGE_LIMIT_SECONDS + MAX_RETENTION_SECONDS) // SECONDS_PER_DAY + 1
# An upload cut off mid-way leaves parts that cost storage and belong to no event.
ABORT_INCOMPLETE_UPLOAD_DAYS = 1
LIFECYCLE_RULE_ID = "expire-after-the-last-replay"
BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou"})
BUCKET_MISSING_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
# us-east-1 is the one region whose CreateBucket refuses a LocationConstraint.
DEFAULT_REGION = "us-east-1"

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# SSE-S3: encrypted at rest with no key to manage or grant (S3's API and CloudFormation spell the
# rule differently: ApplyServerSideEncryptionByDefault vs ServerSideEncryptionByDefault).
SSE_ALGORITHM = "AES256"
ENCRYPTION_RULE = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}}


def lifecycle_rule() -> dict[str, Any]:
    """The rule as S3's API spells it (CloudFormation's differs: operations/deploy_template.py)."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": EXPIRATION_DAYS},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_DAYS},
    }


@dataclass(frozen=True)
class BucketChange:
    bucket: str
    created: bool

    def describe(self) -> str:
        verb = "created" if self.created else "already there"
        return f"{self.bucket}: {verb} (private, encrypted, objects expire after {EXPIRATION_DAYS} days)"


def _bucket_exists(s3_client: Any, bucket: str) -> bool:
    """Asked first: in us-east-1, CreateBucket of a bucket one already owns answers 200, as if
    it had created it. A bucket another account owns is an error (403), named."""
    try:
        sqs_call(f"head_bucket({bucket})", lambda: s3_client.head_bucket(Bucket=bucket))
    except SqsAdminError as exc:
        if exc.code in BUCKET_MISSING_CODES:
            return False
        raise
    return True


def _create_bucket(s3_client: Any, bucket: str) -> bool:
    """True when this call created it."""
    if _bucket_exists(s3_client, bucket):
        return False
    region = s3_client.meta.region_name or DEFAULT_REGION
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != DEFAULT_REGION:
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        sqs_call(f"create_bucket({bucket})", lambda: s3_client.create_bucket(**arguments))
    except SqsAdminError as exc:
        if exc.code in BUCKET_EXISTS_CODES:
            return False
        raise
    return True


def ensure_claim_check_bucket(s3_client: Any, bucket: str) -> BucketChange:
    """Raises SqsAdminError (the tools' one AWS error) naming the call that failed."""
    created = _create_bucket(s3_client, bucket)
    sqs_call(
        f"put_public_access_block({bucket})",
        lambda: s3_client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK),
    )
    sqs_call(
        f"put_bucket_encryption({bucket})",
        lambda: s3_client.put_bucket_encryption(
            Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [ENCRYPTION_RULE]}
        ),
    )
    sqs_call(
        f"put_bucket_lifecycle_configuration({bucket})",
        lambda: s3_client.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": [lifecycle_rule()]}
        ),
    )
    return BucketChange(bucket, created)


def s3_admin_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client; the endpoint is boto3's own choice unless given (AWS_ENDPOINT_URL reaches
    moto's server or LocalStack, which serve SQS and S3 on one port)."""
    import boto3

    return sqs_call("S3 client", lambda: boto3.client("s3", region_name=region, endpoint_url=endpoint_url))
