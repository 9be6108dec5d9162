"""`make deploy`: the stage's queues, then `chalice deploy --stage <stage>` with webhooks.json bundled.

Usage: python scripts/deploy.py [--stage dev] [--webhooks-config PATH]
AWS credentials and region come from boto3's usual settings (AWS_PROFILE, AWS_REGION...);
AWS_ENDPOINT_URL points every call elsewhere (moto's server in the tests).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from operations.packaging import PackagingError, deploy
from operations.queue_bootstrap import QueueBootstrapError
from operations.stage_config import StageConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="stage of .chalice/config.json (default: dev)")
    parser.add_argument("--project-dir", default=".", help="the Chalice project (default: .)")
    parser.add_argument("--webhooks-config", help="the webhooks.json to ship (default: the project's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        queues = deploy(args.project_dir, args.stage, boto3.client("sqs"), args.webhooks_config)
    except (PackagingError, QueueBootstrapError, StageConfigError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for change in queues.changes:
        print(change.describe())
    print(f"retry queue:       {queues.retry_queue_url}")
    print(f"dead-letter queue: {queues.dead_letter_queue_url}")
    print("next: GET <Rest API URL>health?deep=1 (README, 'After a deploy')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
