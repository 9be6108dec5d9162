"""`make package`: scripts/package.py runs Chalice's CLI offline, and the template it leaves passes
cfn-lint and creates every queue, mapping and permission the code uses."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from operations.bytecode import pyc_path
from operations.stage_config import load_stage
from tests.chalice_project import copy_project, run_script, set_stage_variables

pytestmark = pytest.mark.e2e

STAGE = "dev"
REDIS_HOST = "spillway.abc123.use1.cache.amazonaws.com"
PARAMETER = "/spillway/dev/github-secret"
SECRET = "spillway/dev/webhooks"
PUSH_SCHEMA = {"type": "object", "required": ["ref"]}
CFN_LINT = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]


@dataclass(frozen=True)
class Packaged:
    project: Path
    output: Path
    run: subprocess.CompletedProcess[str]

    @property
    def template(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.output / "sam.json").read_text())
        return document

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packaged]:
    """One `make package` for the module: given a copy of the project, when packaged for dev."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    # a Redis Lambda could reach: make package refuses the seed's localhost
    set_stage_variables(project, STAGE, REDIS_HOST=REDIS_HOST)
    # the seed's webhook, one whose JSON Schema is a file beside webhooks.json, and one whose secrets
    # live in SSM Parameter Store and Secrets Manager
    seed = json.loads((project / "webhooks.json").read_text())
    (project / "schemas").mkdir()
    (project / "schemas" / "push.json").write_text(json.dumps(PUSH_SCHEMA))
    webhooks = {
        **seed,
        "pushes": {**seed["redis_test"], "schema": "schemas/push.json"},
        "from_aws": {
            **seed["github_example"],
            "verify": {
                "provider": "github",
                "secrets": [f"${{ssm:{PARAMETER}}}", f"${{secretsmanager:{SECRET}#github}}"],
            },
        },
    }
    (project / "webhooks.json").write_text(json.dumps(webhooks, indent=2))
    output = project / "build" / STAGE
    run = run_script(
        "package",
        "--project-dir",
        str(project),
        "--stage",
        STAGE,
        "--output",
        str(output),
        # Only the region: no credentials and no endpoint are needed to package.
        environ={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    yield Packaged(project, output, run)


def sqs_grants(role: dict[str, Any]) -> dict[str, set[str]]:
    """SQS action -> the queue names the role's policies allow it on."""
    grants: dict[str, set[str]] = {}
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in statement["Action"]:
                if action.startswith("sqs:"):
                    grants.setdefault(action, set()).update(r.rsplit(":", 1)[1] for r in resources)
    return grants


def test_packaged_template_passes_cfn_lint(packaged: Packaged) -> None:
    # when
    lint = subprocess.run(
        [*CFN_LINT, str(packaged.output / "sam.json")], capture_output=True, text=True, timeout=120, check=False
    )

    # then
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_package_ships_the_projects_webhooks_json_inside_chalicelib(packaged: Packaged) -> None:
    # when
    with zipfile.ZipFile(packaged.output / "deployment.zip") as archive:
        names = set(archive.namelist())
        shipped = archive.read("chalicelib/webhooks.json")

    # then: the file beside app.py never ships; its copy in chalicelib/ does, byte for byte
    assert "app.py" in names
    assert "webhooks.json" not in names
    assert shipped == (packaged.project / "webhooks.json").read_bytes()
    # and the copy is gone from the project once Chalice has built the zip
    assert not (packaged.project / "chalicelib" / "webhooks.json").exists()


def test_package_ships_unchecked_bytecode_for_every_module_redis_py_included_so_lambda_compiles_none(
    packaged: Packaged, tmp_path: Path
) -> None:
    # given the zip as Lambda unpacks it
    with zipfile.ZipFile(packaged.output / "deployment.zip") as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path)
    tag = sys.implementation.cache_tag
    door_pyc = f"chalicelib/door/__pycache__/receive.{tag}.pyc"
    redis_pyc = f"redis/__pycache__/client.{tag}.pyc"
    # then every module that ships carries its bytecode: ours, redis-py's and the rest
    sources = {name for name in names if name.endswith(".py")}
    without = sorted(name for name in sources if pyc_path(name) not in names)
    assert without == []
    assert {door_pyc, redis_pyc} <= names
    # hash-based, used without checking the source (Chalice dates every entry 1980)
    for pyc in (door_pyc, redis_pyc):
        header = (tmp_path / pyc).read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01
    # and Python runs that bytecode without reading the source: broken sources still import
    (tmp_path / "chalicelib" / "door" / "receive.py").write_text("this is not Python")
    (tmp_path / "redis" / "client.py").write_text("this is not Python")
    # `python -c` puts the working directory first on sys.path, as Lambda does its task root.
    probe = [sys.executable, "-c", "import chalicelib.door.receive, redis.client"]
    environ = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(probe, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    # and make package says for which runtime it compiled
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert f"bytecode:        {len(sources)} .pyc for {runtime}" in packaged.run.stdout


def test_deployment_zip_with_its_bytecode_stays_under_5_mb(packaged: Packaged) -> None:
    # when
    size = (packaged.output / "deployment.zip").stat().st_size

    # then far below Lambda's 50 MB for a zipped package: the ceiling of bench B7
    assert size < 5 * 1024 * 1024


def test_package_ships_the_schema_files_webhooks_json_names_at_the_same_relative_path(packaged: Packaged) -> None:
    # when
    with zipfile.ZipFile(packaged.output / "deployment.zip") as archive:
        shipped = json.loads(archive.read("chalicelib/schemas/push.json"))

    # then
    assert shipped == PUSH_SCHEMA
    assert not (packaged.project / "chalicelib" / "schemas").exists()


def test_packaged_template_creates_both_queues_with_the_redrive_policy(packaged: Packaged) -> None:
    # given
    stage = load_stage(str(packaged.project), STAGE)

    # when
    retry = packaged.resources["RetryQueue"]
    dead = packaged.resources["DeadLetterQueue"]

    # then
    assert retry["Type"] == dead["Type"] == "AWS::SQS::Queue"
    assert retry["Properties"]["QueueName"] == stage.retry_queue_name == "spillway-dev-retry"
    assert dead["Properties"]["QueueName"] == stage.dead_letter_queue_name == "spillway-dev-dead-letter"
    assert retry["Properties"]["VisibilityTimeout"] == 6 * packaged.resources["Drain"]["Properties"]["Timeout"]
    assert retry["Properties"]["MessageRetentionPeriod"] == 1_209_600
    assert retry["Properties"]["MaximumMessageSize"] == dead["Properties"]["MaximumMessageSize"] == 1_048_576
    assert retry["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert retry["DeletionPolicy"] == dead["DeletionPolicy"] == "Retain"


def test_packaged_drain_reads_the_retry_queue_in_batches_of_ten_reporting_item_failures(packaged: Packaged) -> None:
    # when
    drain = packaged.resources["Drain"]["Properties"]
    [event] = drain["Events"].values()

    # then: one event source, Chalice's, pointed at the queue the template creates
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${RetryQueue.Arn}"}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": drain["ReservedConcurrentExecutions"]}
    # and the drain answers with batchItemFailures only because the mapping honours them
    assert drain["Environment"]["Variables"]["REPORT_BATCH_ITEM_FAILURES"] == "true"
    assert drain["Environment"]["Variables"]["RETRY_QUEUE_URL"] == {"Ref": "RetryQueue"}
    assert packaged.resources["APIHandler"]["Properties"]["Environment"]["Variables"]["RETRY_QUEUE_NAME"] == (
        "spillway-dev-retry"
    )


def test_packaged_roles_give_each_function_only_its_queue_actions(packaged: Packaged) -> None:
    # given one role per function (autogen_policy false), each attached to its function
    resources = packaged.resources
    assert resources["APIHandler"]["Properties"]["Role"] == {"Fn::GetAtt": ["ApiHandlerRole", "Arn"]}
    assert resources["Drain"]["Properties"]["Role"] == {"Fn::GetAtt": ["DrainRole", "Arn"]}

    # when
    http = sqs_grants(resources["ApiHandlerRole"])
    drain = sqs_grants(resources["DrainRole"])

    # then
    retry, dead = "spillway-dev-retry", "spillway-dev-dead-letter"
    assert http == {
        "sqs:SendMessage": {retry},
        "sqs:GetQueueUrl": {retry, dead},
        "sqs:GetQueueAttributes": {retry, dead},
    }
    assert drain == {
        "sqs:ReceiveMessage": {retry},
        "sqs:DeleteMessage": {retry},
        "sqs:ChangeMessageVisibility": {retry},
        "sqs:GetQueueAttributes": {retry},
        "sqs:SendMessage": {retry, dead},
        "sqs:GetQueueUrl": {retry, dead},
    }
    # and both may still write their logs (the merge replaced no list of Chalice's)
    for role in ("ApiHandlerRole", "DrainRole"):
        actions = {
            action
            for policy in resources[role]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
            for action in statement["Action"]
        }
        assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions


def test_packaged_template_creates_a_private_encrypted_claim_check_bucket_outliving_every_replay(
    packaged: Packaged,
) -> None:
    # when
    bucket = packaged.resources["LargePayloadBucket"]
    properties = bucket["Properties"]

    # then: kept on stack deletion like the queues, since it holds accepted events
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain"
    [encryption] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    # objects outlive a pointer's longest life: max_age (13 days at most) on the retry queue, the
    # dead-letter queue's retention, max_age again once replayed, and a day
    retention_days = packaged.resources["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] // 86_400
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", 2 * 13 + retention_days + 1) == ("Enabled", 41)
    # and both functions are told its name (which also raises max_body_bytes to the Lambda figure)
    for function in ("APIHandler", "Drain"):
        variables = packaged.resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["LARGE_PAYLOAD_BUCKET"] == {"Ref": "LargePayloadBucket"}


def test_packaged_claim_check_policies_give_each_function_only_its_object_actions(packaged: Packaged) -> None:
    # given every IAM statement in the template that names an S3 action
    grants: dict[str, set[str]] = {}
    for resource in packaged.resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            roles = {role["Ref"] for role in resource["Properties"]["Roles"]}
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
        elif resource["Type"] == "AWS::IAM::Role":
            roles = {"(a Chalice role)"}
            statements = [
                s for p in resource["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
            ]
        else:
            continue
        for statement in statements:
            for action in statement["Action"]:
                if action.startswith("s3:"):
                    # then each is on the bucket's objects only
                    assert statement["Resource"] == {"Fn::Sub": "${LargePayloadBucket.Arn}/*"}
                    for role in roles:
                        grants.setdefault(role, set()).add(action)

    # and the HTTP function may only put, the drain only get and delete
    assert grants == {"ApiHandlerRole": {"s3:PutObject"}, "DrainRole": {"s3:GetObject", "s3:DeleteObject"}}


def test_packaged_api_hands_every_request_body_to_lambda_base64_encoded(packaged: Packaged) -> None:
    # when
    definition = packaged.resources["RestAPI"]["Properties"]["DefinitionBody"]

    # then: API Gateway treats every Content-Type as binary, so signatures see the exact bytes
    assert definition["x-amazon-apigateway-binary-media-types"] == ["*/*"]
    assert {"/webhook/{webhook_id}", "/health"} <= set(definition["paths"])


def test_packaged_template_takes_webhooks_json_variables_as_parameters(packaged: Packaged) -> None:
    # given the seed's webhooks.json: ${REDIS_HOST:-localhost}, set by the stage, and ${REDIS_PORT:-6379}

    # when
    parameters = packaged.template["Parameters"]
    variables = packaged.resources["Drain"]["Properties"]["Environment"]["Variables"]

    # then: optional, since it has a default; the stage's own value is no parameter
    assert parameters["RedisPort"]["Default"] == ""
    assert variables["REDIS_PORT"] == {"Ref": "RedisPort"}
    assert "RedisHost" not in parameters
    assert variables["REDIS_HOST"] == REDIS_HOST


def test_package_prints_the_parameters_to_pass_and_a_deploy_command_passing_them(packaged: Packaged) -> None:
    # given the seed's github_example, whose secret defaults to a value written in webhooks.json

    # when
    printed = packaged.run.stdout

    # then: that secret must be passed (the template gives it no default), and the command passes it
    assert "GithubWebhookSecret (required, secret)" in printed
    assert "Default" not in packaged.template["Parameters"]["GithubWebhookSecret"]
    assert "RedisPort (optional): REDIS_PORT, default '6379'" in printed
    assert f"--stack-name spillway-{STAGE} --capabilities CAPABILITY_IAM \\\n" in printed
    assert '--parameter-overrides GithubWebhookSecret="$GITHUB_WEBHOOK_SECRET"' in printed
    assert "local-dev-secret" not in printed


def test_packaged_functions_may_read_exactly_the_parameters_and_secrets_webhooks_json_references(
    packaged: Packaged,
) -> None:
    # when
    policy = packaged.resources["ReadReferencedSecrets"]

    # then both of Chalice's roles may read those two, and nothing else of SSM or Secrets Manager
    assert policy["Properties"]["Roles"] == [{"Ref": "ApiHandlerRole"}, {"Ref": "DrainRole"}]
    account = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:"
    assert [
        (statement["Action"], statement["Resource"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ] == [
        (["ssm:GetParameters"], [{"Fn::Sub": account.replace("{service}", "ssm") + "parameter" + PARAMETER}]),
        (
            ["secretsmanager:GetSecretValue"],
            [{"Fn::Sub": account.replace("{service}", "secretsmanager") + f"secret:{SECRET}-??????"}],
        ),
    ]
    granted = {
        action
        for resource in packaged.resources.values()
        if resource.get("Type") in ("AWS::IAM::Role", "AWS::IAM::Policy")
        for document in _policy_documents(resource)
        for statement in document["Statement"]
        for action in statement["Action"]
        if action.startswith(("ssm:", "secretsmanager:", "kms:"))
    }
    assert granted == {"ssm:GetParameters", "secretsmanager:GetSecretValue"}


def _policy_documents(resource: dict[str, Any]) -> list[dict[str, Any]]:
    properties = resource["Properties"]
    if "PolicyDocument" in properties:
        return [properties["PolicyDocument"]]
    return [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
