"""The stages of .chalice/config.json, their IAM policy files and the merge template built from them:
pure checks, no Chalice build, no AWS."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config.settings import Settings, default_webhooks_config
from operations.deploy_template import (
    DEAD_LETTER_QUEUE_ID,
    DRAIN_EVENT_ID,
    REDIS_IAM_POLICY_ID,
    RETRY_QUEUE_ID,
    PackagedTemplateError,
    check_packaged_template,
    deploy_time_variables,
    merge_template,
    parameter_name,
)
from operations.packaging import (
    PackageResult,
    PackagingError,
    bundled_webhooks_config,
    deploy,
    refuse_batch_reports_chalice_deploy_drops,
    schema_files,
)
from operations.queue_bootstrap import MAX_RETENTION_SECONDS, MIN_MAX_RECEIVE_COUNT, InvalidQueueSettings
from operations.stage_config import FunctionSettings, StageConfigError, StageSettings, load_stage
from scripts import bootstrap_queues
from scripts import package as package_script
from tests.chalice_project import PROJECT_ROOT as PROJECT_ROOT_PATH

PROJECT_ROOT = str(PROJECT_ROOT_PATH)
AWS_STAGES = ("dev", "prod")
SQS_ARN_PREFIX = "arn:*:sqs:*:*:"


def policy(stage: str, function: str) -> dict[str, Any]:
    with open(os.path.join(PROJECT_ROOT, ".chalice", f"policy-{stage}-{function}.json"), encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


def granted(document: dict[str, Any]) -> dict[str, set[str]]:
    """SQS action -> the queue names it is allowed on."""
    grants: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            if action.startswith("sqs:"):
                for resource in resources:
                    assert resource.startswith(SQS_ARN_PREFIX), resource
                    grants.setdefault(action, set()).add(resource.removeprefix(SQS_ARN_PREFIX))
    return grants


# --- .chalice/config.json ------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_aws_stages_name_their_own_queues_and_size_both_functions(stage_name: str) -> None:
    # given / when
    stage = load_stage(PROJECT_ROOT, stage_name)

    # then
    assert stage.retry_queue_name == f"spillway-{stage_name}-retry"
    assert stage.dead_letter_queue_name == f"spillway-{stage_name}-dead-letter"
    # chalice deploy cannot turn ReportBatchItemFailures on; the packaged template sets it true itself
    assert stage.environment["REPORT_BATCH_ITEM_FAILURES"] == "false"
    assert stage.api_handler.timeout_seconds == 15
    assert stage.drain.timeout_seconds == 60
    # AWS: a function on an SQS queue needs at least 5 concurrent executions to not be throttled
    assert stage.drain.reserved_concurrency is not None and stage.drain.reserved_concurrency >= 5
    assert stage.api_handler.reserved_concurrency is None


def test_local_stage_keeps_the_names_make_run_and_the_tests_use() -> None:
    # given / when
    stage = load_stage(PROJECT_ROOT, "local")

    # then
    assert (stage.retry_queue_name, stage.dead_letter_queue_name) == ("spillway-retry", "spillway-dead-letter")
    assert stage.environment["REPORT_BATCH_ITEM_FAILURES"] == "true"


def test_no_stage_variable_applies_to_the_test_client_stage() -> None:
    # given the raw file: chalice.test.Client(stage_name="test") would apply top-level variables
    with open(os.path.join(PROJECT_ROOT, ".chalice", "config.json"), encoding="utf-8") as file:
        document = json.load(file)

    # then
    assert "environment_variables" not in document
    assert "test" not in document["stages"]


def test_unknown_stage_is_refused_naming_the_stages_there_are() -> None:
    with pytest.raises(StageConfigError, match=r"no stage 'staging' \(stages: dev, local, prod\)"):
        load_stage(PROJECT_ROOT, "staging")


# --- IAM policy files -----------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_http_function_may_only_spill_to_the_retry_queue_and_read_queue_depths(stage_name: str) -> None:
    # given
    stage = load_stage(PROJECT_ROOT, stage_name)
    retry, dead = stage.retry_queue_name, stage.dead_letter_queue_name

    # when
    grants = granted(policy(stage_name, "api_handler"))

    # then: send only to the retry queue; attributes of both for GET /health?deep=1
    assert grants == {
        "sqs:SendMessage": {retry},
        "sqs:GetQueueUrl": {retry, dead},
        "sqs:GetQueueAttributes": {retry, dead},
    }


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_drain_may_consume_the_retry_queue_and_send_to_both(stage_name: str) -> None:
    # given
    stage = load_stage(PROJECT_ROOT, stage_name)
    retry, dead = stage.retry_queue_name, stage.dead_letter_queue_name

    # when
    grants = granted(policy(stage_name, "drain"))

    # then
    assert grants == {
        "sqs:ReceiveMessage": {retry},
        "sqs:DeleteMessage": {retry},
        "sqs:ChangeMessageVisibility": {retry},
        "sqs:GetQueueAttributes": {retry},
        "sqs:SendMessage": {retry, dead},
        "sqs:GetQueueUrl": {retry, dead},
    }


@pytest.mark.parametrize("function", ["api_handler", "drain"])
@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_each_function_may_write_its_own_logs(stage_name: str, function: str) -> None:
    # given
    statements = policy(stage_name, function)["Statement"]

    # then: Chalice's autogenerated policy had these; with autogen_policy false they are ours to give
    logs = [statement for statement in statements if any(a.startswith("logs:") for a in statement["Action"])]
    assert [sorted(statement["Action"]) for statement in logs] == [
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    ]


# --- the merge template ---------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_merge_template_queues_match_what_bootstrap_creates(stage_name: str) -> None:
    # given
    stage = load_stage(PROJECT_ROOT, stage_name)

    # when
    resources = merge_template(stage)["Resources"]

    # then
    retry = resources[RETRY_QUEUE_ID]["Properties"]
    dead = resources[DEAD_LETTER_QUEUE_ID]["Properties"]
    assert retry["QueueName"] == stage.retry_queue_name
    assert dead["QueueName"] == stage.dead_letter_queue_name
    assert retry["VisibilityTimeout"] == 6 * stage.drain.timeout_seconds
    assert retry["MessageRetentionPeriod"] == dead["MessageRetentionPeriod"] == MAX_RETENTION_SECONDS == 14 * 86_400
    assert retry["RedrivePolicy"]["maxReceiveCount"] >= MIN_MAX_RECEIVE_COUNT
    assert retry["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [DEAD_LETTER_QUEUE_ID, "Arn"]}
    # a queue created without MaximumMessageSize takes only 256 KiB: both say 1 MiB, as bootstrap does
    assert retry["MaximumMessageSize"] == dead["MaximumMessageSize"] == 1_048_576


def test_merge_template_caps_the_pollers_concurrency_at_the_reserved_concurrency() -> None:
    # given
    stage = load_stage(PROJECT_ROOT, "prod")

    # when
    event = merge_template(stage)["Resources"]["Drain"]["Properties"]["Events"][DRAIN_EVENT_ID]["Properties"]

    # then
    assert event["ScalingConfig"] == {"MaximumConcurrency": stage.drain.reserved_concurrency}


def test_merge_template_refuses_a_drain_timeout_whose_visibility_timeout_sqs_would_refuse() -> None:
    # given a drain timeout over 2 hours (6 x it would pass SQS's 12-hour visibility limit)
    stage = StageSettings(
        "big", {}, FunctionSettings("api_handler", 128, 15, None), FunctionSettings("drain", 128, 7_201, None)
    )

    # then
    with pytest.raises(InvalidQueueSettings, match="drain_timeout_seconds"):
        merge_template(stage)


def test_webhooks_json_variables_the_stage_does_not_set_become_template_parameters() -> None:
    # given a stage that sets REDIS_HOST, and a webhooks.json with a required secret and an optional port
    stage = load_stage(PROJECT_ROOT, "dev")
    stage = StageSettings(stage.stage, {**stage.environment, "REDIS_HOST": "cache"}, stage.api_handler, stage.drain)
    webhooks = '{"h": {"redis": {"host": "${REDIS_HOST}", "port": "${REDIS_PORT:-6379}"}, "s": "${GH_SECRET}"}}'

    # when
    template = merge_template(stage, webhooks)

    # then
    parameters = template["Parameters"]
    assert set(parameters) == {"RedisPort", "GhSecret", "AdminToken"}
    assert parameters["GhSecret"]["NoEcho"] is True
    assert "Default" not in parameters["GhSecret"]
    assert parameters["RedisPort"]["Default"] == ""
    assert "NoEcho" not in parameters["RedisPort"]
    for function in ("Drain", "APIHandler"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["GH_SECRET"] == {"Ref": "GhSecret"}
        assert "REDIS_HOST" not in variables


def test_admin_token_is_a_parameter_given_to_the_http_function_only() -> None:
    # given / when
    template = merge_template(load_stage(PROJECT_ROOT, "prod"))

    # then
    assert template["Parameters"]["AdminToken"]["NoEcho"] is True
    assert template["Parameters"]["AdminToken"]["Default"] == ""
    resources = template["Resources"]
    assert resources["APIHandler"]["Properties"]["Environment"]["Variables"]["ADMIN_TOKEN"] == {"Ref": "AdminToken"}
    assert "ADMIN_TOKEN" not in resources["Drain"]["Properties"]["Environment"]["Variables"]


def test_parameter_names_are_camel_case_of_the_variable() -> None:
    assert parameter_name("REDIS_PASSWORD") == "RedisPassword"
    assert parameter_name("STRIPE_WEBHOOK_SECRET_2") == "StripeWebhookSecret2"


# --- what `make package` tells its user to pass ----------------------------------------------

# The stage sets the Redis host (make package refuses a loopback one); webhooks.json has a secret with
# no default, one whose committed default anyone can read, and an optional port.
PACKAGED_WEBHOOKS = json.dumps(
    {
        "h": {
            "redis": {"host": "${REDIS_HOST}", "port": "${REDIS_PORT:-6379}"},
            "verify": {"provider": "github", "secrets": ["${GITHUB_WEBHOOK_SECRET:-local-dev-secret}"]},
        },
        "s": {"verify": {"provider": "stripe", "secrets": ["${STRIPE_WEBHOOK_SECRET}"]}},
    }
)


def packaged_dev(webhooks: str) -> PackageResult:
    stage = load_stage(PROJECT_ROOT, "dev")
    stage = StageSettings(stage.stage, {**stage.environment, "REDIS_HOST": "cache"}, stage.api_handler, stage.drain)
    parameters = tuple(deploy_time_variables(stage, webhooks))
    return PackageResult(
        "/p/build/dev", "/p/build/dev/sam.json", "/p/build/dev/deployment.zip", "/p/d.json", parameters
    )


def test_package_lists_the_parameters_and_a_deploy_command_passing_every_required_one() -> None:
    # given / when
    text = package_script.next_steps(packaged_dev(PACKAGED_WEBHOOKS), "dev")

    # then: the secrets first, as required; the rest as optional
    lines = text.splitlines()
    assert lines[0].startswith("parameters:") and "GithubWebhookSecret (required, secret)" in lines[0]
    assert "StripeWebhookSecret (required, secret): STRIPE_WEBHOOK_SECRET, no default" in lines[1]
    assert "RedisPort (optional): REDIS_PORT, default '6379'" in text
    assert "AdminToken (optional, secret)" in text
    assert "before deploying, export GITHUB_WEBHOOK_SECRET and STRIPE_WEBHOOK_SECRET" in text
    # the deploy command, continued onto the overrides line, reads the secrets from the environment
    deploy = text[text.index("aws cloudformation deploy") :].replace("\\\n", " ")
    assert " ".join(deploy.split()) == (
        "aws cloudformation deploy --template-file /p/build/dev/packaged.yaml --stack-name spillway-dev "
        "--capabilities CAPABILITY_IAM --parameter-overrides "
        'GithubWebhookSecret="$GITHUB_WEBHOOK_SECRET" StripeWebhookSecret="$STRIPE_WEBHOOK_SECRET"'
    )
    assert "aws cloudformation package --template-file /p/build/dev/sam.json" in text
    # a committed default is not repeated, even though anyone can read it
    assert "local-dev-secret" not in text


def test_package_with_nothing_required_prints_a_deploy_command_without_overrides() -> None:
    # given / when
    text = package_script.next_steps(packaged_dev('{"h": {"redis": {"host": "${REDIS_HOST}"}}}'), "dev")

    # then
    assert "AdminToken (optional, secret)" in text
    assert "--parameter-overrides" not in text
    assert "export" not in text


def test_a_secret_whose_default_is_committed_gets_no_template_default_so_a_deploy_must_pass_it() -> None:
    # given / when
    stage = load_stage(PROJECT_ROOT, "dev")
    stage = StageSettings(stage.stage, {**stage.environment, "REDIS_HOST": "cache"}, stage.api_handler, stage.drain)
    parameters = merge_template(stage, PACKAGED_WEBHOOKS)["Parameters"]

    # then: CloudFormation refuses a deploy without it, rather than run with the public default
    assert "Default" not in parameters["GithubWebhookSecret"]
    assert parameters["GithubWebhookSecret"]["NoEcho"] is True
    assert parameters["RedisPort"]["Default"] == ""


# --- the batch setting each deploy path can honour ------------------------------------------


def write_stage(project_dir: Path, stage: str, environment: dict[str, str], drain_environment: dict[str, str]) -> None:
    config = {
        "version": "2.0",
        "app_name": "spillway",
        "stages": {
            stage: {
                "environment_variables": environment,
                "lambda_functions": {"drain": {"environment_variables": drain_environment}},
            }
        },
    }
    (project_dir / ".chalice").mkdir()
    (project_dir / ".chalice" / "config.json").write_text(json.dumps(config))


def test_make_deploy_refuses_a_drain_reporting_batch_item_failures_before_creating_anything(
    tmp_path: Path, sqs: Any
) -> None:
    # given a stage whose drain reports single failed records, which `chalice deploy`'s event source ignores
    queues = {"RETRY_QUEUE_NAME": "risky-retry", "DEAD_LETTER_QUEUE_NAME": "risky-dead-letter"}
    write_stage(tmp_path, "risky", {**queues, "REPORT_BATCH_ITEM_FAILURES": "true"}, {})

    # when
    with pytest.raises(PackagingError) as refused:
        deploy(str(tmp_path), "risky", sqs)

    # then the message says both ways out, and no queue was made
    message = str(refused.value)
    assert "stage 'risky' sets REPORT_BATCH_ITEM_FAILURES='true'" in message
    assert "`make package` and CloudFormation" in message
    assert 'set REPORT_BATCH_ITEM_FAILURES to "false"' in message
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="risky")


@pytest.mark.parametrize(
    ("stage_wide", "drain_only", "refused"),
    [
        ("false", "true", True),
        ("true", "false", False),
        ("yes", None, True),
        ("false", None, False),
        (None, None, False),
    ],
)
def test_make_deploy_judges_the_setting_the_drain_itself_gets(
    tmp_path: Path, stage_wide: str | None, drain_only: str | None, refused: bool
) -> None:
    # given the variable set stage-wide, or for the drain alone (which wins, as Chalice merges them)
    write_stage(
        tmp_path,
        "s",
        {} if stage_wide is None else {"REPORT_BATCH_ITEM_FAILURES": stage_wide},
        {} if drain_only is None else {"REPORT_BATCH_ITEM_FAILURES": drain_only},
    )
    stage = load_stage(str(tmp_path), "s")

    # when / then
    if refused:
        with pytest.raises(PackagingError, match="cannot turn ReportBatchItemFailures on"):
            refuse_batch_reports_chalice_deploy_drops(stage)
    else:
        refuse_batch_reports_chalice_deploy_drops(stage)


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_the_aws_stages_pass_the_make_deploy_batch_check(stage_name: str) -> None:
    refuse_batch_reports_chalice_deploy_drops(load_stage(PROJECT_ROOT, stage_name))


@pytest.mark.parametrize("stage_name", AWS_STAGES)
def test_the_packaged_drain_reports_batch_item_failures_to_an_event_source_that_honours_them(
    stage_name: str,
) -> None:
    # given a stage that says false (for `make deploy`)
    stage = load_stage(PROJECT_ROOT, stage_name)
    assert stage.drain.environment["REPORT_BATCH_ITEM_FAILURES"] == "false"

    # when
    drain = merge_template(stage)["Resources"]["Drain"]["Properties"]

    # then the template sets both halves itself: the stage's false never reaches the packaged drain
    assert drain["Events"][DRAIN_EVENT_ID]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert drain["Environment"]["Variables"]["REPORT_BATCH_ITEM_FAILURES"] == "true"


def packaged_template(drain_setting: str, response_types: list[str] | None) -> dict[str, Any]:
    event: dict[str, Any] = {"Queue": {"Fn::Sub": "${RetryQueue.Arn}"}}
    if response_types is not None:
        event["FunctionResponseTypes"] = response_types
    return {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {}},
            "Drain": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Environment": {"Variables": {"REPORT_BATCH_ITEM_FAILURES": drain_setting}},
                    "Events": {DRAIN_EVENT_ID: {"Type": "SQS", "Properties": event}},
                },
            },
        }
    }


def test_a_packaged_drain_reporting_failures_to_an_event_source_that_ignores_them_is_refused() -> None:
    # given a packaged template whose event source lost FunctionResponseTypes
    template = packaged_template("true", None)

    # then
    with pytest.raises(PackagedTemplateError, match=r"lacks FunctionResponseTypes \[ReportBatchItemFailures\]"):
        check_packaged_template(template)


@pytest.mark.parametrize(
    ("drain_setting", "response_types"),
    [
        ("true", ["ReportBatchItemFailures"]),
        ("false", []),
        # The drain fails a batch it could not finish instead of reporting: Lambda redelivers it, loses nothing.
        ("false", ["ReportBatchItemFailures"]),
    ],
)
def test_packaged_batch_settings_that_lose_nothing_pass(drain_setting: str, response_types: list[str]) -> None:
    check_packaged_template(packaged_template(drain_setting, response_types))


# --- where the function finds webhooks.json -------------------------------------------------


def test_webhooks_json_beside_app_py_wins_over_the_bundled_copy(tmp_path: Path) -> None:
    # given both files
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "webhooks.json").write_text("{}")
    (tmp_path / "chalicelib" / "webhooks.json").write_text("{}")

    # then
    assert default_webhooks_config(str(tmp_path)) == str(tmp_path / "webhooks.json")


def test_bundled_copy_is_used_when_only_chalicelib_has_one_as_on_lambda(tmp_path: Path) -> None:
    # given only the copy `make package` bundles
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "webhooks.json").write_text("{}")

    # then
    assert default_webhooks_config(str(tmp_path)) == str(tmp_path / "chalicelib" / "webhooks.json")


def test_with_neither_file_the_error_will_name_the_one_beside_app_py(tmp_path: Path) -> None:
    assert default_webhooks_config(str(tmp_path)) == str(tmp_path / "webhooks.json")


def test_webhooks_config_variable_wins_over_both_files() -> None:
    # given / when
    settings = Settings.from_environ({"WEBHOOKS_CONFIG": "/etc/spillway/webhooks.json"})

    # then
    assert settings.webhooks_config == "/etc/spillway/webhooks.json"


def test_a_merge_that_missed_chalices_event_source_is_refused() -> None:
    # given a packaged template where the merge added a second event instead of changing Chalice's
    template = {
        "Resources": {
            "APIHandler": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {}},
            "Drain": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "DrainSqsEvents": {"Type": "SQS", "Properties": {"Queue": {"Fn::Sub": "arn:…:other"}}},
                        DRAIN_EVENT_ID: {"Properties": {"Queue": {"Fn::Sub": "${RetryQueue.Arn}"}}},
                    }
                },
            },
        }
    }

    # then
    with pytest.raises(PackagedTemplateError, match="one SQS event"):
        check_packaged_template(template)


def test_bootstrap_with_a_stage_takes_its_queue_names_and_drain_timeout_and_explicit_options_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given names in the environment too, which a stage overrides
    monkeypatch.setenv("RETRY_QUEUE_NAME", "from-environment")
    script = bootstrap_queues

    # when
    staged = script.build_parser().parse_args(["--stage", "prod"])
    script.resolve_defaults(staged)
    overridden = script.build_parser().parse_args(["--stage", "prod", "--drain-timeout", "30", "--retry-queue", "x"])
    script.resolve_defaults(overridden)
    plain = script.build_parser().parse_args([])
    script.resolve_defaults(plain)

    # then
    assert (staged.retry_queue, staged.dead_letter_queue, staged.drain_timeout) == (
        "spillway-prod-retry",
        "spillway-prod-dead-letter",
        60,
    )
    assert (overridden.retry_queue, overridden.drain_timeout) == ("x", 30)
    assert (plain.retry_queue, plain.dead_letter_queue, plain.drain_timeout) == (
        "from-environment",
        "spillway-dead-letter",
        60,
    )


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("../outside.json", "must be a path inside the folder of webhooks.json"),
        ("/etc/schema.json", "must be a path inside the folder of webhooks.json"),
        ("${SCHEMA_PATH}", "without ${VAR}"),
        ("missing.json", "schema file 'missing.json' not found"),
    ],
)
def test_a_schema_file_that_cannot_ship_beside_webhooks_json_is_refused_before_building(
    tmp_path: Path, schema: str, problem: str
) -> None:
    # given
    source = tmp_path / "webhooks.json"
    document = {"hook": {"data_type": "json", "schema": schema}}

    # then
    with pytest.raises(PackagingError, match=re.escape(problem)):
        schema_files(document, str(source))


def test_bundling_refuses_to_overwrite_a_file_of_chalicelib(tmp_path: Path) -> None:
    # given a schema path that is also a module of chalicelib/
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "door.py").write_text("# code\n")
    (tmp_path / "door.py").write_text("{}")
    (tmp_path / "webhooks.json").write_text(json.dumps({"hook": {"schema": "door.py"}}))

    # when / then
    with (
        pytest.raises(PackagingError, match="chalicelib/ already has a file there"),
        bundled_webhooks_config(str(tmp_path)),
    ):
        pass
    assert (tmp_path / "chalicelib" / "door.py").read_text() == "# code\n"
    assert not (tmp_path / "chalicelib" / "webhooks.json").exists()


# --- IAM authentication to Redis --------------------------------------------------------------


def test_no_redis_connect_permission_is_granted_when_no_webhook_uses_iam_auth() -> None:
    template = merge_template(load_stage(PROJECT_ROOT, "prod"), '{"h": {"redis": {"host": "cache", "stream": "s"}}}')
    assert REDIS_IAM_POLICY_ID not in template["Resources"]


def test_webhooks_with_iam_auth_grant_connect_on_their_cache_and_user_to_both_functions() -> None:
    # given a serverless ElastiCache, a node-based one in another region, and a MemoryDB cluster
    def iam_hook(**iam: Any) -> dict[str, Any]:
        return {"redis": {"ssl": True, "stream": "s", "auth": "iam", "iam": iam}}

    webhooks = {
        "a": iam_hook(cache_name="Orders", user_id="relay", serverless=True),
        "b": iam_hook(cache_name="legacy-rg", user_id="relay", region="eu-west-1"),
        "c": iam_hook(cache_name="ledger", user_id="relay-mdb", service="memorydb"),
    }

    # when
    policy = merge_template(load_stage(PROJECT_ROOT, "prod"), json.dumps(webhooks))["Resources"][REDIS_IAM_POLICY_ID]

    # then
    properties = policy["Properties"]
    assert properties["Roles"] == [{"Ref": "ApiHandlerRole"}, {"Ref": "DrainRole"}]
    grants = {
        statement["Action"][0]: [resource["Fn::Sub"] for resource in statement["Resource"]]
        for statement in properties["PolicyDocument"]["Statement"]
    }
    account = "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}"
    assert grants["elasticache:Connect"] == [
        f"{account}:serverlesscache:orders",
        f"{account}:user:relay",
        "arn:${AWS::Partition}:elasticache:eu-west-1:${AWS::AccountId}:replicationgroup:legacy-rg",
        "arn:${AWS::Partition}:elasticache:eu-west-1:${AWS::AccountId}:user:relay",
    ]
    assert grants["memorydb:Connect"] == [
        "arn:${AWS::Partition}:memorydb:${AWS::Region}:${AWS::AccountId}:cluster/ledger",
        "arn:${AWS::Partition}:memorydb:${AWS::Region}:${AWS::AccountId}:user/relay-mdb",
    ]


def test_iam_auth_cache_named_by_an_environment_variable_is_refused_naming_webhook_and_field() -> None:
    webhooks = '{"h": {"redis": {"auth": "iam", "iam": {"cache_name": "${CACHE}", "user_id": "relay"}}}}'
    with pytest.raises(ValueError, match=r"'h': redis\.iam\.cache_name"):
        merge_template(load_stage(PROJECT_ROOT, "prod"), webhooks)
