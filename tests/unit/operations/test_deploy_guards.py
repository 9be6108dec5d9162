"""What `make package` and `make deploy` refuse before building or creating anything, and the read
grants the template computes from webhooks.json's `${ssm:...}` / `${secretsmanager:...}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from operations.deploy_guards import (
    OverlongRequests,
    UngrantedSecrets,
    UnreachableRedis,
    is_local_host,
    refuse_overlong_requests,
    refuse_ungranted_secrets,
    refuse_unreachable_redis,
)
from operations.deploy_template import SECRETS_POLICY_ID, merge_template
from operations.packaging import PackagingError, deploy, package
from operations.stage_config import FunctionSettings, StageSettings, load_stage

STAGE = "guarded"
QUEUES = {"RETRY_QUEUE_NAME": "guarded-retry", "DEAD_LETTER_QUEUE_NAME": "guarded-dead-letter"}
SEED_REDIS = {"host": "${REDIS_HOST:-localhost}", "port": "${REDIS_PORT:-6379}", "stream": "webhook_events"}


def project(
    tmp_path: Path, environment: dict[str, str], webhooks: dict[str, Any] | None, policy: dict[str, Any] | None = None
) -> str:
    """A Chalice project with one stage; webhooks.json beside app.py unless `webhooks` is None; with
    `policy`, both functions get that policy file (autogen_policy false)."""
    stage: dict[str, Any] = {"environment_variables": {**QUEUES, **environment}}
    if policy is not None:
        (tmp_path / ".chalice").mkdir()
        (tmp_path / ".chalice" / "policy.json").write_text(json.dumps(policy))
        own_policy = {"autogen_policy": False, "iam_policy_file": "policy.json"}
        stage["lambda_functions"] = {"api_handler": own_policy, "drain": own_policy}
    config = {"version": "2.0", "app_name": "spillway", "stages": {STAGE: stage}}
    (tmp_path / ".chalice").mkdir(exist_ok=True)
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    (tmp_path / "chalicelib").mkdir()
    if webhooks is not None:
        (tmp_path / "webhooks.json").write_text(json.dumps(webhooks))
    return str(tmp_path)


@pytest.mark.parametrize(
    ("environment", "redis"),
    [
        ({}, SEED_REDIS),  # the seed's default: localhost
        ({}, {"host": "${REDIS_HOST}", "stream": "s"}),  # unset: empty
        ({"REDIS_HOST": "127.0.0.5"}, SEED_REDIS),
        ({"REDIS_HOST": "::1"}, SEED_REDIS),
        ({}, {"stream": "s"}),  # no host at all: the default, localhost
        ({"REDIS_URL": "rediss://localhost:6380/0"}, {"url": "${REDIS_URL}", "stream": "s"}),
        ({}, {"url": "unix:///tmp/redis.sock", "stream": "s"}),
    ],
)
def test_a_stage_whose_redis_is_empty_or_loopback_is_refused_naming_the_webhook(
    tmp_path: Path, environment: dict[str, str], redis: dict[str, Any]
) -> None:
    # given
    stage = load_stage(project(tmp_path, environment, None), STAGE)

    # when / then
    with pytest.raises(UnreachableRedis) as refused:
        refuse_unreachable_redis(stage, json.dumps({"hook": {"data_type": "json", "redis": redis}}))
    message = str(refused.value)
    assert "webhook 'hook'" in message
    assert f"stages.{STAGE}.environment_variables" in message


@pytest.mark.parametrize(
    ("environment", "redis"),
    [
        ({"REDIS_HOST": "spillway.abc123.use1.cache.amazonaws.com"}, SEED_REDIS),
        ({}, {"host": "10.0.3.7", "stream": "s"}),
        ({"REDIS_URL": "rediss://cache.internal:6380/0"}, {"url": "${REDIS_URL}", "stream": "s"}),
        # read only on AWS: not judged at package time
        ({}, {"url": "${secretsmanager:spillway/redis#url}", "stream": "s"}),
    ],
)
def test_a_stage_whose_redis_is_reachable_or_read_from_aws_passes(
    tmp_path: Path, environment: dict[str, str], redis: dict[str, Any]
) -> None:
    stage = load_stage(project(tmp_path, environment, None), STAGE)
    refuse_unreachable_redis(stage, json.dumps({"hook": {"data_type": "json", "redis": redis}}))


def test_loopback_is_every_name_of_the_machine_itself() -> None:
    assert all(map(is_local_host, ["", "localhost", "LOCALHOST.", "cache.localhost", "127.1.2.3", "::1", "[::1]"]))
    assert not any(map(is_local_host, ["redis.internal", "10.0.0.1", "2001:db8::1", "localhost-cache.internal"]))


def test_make_deploy_refuses_the_seeds_localhost_before_creating_any_queue(tmp_path: Path, sqs: Any) -> None:
    # given the seed's webhook and a stage that does not say where Redis is
    project_dir = project(tmp_path, {}, {"redis_test": {"data_type": "json", "redis": SEED_REDIS}})

    # when
    with pytest.raises(PackagingError) as refused:
        deploy(project_dir, STAGE, sqs)

    # then the message names the webhook, the variable and where to set it; nothing was created
    message = str(refused.value)
    assert "webhook 'redis_test'" in message and "REDIS_HOST unset" in message
    assert '"REDIS_HOST": "<your Redis host>"' in message
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="guarded")
    assert not (tmp_path / "chalicelib" / "webhooks.json").exists()


def test_make_package_refuses_the_seeds_localhost_before_building(tmp_path: Path) -> None:
    # given
    project_dir = project(tmp_path, {}, {"redis_test": {"data_type": "json", "redis": SEED_REDIS}})
    output = tmp_path / "build" / STAGE

    # when / then
    with pytest.raises(PackagingError, match="webhook 'redis_test'"):
        package(project_dir, STAGE, str(output))
    assert not output.exists()


def test_make_deploy_and_package_refuse_a_bundle_without_webhooks_json(tmp_path: Path, sqs: Any) -> None:
    # given a project with no webhooks.json
    project_dir = project(tmp_path, {"REDIS_HOST": "cache.internal"}, None)

    # when / then: both say what is missing and how to give it, and nothing was created
    with pytest.raises(PackagingError, match=r"no such file.*--webhooks-config"):
        deploy(project_dir, STAGE, sqs)
    with pytest.raises(PackagingError, match=r"no such file.*--webhooks-config"):
        package(project_dir, STAGE, str(tmp_path / "build"))
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="guarded")


# --- read grants on the referenced parameters and secrets --------------------------------------


def arn(service: str, resource: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def test_the_template_grants_both_functions_read_on_exactly_the_referenced_parameters_and_secrets(
    tmp_path: Path,
) -> None:
    # given references of every kind, one of them twice, and WEBHOOKS_CONFIG held in SSM
    stage = load_stage(project(tmp_path, {"WEBHOOKS_CONFIG": "ssm:/spillway/webhooks"}, None), STAGE)
    webhooks = {
        "a": {"verify": {"secrets": ["${ssm:/spillway/github}", "${secretsmanager:spillway/keys#github}"]}},
        "b": {"verify": {"secrets": ["${secretsmanager:spillway/keys#stripe}", "${secretsmanager:plain}"]}},
        "c": {"redis": {"password": "${ssm:redis-password}"}},
    }

    # when
    policy = merge_template(stage, json.dumps(webhooks))["Resources"][SECRETS_POLICY_ID]

    # then one policy on both of Chalice's roles
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Properties"]["Roles"] == [{"Ref": "ApiHandlerRole"}, {"Ref": "DrainRole"}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # and GetParameters on those parameters only, GetSecretValue on those secrets only
    assert [(statement["Action"], statement["Resource"]) for statement in statements] == [
        (
            ["ssm:GetParameters"],
            [
                arn("ssm", "parameter/spillway/github"),
                arn("ssm", "parameter/spillway/webhooks"),
                arn("ssm", "parameter/redis-password"),
            ],
        ),
        (
            ["secretsmanager:GetSecretValue"],
            [arn("secretsmanager", "secret:plain-??????"), arn("secretsmanager", "secret:spillway/keys-??????")],
        ),
    ]


def test_a_config_without_references_gets_no_secrets_policy(tmp_path: Path) -> None:
    stage = load_stage(project(tmp_path, {}, None), STAGE)
    assert SECRETS_POLICY_ID not in merge_template(stage, json.dumps({"a": {"redis": SEED_REDIS}}))["Resources"]


REFERENCING = {
    "hook": {
        "data_type": "json",
        "redis": {"host": "cache.internal", "stream": "s"},
        "verify": {"provider": "github", "secrets": ["${ssm:/spillway/github}", "${secretsmanager:spillway/keys#a}"]},
    }
}


def test_make_deploy_refuses_policy_files_that_cannot_read_the_referenced_secrets_and_says_what_to_add(
    tmp_path: Path, sqs: Any
) -> None:
    # given webhooks.json reading SSM and Secrets Manager, and policy files granting only logs
    logs_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:*"], "Resource": "*"}]}
    project_dir = project(tmp_path, {}, REFERENCING, logs_only)

    # when
    with pytest.raises(PackagingError) as refused:
        deploy(project_dir, STAGE, sqs)

    # then the message names the references and holds the statements to paste; nothing was created
    message = str(refused.value)
    assert "${ssm:/spillway/github}" in message and "${secretsmanager:spillway/keys#a}" in message
    assert '"Action": ["ssm:GetParameters"], "Resource": ["arn:*:ssm:*:*:parameter/spillway/github"]' in message
    assert '"Resource": ["arn:*:secretsmanager:*:*:secret:spillway/keys-??????"]' in message
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="guarded")


def test_policy_files_granting_the_referenced_secrets_pass_the_deploy_check(tmp_path: Path) -> None:
    # given policy files with the statements the refusal asks for (a wildcard path for SSM)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": "arn:*:ssm:*:*:parameter/spillway/*"},
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": ["arn:*:secretsmanager:*:*:secret:spillway/keys-??????"],
            },
        ],
    }
    project_dir = project(tmp_path, {}, REFERENCING, policy)

    # when / then
    refuse_ungranted_secrets(project_dir, load_stage(project_dir, STAGE), json.dumps(REFERENCING))
    # and without the Secrets Manager statement it is refused
    policy["Statement"].pop()
    (tmp_path / ".chalice" / "policy.json").write_text(json.dumps(policy))
    with pytest.raises(UngrantedSecrets, match=r"secretsmanager:spillway/keys#a"):
        refuse_ungranted_secrets(project_dir, load_stage(project_dir, STAGE), json.dumps(REFERENCING))


def http_function_with_timeout(seconds: int, api_handler_environment: dict[str, str] | None = None) -> StageSettings:
    """A stage whose HTTP function alone sees `api_handler_environment` (the stage and the drain see none)."""
    return StageSettings(
        stage=STAGE,
        environment={},
        api_handler=FunctionSettings("api_handler", 256, seconds, None, api_handler_environment or {}),
        drain=FunctionSettings("drain", 256, 60, None, {}),
    )


def test_an_inline_budget_that_with_the_spill_outlasts_the_functions_timeout_is_refused_naming_the_webhook() -> None:
    # given the dev stage's 15 s HTTP function and a webhook waiting 5 s on Redis (5 + 12 + 1.5 > 15)
    webhooks = {
        "patient": {"data_type": "json", "redis": SEED_REDIS, "inline": {"budget_seconds": 5}},
        "default": {"data_type": "json", "redis": SEED_REDIS},
    }

    # when / then
    with pytest.raises(OverlongRequests) as refused:
        refuse_overlong_requests(http_function_with_timeout(15), json.dumps(webhooks))
    message = str(refused.value)
    assert "webhook 'patient'" in message and "18.5 s" in message and "timeout is 15 s" in message
    assert "'default'" not in message
    assert "lambda_timeout" in message


@pytest.mark.parametrize(
    ("inline", "environment", "needed"),
    [
        pytest.param({"budget_seconds": "5"}, {}, "18.5 s", id="number-as-text"),
        pytest.param({"budget_seconds": "${INLINE_BUDGET}"}, {"INLINE_BUDGET": "5"}, "18.5 s", id="variable"),
        # the first try is always made: its connect and socket timeouts count even past the budget
        pytest.param({"connect_timeout": 10}, {}, "24 s", id="long-first-try"),
    ],
)
def test_every_way_of_writing_an_overlong_inline_path_is_refused(
    inline: dict[str, Any], environment: dict[str, str], needed: str
) -> None:
    webhooks = {"hook": {"data_type": "json", "redis": SEED_REDIS, "inline": inline}}
    with pytest.raises(OverlongRequests, match=f"= {needed}"):
        refuse_overlong_requests(http_function_with_timeout(15, environment), json.dumps(webhooks))


@pytest.mark.parametrize(
    ("timeout", "inline", "environment"),
    [
        pytest.param(15, {}, {}, id="default-budget"),
        pytest.param(15, {"budget_seconds": 1.5}, {}, id="budget-that-fits"),
        pytest.param(29, {"budget_seconds": 10}, {}, id="longer-timeout"),
        pytest.param(15, {"budget_seconds": "${INLINE_BUDGET:-1}"}, {}, id="variable-default"),
        pytest.param(15, {"budget_seconds": "${INLINE_BUDGET}"}, {"INLINE_BUDGET": "1.5"}, id="variable-set"),
    ],
)
def test_an_inline_budget_that_fits_the_functions_timeout_passes(
    timeout: int, inline: dict[str, Any], environment: dict[str, str]
) -> None:
    webhooks = {"hook": {"data_type": "json", "redis": SEED_REDIS, "inline": inline}}
    refuse_overlong_requests(http_function_with_timeout(timeout, environment), json.dumps(webhooks))


def test_make_package_and_deploy_refuse_a_stage_whose_requests_could_outlast_its_function(
    tmp_path: Path, sqs: Any
) -> None:
    # given a reachable Redis, a webhook that may wait 10 s on it, and a 15 s HTTP function
    webhooks = {
        "hook": {
            "data_type": "json",
            "redis": {"host": "10.0.3.7", "stream": "s"},
            "inline": {"budget_seconds": 10, "socket_timeout": 0.5},
        }
    }
    project_dir = project(tmp_path, {}, webhooks)
    config_path = tmp_path / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"][STAGE]["lambda_timeout"] = 15
    config_path.write_text(json.dumps(config))

    # when / then: refused before anything is built, or any queue made
    with pytest.raises(PackagingError, match=r"inline\.budget_seconds 10"):
        package(project_dir, STAGE, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(PackagingError, match=r"inline\.budget_seconds 10"):
        deploy(project_dir, STAGE, sqs)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="guarded")
