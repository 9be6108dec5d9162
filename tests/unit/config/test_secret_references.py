"""Secrets where AWS users keep them: `${ssm:/path}`, `${secretsmanager:name}`,
`${secretsmanager:name#json_key}` and WEBHOOKS_CONFIG=ssm:/name, read through moto's SSM and Secrets
Manager, refreshed every SECRETS_REFRESH_SECONDS (a simulated clock: no test waits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from chalicelib.config.loader import SECRET_REFERENCE_OPENINGS, SSM_DOCUMENT_PREFIX, load_config
from chalicelib.config.secret_references import SSM_PREFIX, Service, references_in
from chalicelib.config.settings import get_relay_config
from chalicelib.errors import ConfigError
from chalicelib.process_state import reset_process_state
from devstack.moto_sqs import MotoSqsServer
from devstack.redis_server import RedisServer
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import WriteConfig, stream_events, webhook_settings
from tests.signed_requests import sign_github

WEBHOOK = "github"
PARAMETER = "/spillway/github-secret"
REFRESH_SECONDS = 60
BODY = b'{"zen": "Keep it logically awesome."}'


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    monkeypatch.setenv("SECRETS_REFRESH_SECONDS", str(REFRESH_SECONDS))
    simulated = SimulatedClock()
    reset_process_state(simulated)
    return simulated


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto's SSM and Secrets Manager, in this process."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        reset_process_state()
        yield {
            "ssm": boto3.client("ssm", region_name="us-east-1"),
            "secretsmanager": boto3.client("secretsmanager", region_name="us-east-1"),
        }


def github_hook(redis_server: RedisServer, secret: str) -> dict[str, Any]:
    return webhook_settings(redis_server, verify={"provider": "github", "secrets": [secret]})


def post_signed(chalice_client: Any, secret: str, delivery: str) -> Any:
    headers = {"Content-Type": "application/json", **sign_github(secret, BODY, 0, delivery)}
    return chalice_client.http.post(f"/webhook/{WEBHOOK}", body=BODY, headers=headers)


def test_ssm_secret_verifies_a_signed_webhook_and_its_rotation_is_taken_within_the_refresh_period(
    aws: dict[str, Any],
    clock: SimulatedClock,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
) -> None:
    # given the GitHub secret as an SSM SecureString, referenced by webhooks.json
    aws["ssm"].put_parameter(Name=PARAMETER, Value="first-secret", Type="SecureString")
    write_config({WEBHOOK: github_hook(redis_server, f"${{ssm:{PARAMETER}}}")})
    reset_process_state(clock)

    # when GitHub signs with it
    first = post_signed(chalice_client, "first-secret", "d-1")

    # then the event is verified and delivered
    assert first.status_code == 200, first.body
    assert [event["id"] for event in stream_events(redis_db)] == ["d-1"]

    # given the secret rotated in SSM (no deploy, no restart)
    aws["ssm"].put_parameter(Name=PARAMETER, Value="second-secret", Type="SecureString", Overwrite=True)
    # when GitHub signs with the new secret before the period is over
    early = post_signed(chalice_client, "second-secret", "d-2")
    # then the relay still holds the old one
    assert early.status_code == 401

    # when the period has passed
    clock.now += REFRESH_SECONDS + 1
    rotated = post_signed(chalice_client, "second-secret", "d-3")
    retired = post_signed(chalice_client, "first-secret", "d-4")

    # then the new secret verifies and the old one no longer does
    assert rotated.status_code == 200, rotated.body
    assert retired.status_code == 401
    assert [event["id"] for event in stream_events(redis_db)] == ["d-1", "d-3"]


def test_secrets_manager_values_resolve_whole_and_by_json_key(
    aws: dict[str, Any], write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given one plain secret and one JSON secret holding several values
    aws["secretsmanager"].create_secret(Name="spillway/plain", SecretString="plain-secret")
    aws["secretsmanager"].create_secret(
        Name="spillway/keys", SecretString=json.dumps({"github": "from-json", "redis": "pw"})
    )
    hook = github_hook(redis_server, "${secretsmanager:spillway/plain}")
    hook["verify"]["secrets"].append("prefix-${secretsmanager:spillway/keys#github}")
    path = write_config({WEBHOOK: hook})

    # when the configuration loads
    config = load_config(path, aws_region="us-east-1")

    # then each reference is replaced by its value, inside a longer string too
    verify = config.webhooks[WEBHOOK].door.verify
    assert verify is not None
    assert list(verify.secrets) == ["plain-secret", "prefix-from-json"]
    assert config.read_from_aws


def test_a_missing_parameter_makes_the_config_invalid_naming_the_reference_never_a_value(
    aws: dict[str, Any],
    write_config: WriteConfig,
    redis_server: RedisServer,
    chalice_client: Any,
    relay_log: Any,
) -> None:
    # given one parameter that exists and one that does not
    aws["ssm"].put_parameter(Name="/spillway/present", Value="present-value-hunter2", Type="SecureString")
    hook = github_hook(redis_server, "${ssm:/spillway/present}")
    hook["verify"]["secrets"].append("${ssm:/spillway/absent}")
    write_config({WEBHOOK: hook})

    # when the relay is asked for its health, and sent a webhook
    health = chalice_client.http.get("/health")
    webhook = post_signed(chalice_client, "present-value-hunter2", "d-1")

    # then both refuse with 503, naming the missing reference and where it is
    assert health.status_code == 503
    message = json.loads(health.body)["error"]["message"]
    assert "${ssm:/spillway/absent}" in message
    assert f"webhook '{WEBHOOK}'" in message and "verify.secrets[1]" in message
    assert webhook.status_code == 503
    # and no value reaches the answer or the log
    assert b"hunter2" not in health.body + webhook.body
    assert "hunter2" not in json.dumps(relay_log())


def test_webhooks_config_held_in_ssm_loads_and_a_change_is_seen_after_the_period(
    aws: dict[str, Any], clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    # given the whole configuration in one SSM parameter
    aws["ssm"].put_parameter(
        Name="/spillway/webhooks", Value=json.dumps({"first": webhook_settings(redis_server)}), Type="SecureString"
    )
    monkeypatch.setenv("WEBHOOKS_CONFIG", "ssm:/spillway/webhooks")
    reset_process_state(clock)

    # when it loads
    assert sorted(get_relay_config().webhooks) == ["first"]

    # and a webhook is added in SSM
    document = {"first": webhook_settings(redis_server), "second": webhook_settings(redis_server)}
    aws["ssm"].put_parameter(Name="/spillway/webhooks", Value=json.dumps(document), Type="String", Overwrite=True)

    # then it is served once the period has passed, not before
    assert sorted(get_relay_config().webhooks) == ["first"]
    clock.now += REFRESH_SECONDS + 1
    assert sorted(get_relay_config().webhooks) == ["first", "second"]


def test_a_missing_ssm_webhooks_config_is_refused_naming_the_parameter(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, chalice_client: Any
) -> None:
    # given WEBHOOKS_CONFIG naming a parameter nobody created
    monkeypatch.setenv("WEBHOOKS_CONFIG", "ssm:/spillway/nowhere")
    reset_process_state()

    # when
    health = chalice_client.http.get("/health")

    # then
    assert health.status_code == 503
    assert "ssm:/spillway/nowhere" in json.loads(health.body)["error"]["message"]


def test_a_failed_refresh_keeps_the_last_good_config_and_logs_it(
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    relay_log: Any,
) -> None:
    # given SSM behind a real endpoint (moto's server) that goes away after the config loaded
    with MotoSqsServer(port=0) as server:
        server.reset()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        import boto3

        ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=server.url)
        ssm.put_parameter(Name=PARAMETER, Value="kept-secret", Type="SecureString")
        write_config({WEBHOOK: github_hook(redis_server, f"${{ssm:{PARAMETER}}}")})
        reset_process_state(clock)
        assert post_signed(chalice_client, "kept-secret", "d-1").status_code == 200
        server.stop()
        relay_log()

        # when the period passes while SSM is unreachable
        clock.now += REFRESH_SECONDS + 1
        during_outage = post_signed(chalice_client, "kept-secret", "d-2")

        # then the relay goes on with the configuration it had, and says why it could not refresh
        assert during_outage.status_code == 200, during_outage.body
        assert chalice_client.http.get("/health").status_code == 200
        failures = [line for line in relay_log() if line.get("message") == "config_refresh_failed"]
        assert len(failures) == 1
        assert PARAMETER in failures[0]["error"] and "kept-secret" not in failures[0]["error"]
        assert [event["id"] for event in stream_events(redis_db)] == ["d-1", "d-2"]


def test_a_config_without_references_never_reads_aws_again(
    write_config: WriteConfig, redis_server: RedisServer, clock: SimulatedClock
) -> None:
    # given a plain webhooks.json
    write_config({WEBHOOK: webhook_settings(redis_server)})
    reset_process_state(clock)
    first = get_relay_config()

    # when any time passes
    clock.now += 10 * REFRESH_SECONDS

    # then the same object is served: nothing was read again
    assert get_relay_config() is first
    assert not first.read_from_aws


def test_more_parameters_than_one_get_parameters_call_takes_all_resolve(
    aws: dict[str, Any], write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given 12 referenced parameters (SSM's GetParameters takes at most 10 names a call)
    names = [f"/spillway/secret-{index:02d}" for index in range(12)]
    for name in names:
        aws["ssm"].put_parameter(Name=name, Value=f"value{name[-2:]}", Type="SecureString")
    path = write_config({WEBHOOK: github_hook(redis_server, "${ssm:" + names[0] + "}")})
    document = json.loads(Path(path).read_text())
    document[WEBHOOK]["verify"]["secrets"] = ["${ssm:" + name + "}" for name in names]
    Path(path).write_text(json.dumps(document))

    # when
    verify = load_config(path, aws_region="us-east-1").webhooks[WEBHOOK].door.verify

    # then
    assert verify is not None
    assert list(verify.secrets) == [f"value{index:02d}" for index in range(12)]


def test_the_loader_spots_every_kind_of_reference_without_importing_their_module() -> None:
    # given one reference of each service secret_references reads, with and without a #key
    services = typing.get_args(Service)
    texts = [f"before ${{{service}:/name{key}}} after" for service in services for key in ("", "#key")]

    # then the loader's cheap check flags each text in which secret_references finds one
    for text in texts:
        assert references_in(text)
        assert any(opening in text for opening in SECRET_REFERENCE_OPENINGS)
    assert set(SECRET_REFERENCE_OPENINGS) == {f"${{{service}:" for service in services}
    assert SSM_DOCUMENT_PREFIX == SSM_PREFIX


def test_a_config_without_references_never_imports_boto3(tmp_path: Path, redis_server: RedisServer) -> None:
    # given a plain webhooks.json, and a fresh process as on a cold start
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({WEBHOOK: webhook_settings(redis_server)}))
    probe = (
        "import sys, app\n"
        "from chalicelib.config.settings import get_relay_config\n"
        "get_relay_config()\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )

    # when
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env={**os.environ, "WEBHOOKS_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False False"


def test_a_refresh_that_raises_anything_keeps_the_config_in_force(
    aws: dict[str, Any],
    clock: SimulatedClock,
    monkeypatch: pytest.MonkeyPatch,
    write_config: WriteConfig,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    chalice_client: Any,
    relay_log: Any,
) -> None:
    # given a config read from SSM, in force
    aws["ssm"].put_parameter(Name=PARAMETER, Value="kept-secret", Type="SecureString")
    write_config({WEBHOOK: github_hook(redis_server, f"${{ssm:{PARAMETER}}}")})
    reset_process_state(clock)
    assert post_signed(chalice_client, "kept-secret", "d-1").status_code == 200
    relay_log()

    # when its refresh raises what no one foresaw (not a ConfigError)
    def broken_reload(*_: Any, **__: Any) -> Any:
        raise KeyError("an answer of a shape nobody expected")

    monkeypatch.setattr("chalicelib.config.settings.load_config", broken_reload)
    clock.now += REFRESH_SECONDS + 1
    answer = post_signed(chalice_client, "kept-secret", "d-2")

    # then the webhook is still served by the config in force, and the log says why it was kept
    assert answer.status_code == 200, answer.body
    failures = [line for line in relay_log() if line.get("message") == "config_refresh_failed"]
    assert len(failures) == 1 and "KeyError" in failures[0]["error"]


def test_health_names_what_is_wrong_but_never_what_aws_said_about_it(
    chalice_client: Any, monkeypatch: pytest.MonkeyPatch, relay_log: Any
) -> None:
    # given a configuration that cannot be read, AWS's answer naming the account and the role
    aws_said = (
        "User: arn:aws:sts::123456789012:assumed-role/spillway-dev/x is not authorized to perform ssm:GetParameters"
    )

    def denied(*_: Any, **__: Any) -> Any:
        raise ConfigError(
            "ssm:/spillway/webhooks", None, None, "cannot be read from SSM Parameter Store", cause=aws_said
        )

    monkeypatch.setattr("chalicelib.config.settings.load_config", denied)
    reset_process_state()

    # when anyone asks for the health
    response = chalice_client.http.get("/health")

    # then the answer says which configuration cannot be read, and only the log holds AWS's words
    assert response.status_code == 503
    message = response.json_body["error"]["message"]
    assert "ssm:/spillway/webhooks" in message and "cannot be read" in message
    assert "123456789012" not in response.body.decode()
    assert any("123456789012" in json.dumps(line) for line in relay_log())
