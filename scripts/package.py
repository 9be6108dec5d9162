"""`make package`: a CloudFormation (SAM) template and deployment.zip for one stage.

Usage: python scripts/package.py [--stage dev] [--output build/dev] [--webhooks-config PATH]
Writes build/<stage>.merge.json (operations/deploy_template.py) and runs
`chalice package --stage <stage> --merge-template build/<stage>.merge.json build/<stage>` with
webhooks.json bundled into chalicelib/. Needs no AWS account: only AWS_DEFAULT_REGION (set here
to us-east-1 when unset; the template itself is region-neutral).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from operations.deploy_template import PackagedTemplateError
from operations.packaging import PackagingError, package
from operations.queue_bootstrap import InvalidQueueSettings
from operations.stage_config import StageConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="package.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="stage of .chalice/config.json (default: dev)")
    parser.add_argument("--output", help="output folder (default: build/<stage>)")
    parser.add_argument("--project-dir", default=".", help="the Chalice project (default: .)")
    parser.add_argument("--webhooks-config", help="the webhooks.json to ship (default: the project's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    output = args.output or os.path.join(args.project_dir, "build", args.stage)
    try:
        result = package(args.project_dir, args.stage, output, args.webhooks_config)
    except (PackagingError, PackagedTemplateError, StageConfigError, InvalidQueueSettings) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"template:        {result.template_path}")
    print(f"code:            {result.deployment_zip}")
    print(f"merge template:  {result.merge_template_path}")
    print(
        "deploy with:     aws cloudformation package --template-file "
        f"{result.template_path} --s3-bucket <bucket> --output-template-file {result.output_dir}/packaged.yaml\n"
        f"                 aws cloudformation deploy --template-file {result.output_dir}/packaged.yaml "
        f"--stack-name spillway-{args.stage} --capabilities CAPABILITY_IAM"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
