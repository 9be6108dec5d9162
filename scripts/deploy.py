"""`make deploy`: the stage's queues, then `chalice deploy --stage <stage>` with webhooks.json bundled.

Usage: python -m scripts.deploy [--stage dev] [--webhooks-config PATH]
AWS credentials and region come from boto3's usual settings (AWS_PROFILE, AWS_REGION...);
AWS_ENDPOINT_URL points every call elsewhere (moto's server in the tests).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from operations.packaging import PackagingError, deploy
from operations.queue_bootstrap import QueueBootstrapError
from operations.sqs_admin import SqsAdminError, admin_client
from operations.stage_config import StageConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="stage of .chalice/config.json (default: dev)")
    parser.add_argument("--project-dir", default=".", help="the Chalice project (default: .)")
    parser.add_argument("--webhooks-config", help="the webhooks.json to ship (default: the project's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        queues = deploy(args.project_dir, args.stage, admin_client(), args.webhooks_config)
    except (PackagingError, QueueBootstrapError, StageConfigError, SqsAdminError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for change in queues.changes:
        print(change.describe())
    print(f"retry queue:       {queues.retry_queue_url}")
    print(f"dead-letter queue: {queues.dead_letter_queue_url}")
    print(
        'next: curl -H "Authorization: Bearer $ADMIN_TOKEN" "<Rest API URL>health?deep=1"'
        " (docs/deploy.md, 'After a deploy, check')"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
