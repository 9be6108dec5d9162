"""`make package`: a CloudFormation (SAM) template and deployment.zip for one stage.

Usage: python -m scripts.package [--stage dev] [--output build/dev] [--webhooks-config PATH]
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

from operations.bytecode import runtime_of_this_interpreter
from operations.deploy_template import DeployTimeVariable, PackagedTemplateError
from operations.packaging import PackageResult, PackagingError, package
from operations.queue_bootstrap import InvalidQueueSettings
from operations.stage_config import StageConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev", help="stage of .chalice/config.json (default: dev)")
    parser.add_argument("--output", help="output folder (default: build/<stage>)")
    parser.add_argument("--project-dir", default=".", help="the Chalice project (default: .)")
    parser.add_argument("--webhooks-config", help="the webhooks.json to ship (default: the project's)")
    return parser


def describe_parameter(variable: DeployTimeVariable) -> str:
    """One line; never a secret's default."""
    need = "required" if variable.must_be_passed else "optional"
    if variable.secret:
        need += ", secret"
    if variable.required:
        why = "no default: the stack cannot work without it"
    elif variable.secret and variable.default:
        why = "its default in webhooks.json is public: pass your own"
    elif variable.default:
        why = f"default {variable.default!r}"
    else:
        why = variable.description
    return f"{variable.parameter} ({need}): {variable.name}, {why}"


# The width of the labels ("template:", "deploy with:") this script prints its lines after.
LABEL_WIDTH = 17


def _labelled(label: str, lines: list[str]) -> list[str]:
    return [(label if n == 0 else "").ljust(LABEL_WIDTH) + line for n, line in enumerate(lines)]


def describe_bytecode(result: PackageResult) -> str:
    runtimes = ", ".join(sorted(result.runtimes)) or "none"
    if result.runtimes == {runtime_of_this_interpreter()}:
        return f"bytecode:        {result.bytecode_files} .pyc for {runtimes}"
    return (
        f"bytecode:        none: the runtime ({runtimes}) is not this Python ({runtime_of_this_interpreter()}), "
        "which would ignore it; every cold start compiles the sources (run make package with a matching Python)"
    )


def next_steps(result: PackageResult, stage: str) -> str:
    """The template's parameters, and the two commands that deploy it with every required one passed,
    read from exported variables (so no secret lands in the shell's history)."""
    required = [variable for variable in result.parameters if variable.must_be_passed]
    listed = sorted(result.parameters, key=lambda variable: not variable.must_be_passed)
    parameters = [describe_parameter(variable) for variable in listed] or ["none"]
    packaged = f"{result.output_dir}/packaged.yaml"
    commands = [
        f"aws cloudformation package --template-file {result.template_path} --s3-bucket <bucket> "
        f"--output-template-file {packaged}",
        f"aws cloudformation deploy --template-file {packaged} --stack-name spillway-{stage} "
        "--capabilities CAPABILITY_IAM",
    ]
    if required:
        names = " and ".join(variable.name for variable in required)
        parameters.append(f"before deploying, export {names}: the command below reads them")
        overrides = " ".join(f'{variable.parameter}="${variable.name}"' for variable in required)
        commands[-1] += " \\"
        commands.append(f"    --parameter-overrides {overrides}")
    return "\n".join(_labelled("parameters:", parameters) + _labelled("deploy with:", commands))


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
    print(describe_bytecode(result))
    print(next_steps(result, args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
