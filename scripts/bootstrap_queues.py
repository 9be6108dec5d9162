"""Create Spillway's retry queue and dead-letter queue, or bring existing ones to the wanted settings.

Usage: python -m scripts.bootstrap_queues [--stage dev] [--region REGION] [--drain-timeout S] ...
With --stage, the queue names and the drain's timeout come from that stage of .chalice/config.json
(`make bootstrap` passes STAGE, default dev); options given explicitly still win.
The SQS endpoint is boto3's own choice: AWS by default, or AWS_ENDPOINT_URL_SQS /
AWS_ENDPOINT_URL for LocalStack or moto's server.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from operations.claim_check_bucket import ensure_claim_check_bucket, s3_admin_client
from operations.local_stack_settings import use_local_stack
from operations.queue_bootstrap import (
    MAX_RETENTION_SECONDS,
    QueueBootstrapError,
    bootstrap_queues,
)
from operations.sqs_admin import SqsAdminError, admin_client
from operations.stage_config import StageConfigError, load_stage

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bootstrap_queues",
        description="Create (or correct) the retry queue and the dead-letter queue it redrives to. Safe to rerun.",
    )
    parser.add_argument(
        "--stage",
        help="take the queue names and the drain's timeout from this stage of .chalice/config.json",
    )
    parser.add_argument(
        "--retry-queue",
        help="retry queue name (default: the stage's RETRY_QUEUE_NAME, else $RETRY_QUEUE_NAME or spillway-retry)",
    )
    parser.add_argument(
        "--dead-letter-queue",
        help="dead-letter queue name (default: the stage's DEAD_LETTER_QUEUE_NAME, else $DEAD_LETTER_QUEUE_NAME "
        "or spillway-dead-letter)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=int,
        metavar="SECONDS",
        help="the drain function's timeout; the retry queue's visibility timeout is 6 x it "
        "(default: the stage's drain lambda_timeout, else 60)",
    )
    parser.add_argument(
        "--max-receive-count",
        type=int,
        default=5,
        metavar="N",
        help="receives before SQS moves a message to the dead-letter queue, at least 5 (default: 5)",
    )
    parser.add_argument(
        "--retention",
        type=int,
        default=MAX_RETENTION_SECONDS,
        metavar="SECONDS",
        help=f"message retention on both queues (default: {MAX_RETENTION_SECONDS}, 14 days, the SQS maximum)",
    )
    parser.add_argument(
        "--large-payload-bucket",
        default=os.environ.get("LARGE_PAYLOAD_BUCKET") or None,
        metavar="BUCKET",
        help="also create (or correct) the claim check's S3 bucket for large events: private, encrypted, "
        "objects expiring after 41 days (default: $LARGE_PAYLOAD_BUCKET, else the stage's; none "
        "when neither is set)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or None,
        help="AWS region (default: $AWS_REGION, else boto3's own: $AWS_DEFAULT_REGION or the profile's)",
    )
    return parser


def resolve_defaults(args: argparse.Namespace, project_dir: str = PROJECT_DIR) -> None:
    """Fills what was not given: from the stage when there is one, else from the environment."""
    if args.stage:
        stage = load_stage(project_dir, args.stage)
        args.retry_queue = args.retry_queue or stage.retry_queue_name
        args.dead_letter_queue = args.dead_letter_queue or stage.dead_letter_queue_name
        args.drain_timeout = args.drain_timeout or stage.drain.timeout_seconds
        args.large_payload_bucket = args.large_payload_bucket or stage.environment.get("LARGE_PAYLOAD_BUCKET") or None
    args.retry_queue = args.retry_queue or os.environ.get("RETRY_QUEUE_NAME") or "spillway-retry"
    args.dead_letter_queue = (
        args.dead_letter_queue or os.environ.get("DEAD_LETTER_QUEUE_NAME") or "spillway-dead-letter"
    )
    args.drain_timeout = args.drain_timeout or 60


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve_defaults(args)
    except StageConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        client = admin_client(args.region)
        urls = bootstrap_queues(
            client,
            retry_queue_name=args.retry_queue,
            dead_letter_queue_name=args.dead_letter_queue,
            drain_timeout_seconds=args.drain_timeout,
            max_receive_count=args.max_receive_count,
            retention_seconds=args.retention,
        )
        bucket = (
            ensure_claim_check_bucket(s3_admin_client(args.region), args.large_payload_bucket)
            if args.large_payload_bucket
            else None
        )
    except (QueueBootstrapError, SqsAdminError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for change in urls.changes:
        print(change.describe())
    if bucket is not None:
        print(bucket.describe())
    print(f"retry queue:       {urls.retry_queue_url} ({urls.retry_queue_arn})")
    print(f"dead-letter queue: {urls.dead_letter_queue_url} ({urls.dead_letter_queue_arn})")
    return 0


if __name__ == "__main__":
    use_local_stack(os.environ)
    sys.exit(main())
