"""The steps of `make package` and `make deploy`, around Chalice's own command line.

Only app.py, chalicelib/, vendor/ and requirements.txt reach Lambda, so webhooks.json is copied
into chalicelib/ while Chalice builds the zip (chalicelib/config/settings.py falls back to that copy when
the file beside app.py is absent, as it is on Lambda).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.config.settings import BUNDLED_WEBHOOKS_CONFIG, WEBHOOKS_CONFIG_NAME, Settings
from chalicelib.errors import ConfigError, SpillwayError
from operations.bytecode import add_bytecode, runtime_of_this_interpreter
from operations.deploy_guards import (
    OverlongRequests,
    UngrantedSecrets,
    UnreachableRedis,
    refuse_overlong_requests,
    refuse_ungranted_secrets,
    refuse_unreachable_redis,
)
from operations.deploy_template import (
    DeployTimeVariable,
    check_packaged_template,
    deploy_time_variables,
    merge_template,
)
from operations.queue_bootstrap import QueueUrls, bootstrap_queues
from operations.stage_config import StageSettings, load_stage

# Chalice's own command line, run by this interpreter: the venv's chalice whatever PATH says.
CHALICE_CLI = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]
# `chalice package` writes this beside deployment.zip.
PACKAGED_TEMPLATE_NAME = "sam.json"


class PackagingError(SpillwayError):
    """A step of the package or the deploy failed; the message names it."""


@dataclass(frozen=True)
class PackageResult:
    output_dir: str
    template_path: str
    deployment_zip: str
    merge_template_path: str
    # The template's parameters: what `aws cloudformation deploy --parameter-overrides` may pass.
    parameters: tuple[DeployTimeVariable, ...] = ()
    # The functions' runtimes, and the .pyc added for them: none when a runtime is not this
    # interpreter's version (Chalice picks python3.10 below 3.10, python3.15 above 3.14).
    runtimes: frozenset[str] = frozenset()
    bytecode_files: int = 0


def schema_files(document: dict[str, Any], source: str) -> list[str]:
    """The `schema` files webhooks.json names, relative to it (they must ship beside it).

    Raises PackagingError for a path that cannot be bundled."""
    paths: list[str] = []
    for webhook_id, block in document.items():
        schema = block.get("schema") if isinstance(block, dict) else None
        if not isinstance(schema, str):
            continue
        relative = os.path.normpath(schema)
        if "${" in schema or os.path.isabs(schema) or relative.startswith(os.pardir):
            raise PackagingError(
                f"{source}: webhook {webhook_id!r}: schema {schema!r} must be a path inside the folder of "
                "webhooks.json, without ${VAR}, to ship with it"
            )
        if not os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(source)), relative)):
            raise PackagingError(f"{source}: webhook {webhook_id!r}: schema file {schema!r} not found")
        paths.append(relative)
    return sorted(set(paths))


@contextlib.contextmanager
def bundled_webhooks_config(project_dir: str, source: str | None = None) -> Iterator[str]:
    """Copies webhooks.json (default: the project's), and the schema files it names, into
    chalicelib/ for the duration of a package or deploy, and yields its text.

    Removed afterwards: a copy left behind would ship, stale, with the next `chalice deploy` run by
    hand; without one, that deploy fails loudly (/health answers 503 config_invalid). Refuses a
    file that is not a JSON object, and a copy that would overwrite a file of chalicelib/."""
    source = source or os.path.join(project_dir, WEBHOOKS_CONFIG_NAME)
    try:
        with open(source, encoding="utf-8") as file:
            text = file.read()
        document = json.loads(text)
    except FileNotFoundError as exc:
        raise PackagingError(
            f"cannot ship {source}: no such file, and a bundle without webhooks.json answers every webhook "
            "with 503: create it beside app.py, or name one with --webhooks-config PATH"
        ) from exc
    except (OSError, ValueError) as exc:
        raise PackagingError(f"cannot ship {source}: {exc}") from exc
    if not isinstance(document, dict):
        raise PackagingError(f"cannot ship {source}: the top level must be an object of webhooks")
    target = os.path.join(project_dir, BUNDLED_WEBHOOKS_CONFIG)
    target_dir = os.path.dirname(target)
    copies = [
        (os.path.join(os.path.dirname(os.path.abspath(source)), path), os.path.join(target_dir, path))
        for path in schema_files(document, source)
    ]
    for _, copy in copies:
        if os.path.exists(copy):
            raise PackagingError(f"cannot ship the schema {copy}: chalicelib/ already has a file there")
    created: list[str] = []
    try:
        with open(target, "w", encoding="utf-8") as file:
            file.write(text)
        created.append(target)
        for original, copy in copies:
            os.makedirs(os.path.dirname(copy), exist_ok=True)
            shutil.copyfile(original, copy)
            created.append(copy)
        yield text
    finally:
        for path in reversed(created):
            os.remove(path)
            _remove_empty_parents(os.path.dirname(path), stop=target_dir)


def _remove_empty_parents(folder: str, stop: str) -> None:
    while os.path.abspath(folder) != os.path.abspath(stop) and os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
        folder = os.path.dirname(folder)


def run_chalice(project_dir: str, arguments: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """Raises PackagingError when chalice exits non-zero (its output has already been shown)."""
    command = [*CHALICE_CLI, "--project-dir", project_dir, *arguments]
    completed = subprocess.run(
        command, cwd=project_dir, env=dict(os.environ if environ is None else environ), check=False
    )
    if completed.returncode != 0:
        raise PackagingError(f"chalice {' '.join(arguments)} exited with {completed.returncode}")


def write_json(path: str, document: Any) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
        file.write("\n")


def package(project_dir: str, stage_name: str, output_dir: str, webhooks_config: str | None = None) -> PackageResult:
    """`chalice package --stage S --merge-template build/S.merge.json build/S`, with webhooks.json
    bundled. Raises PackagingError, StageConfigError, InvalidQueueSettings."""
    stage = load_stage(project_dir, stage_name)
    output_dir = os.path.abspath(output_dir)
    merge_path = f"{output_dir.rstrip(os.sep)}.merge.json"
    if os.path.isdir(output_dir):
        shutil.rmtree(output_dir)  # a stale template or zip must not survive a failed run
    with bundled_webhooks_config(project_dir, webhooks_config) as webhooks_text:
        refuse_unworkable_stage(stage, webhooks_text)
        write_json(merge_path, merge_template(stage, webhooks_text))
        parameters = tuple(deploy_time_variables(stage, webhooks_text))
        run_chalice(project_dir, ["package", "--stage", stage_name, "--merge-template", merge_path, output_dir])
    template_path = os.path.join(output_dir, PACKAGED_TEMPLATE_NAME)
    with open(template_path, encoding="utf-8") as file:
        template = json.load(file)
    check_packaged_template(template)
    zip_path = os.path.join(output_dir, "deployment.zip")
    runtimes = lambda_runtimes(template)
    # Bytecode of another Python version would be ignored by the runtime (operations/bytecode.py).
    added = add_bytecode(zip_path) if runtimes == {runtime_of_this_interpreter()} else 0
    return PackageResult(output_dir, template_path, zip_path, merge_path, parameters, frozenset(runtimes), added)


def lambda_runtimes(template: dict[str, Any]) -> set[str]:
    return {
        str(resource["Properties"]["Runtime"])
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function" and "Runtime" in resource.get("Properties", {})
    }


def bootstrap_stage_queues(stage: StageSettings, sqs_client: Any) -> QueueUrls:
    """The stage's queues, with the retry queue's visibility timeout set from the drain's timeout."""
    return bootstrap_queues(
        sqs_client,
        stage.retry_queue_name,
        stage.dead_letter_queue_name,
        drain_timeout_seconds=stage.drain.timeout_seconds,
    )


def refuse_unworkable_stage(stage: StageSettings, webhooks_text: str) -> None:
    """Raises PackagingError when a webhook's Redis is empty or loopback for the stage, or when its
    inline budget and the spill after it could outlast the HTTP function's timeout."""
    try:
        refuse_unreachable_redis(stage, webhooks_text)
        refuse_overlong_requests(stage, webhooks_text)
    except (UnreachableRedis, OverlongRequests) as exc:
        raise PackagingError(str(exc)) from exc


def refuse_batch_reports_chalice_deploy_drops(stage: StageSettings) -> None:
    """Raises PackagingError when the stage tells the drain to report single failed records.

    `chalice deploy` creates the drain's event source mapping without
    `FunctionResponseTypes: [ReportBatchItemFailures]` (aws/chalice#2029). Lambda then ignores the
    `batchItemFailures` the drain returns and deletes the whole batch, the failed records with it:
    accepted events lost. With the setting false, the drain fails the invocation instead, and
    Lambda keeps the batch."""
    try:
        reports = Settings.from_environ(stage.drain.environment).report_batch_item_failures
    except ConfigError as exc:
        raise PackagingError(f"stage {stage.stage!r}: {exc}") from exc
    if reports:
        raise PackagingError(
            f"stage {stage.stage!r} sets REPORT_BATCH_ITEM_FAILURES="
            f"{stage.drain.environment.get('REPORT_BATCH_ITEM_FAILURES')!r} for the drain, but `chalice deploy` "
            "cannot turn ReportBatchItemFailures on for its event source (aws/chalice#2029): Lambda would "
            "ignore the failed records the drain reports and delete them with the batch. Either deploy this "
            "stage with `make package` and CloudFormation (its template turns ReportBatchItemFailures on and "
            'sets the variable itself), or set REPORT_BATCH_ITEM_FAILURES to "false" for this stage in '
            ".chalice/config.json (the drain then fails a batch it could not finish, and Lambda retries it)"
        )


def deploy(project_dir: str, stage_name: str, sqs_client: Any, webhooks_config: str | None = None) -> QueueUrls:
    """Queues first (Lambda refuses an event source on a queue that does not exist), then
    webhooks.json, then `chalice deploy --stage S`. Refuses, before changing anything, a stage
    whose settings `chalice deploy` cannot honour."""
    stage = load_stage(project_dir, stage_name)
    refuse_batch_reports_chalice_deploy_drops(stage)
    with bundled_webhooks_config(project_dir, webhooks_config) as webhooks_text:
        refuse_unworkable_stage(stage, webhooks_text)
        try:
            refuse_ungranted_secrets(project_dir, stage, webhooks_text)
        except UngrantedSecrets as exc:
            raise PackagingError(str(exc)) from exc
        queues = bootstrap_stage_queues(stage, sqs_client)
        run_chalice(project_dir, ["deploy", "--stage", stage_name])
    return queues
