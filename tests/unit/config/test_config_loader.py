"""webhooks.json: validation errors that say where, environment substitution, defaults."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config.env_substitution import MissingVariable, substitute
from chalicelib.config.loader import load_config, parse_config
from chalicelib.config.model import RedisConnection, RelayConfig
from chalicelib.config.settings import Settings
from chalicelib.errors import ConfigError
from tests.chalice_project import PROJECT_ROOT

SHIPPED_CONFIG = PROJECT_ROOT / "webhooks.json"
HOOK = "redis_test"


def seed_webhook() -> dict[str, Any]:
    """The shipped redis_test webhook with literal values: valid as it stands."""
    return {
        "data_type": "json",
        "module": "redis_publish",
        "redis": {"host": "localhost", "port": 6379, "channel": "webhook_events", "stream": "webhook_events"},
        "retry": {
            "enabled": True,
            "max_attempts": 5,
            "initial_delay": 1.0,
            "max_delay": 10.0,
            "backoff_multiplier": 2.0,
        },
    }


def changed(**blocks: dict[str, Any]) -> dict[str, Any]:
    """The seed webhook with some fields of its blocks replaced (None deletes the field).

    The key "top" addresses the webhook's own fields.
    """
    webhook = seed_webhook()
    for block_name, changes in blocks.items():
        block = webhook if block_name == "top" else webhook.setdefault(block_name, {})
        for key, value in changes.items():
            if value is None:
                block.pop(key, None)
            else:
                block[key] = copy.deepcopy(value)
    return webhook


def write(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps(document))
    return str(path)


def load_error(tmp_path: Path, document: Any, environ: dict[str, str] | None = None) -> ConfigError:
    path = write(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value


def assert_names(error: ConfigError, path: str, webhook_id: str | None, field: str | None) -> None:
    assert (error.path, error.webhook_id, error.field) == (path, webhook_id, field)
    message = str(error)
    assert message.startswith(path)
    if webhook_id is not None:
        assert f"webhook '{webhook_id}'" in message
    if field is not None:
        assert f"field '{field}'" in message


# (webhook settings, field named by the error, words of the problem)
WEBHOOK_ERRORS = [
    pytest.param(changed(top={"dta_type": "json"}), "dta_type", "unknown field", id="unknown-field"),
    pytest.param(changed(redis={"chanel": "x"}), "redis.chanel", "unknown field", id="unknown-redis-field"),
    pytest.param(changed(retry={"attempts": 3}), "retry.attempts", "unknown field", id="unknown-retry-field"),
    pytest.param(changed(inline={"timeout": 1}), "inline.timeout", "unknown field", id="unknown-inline-field"),
    pytest.param(changed(top={"data_type": None}), "data_type", "is required", id="missing-data-type"),
    pytest.param(changed(top={"data_type": "xml"}), "data_type", "must be one of json, form, blob", id="bad-data-type"),
    pytest.param(changed(top={"data_type": 3}), "data_type", "must be a non-empty string", id="data-type-not-string"),
    pytest.param(changed(top={"module": "http_post"}), "module", "must be one of redis_publish", id="bad-module"),
    pytest.param(changed(top={"redis": None}), "redis", "is required", id="redis-missing"),
    pytest.param(changed(top={"redis": "localhost:6379"}), "redis", "must be an object, got str", id="redis-string"),
    pytest.param(changed(top={"retry": [1]}), "retry", "must be an object, got list", id="retry-list"),
    pytest.param(
        changed(redis={"channel": None, "stream": None}), "redis", "needs at least one target", id="no-target"
    ),
    pytest.param(
        changed(redis={"url": "redis://localhost:6379/0"}), "redis.host", "cannot be combined with 'url'", id="url+host"
    ),
    pytest.param(
        changed(redis={"host": None, "port": None, "url": "http://localhost:6379"}),
        "redis.url",
        "must start with redis://, rediss:// or unix://",
        id="url-scheme",
    ),
    pytest.param(changed(redis={"port": 65_536}), "redis.port", "must be at most 65535", id="port-too-high"),
    pytest.param(changed(redis={"port": 0}), "redis.port", "must be at least 1", id="port-zero"),
    pytest.param(changed(redis={"port": "six"}), "redis.port", "must be a whole number", id="port-not-number"),
    pytest.param(changed(redis={"port": 6379.5}), "redis.port", "must be a whole number", id="port-fraction"),
    pytest.param(changed(redis={"port": True}), "redis.port", "must be a whole number", id="port-boolean"),
    pytest.param(changed(redis={"db": -1}), "redis.db", "must be at least 0", id="db-negative"),
    pytest.param(changed(redis={"ssl": "maybe"}), "redis.ssl", "must be true or false", id="ssl-not-boolean"),
    pytest.param(
        changed(redis={"stream": None, "stream_maxlen": 1000}),
        "redis.stream_maxlen",
        "only applies with 'stream'",
        id="maxlen-without-stream",
    ),
    pytest.param(changed(redis={"stream_maxlen": 0}), "redis.stream_maxlen", "must be at least 1", id="maxlen-zero"),
    pytest.param(
        changed(redis={"idempotency_ttl_seconds": 0}),
        "redis.idempotency_ttl_seconds",
        "must be at least 1",
        id="idempotency-ttl-zero",
    ),
    pytest.param(
        changed(retry={"initial_delay": 5.0, "max_delay": 2.0}),
        "retry.max_delay",
        "must be at least initial_delay (5.0)",
        id="max-delay-below-initial",
    ),
    pytest.param(changed(retry={"max_attempts": 0}), "retry.max_attempts", "must be at least 1", id="retries-zero"),
    pytest.param(
        changed(retry={"initial_delay": -1}), "retry.initial_delay", "must be at least 0.0", id="initial-delay-negative"
    ),
    pytest.param(
        changed(retry={"backoff_multiplier": 0.5}),
        "retry.backoff_multiplier",
        "must be at least 1.0",
        id="multiplier-below-one",
    ),
    pytest.param(changed(retry={"max_age_seconds": 0}), "retry.max_age_seconds", "must be at least 1", id="age-zero"),
    pytest.param(changed(retry={"enabled": "maybe"}), "retry.enabled", "must be true or false", id="enabled-string"),
    pytest.param(changed(inline={"max_attempts": 0}), "inline.max_attempts", "must be at least 1", id="inline-zero"),
    pytest.param(
        changed(inline={"budget_seconds": 0}), "inline.budget_seconds", "must be at least 0.01", id="budget-zero"
    ),
    pytest.param(
        changed(inline={"socket_timeout": -0.5}),
        "inline.socket_timeout",
        "must be at least 0.01",
        id="timeout-negative",
    ),
    pytest.param(
        changed(inline={"socket_timeout": 2.0}),
        "inline.socket_timeout",
        "must not exceed budget_seconds (1.5)",
        id="socket-timeout-over-budget",
    ),
    pytest.param(changed(top={"max_body_bytes": 0}), "max_body_bytes", "must be at least 1", id="body-limit-zero"),
    pytest.param(
        changed(top={"max_body_bytes": 200_000}), "max_body_bytes", "must be at most 172032", id="body-limit-over-sqs"
    ),
]


@pytest.mark.parametrize(("settings", "field", "problem"), WEBHOOK_ERRORS)
def test_invalid_webhook_setting_names_file_webhook_and_field(
    tmp_path: Path, settings: dict[str, Any], field: str, problem: str
) -> None:
    # given a webhooks.json with one bad setting
    document = {HOOK: settings}

    # when it is loaded
    error = load_error(tmp_path, document)

    # then the error points at the file, the webhook and the field, and says what is wrong
    assert_names(error, str(tmp_path / "webhooks.json"), HOOK, field)
    assert problem in error.problem
    assert str(error).endswith(error.problem)


def test_the_seed_webhook_used_by_these_tests_is_valid(tmp_path: Path) -> None:
    # given the unmodified seed, so every failure above comes from its one change
    path = write(tmp_path, {HOOK: seed_webhook()})

    # when / then
    assert HOOK in load_config(path, {}).webhooks


def test_bad_webhook_id_is_named_without_a_field(tmp_path: Path) -> None:
    error = load_error(tmp_path, {"bad id!": seed_webhook()})

    assert_names(error, str(tmp_path / "webhooks.json"), "bad id!", None)
    assert "webhook id must be 1-64 of A-Z a-z 0-9 _ . -" in str(error)


def test_webhook_id_longer_than_64_characters_is_rejected(tmp_path: Path) -> None:
    error = load_error(tmp_path, {"h" * 65: seed_webhook()})

    assert_names(error, str(tmp_path / "webhooks.json"), "h" * 65, None)


def test_webhook_settings_that_are_not_an_object_name_the_webhook(tmp_path: Path) -> None:
    error = load_error(tmp_path, {HOOK: ["json"]})

    assert_names(error, str(tmp_path / "webhooks.json"), HOOK, None)
    assert "must be an object, got list" in str(error)


def test_top_level_that_is_not_an_object_names_the_file(tmp_path: Path) -> None:
    error = load_error(tmp_path, [seed_webhook()])

    assert_names(error, str(tmp_path / "webhooks.json"), None, None)
    assert "must be a JSON object of webhook id -> settings" in str(error)


def test_missing_file_names_the_path_and_the_variable_to_set(tmp_path: Path) -> None:
    # given a path where nothing is
    path = str(tmp_path / "nowhere" / "webhooks.json")

    # when
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    # then
    assert_names(caught.value, path, None, None)
    assert "file not found" in str(caught.value)
    assert "WEBHOOKS_CONFIG" in str(caught.value)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    # given a trailing comma on line 3
    path = tmp_path / "webhooks.json"
    path.write_text('{\n  "redis_test": {\n    "data_type": "json",\n  }\n}\n')

    # when
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})

    # then
    assert_names(caught.value, str(path), None, None)
    assert "is not valid JSON" in str(caught.value)
    assert "line 4 column 3" in str(caught.value)


def test_file_that_is_not_utf8_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.json"
    path.write_bytes(b'{"redis_test": "\xff"}')

    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})

    assert_names(caught.value, str(path), None, None)
    assert "cannot be read" in str(caught.value)


def test_missing_environment_variable_without_default_names_the_field(tmp_path: Path) -> None:
    # given a host that comes from a variable nobody set
    document = {HOOK: changed(redis={"host": "${SPILLWAY_TEST_UNSET_HOST}"})}

    # when
    error = load_error(tmp_path, document, environ={})

    # then
    assert_names(error, str(tmp_path / "webhooks.json"), HOOK, "redis.host")
    assert "environment variable SPILLWAY_TEST_UNSET_HOST is not set and has no default" in str(error)


def test_missing_environment_variable_in_a_list_names_its_index() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({HOOK: changed(top={"extra": ["ok", "${NOPE}"]})}, "webhooks.json", {})

    assert caught.value.field == "extra[1]"


# --- environment substitution ------------------------------------------------------------


def test_variable_reference_is_replaced_by_its_value(tmp_path: Path) -> None:
    path = write(tmp_path, {HOOK: changed(redis={"host": "${REDIS_HOST}"})})

    config = load_config(path, {"REDIS_HOST": "redis.internal"})

    assert config.webhooks[HOOK].redis.connection.host == "redis.internal"


@pytest.mark.parametrize(
    ("environ", "expected_host"),
    [
        pytest.param({}, "fallback.local", id="unset"),
        pytest.param({"REDIS_HOST": ""}, "fallback.local", id="empty"),
        pytest.param({"REDIS_HOST": "redis.internal"}, "redis.internal", id="set"),
    ],
)
def test_default_applies_when_variable_is_unset_or_empty(
    tmp_path: Path, environ: dict[str, str], expected_host: str
) -> None:
    path = write(tmp_path, {HOOK: changed(redis={"host": "${REDIS_HOST:-fallback.local}"})})

    config = load_config(path, environ)

    assert config.webhooks[HOOK].redis.connection.host == expected_host


@pytest.mark.parametrize(
    ("environ", "expected_port"),
    [pytest.param({}, 6379, id="default"), pytest.param({"REDIS_PORT": "6380"}, 6380, id="from-environment")],
)
def test_port_from_a_variable_becomes_an_integer(tmp_path: Path, environ: dict[str, str], expected_port: int) -> None:
    path = write(tmp_path, {HOOK: changed(redis={"port": "${REDIS_PORT:-6379}"})})

    port = load_config(path, environ).webhooks[HOOK].redis.connection.port

    assert port == expected_port
    assert type(port) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("no", False)],
)
def test_booleans_come_from_strings(tmp_path: Path, text: str, expected: bool) -> None:
    document = {HOOK: changed(redis={"ssl": "${REDIS_SSL}"}, retry={"enabled": "${RETRY_ON}"})}
    path = write(tmp_path, document)

    webhook = load_config(path, {"REDIS_SSL": text, "RETRY_ON": text}).webhooks[HOOK]

    assert webhook.redis.connection.ssl is expected
    assert webhook.retry.enabled is expected


def test_references_inside_a_longer_string_are_all_replaced(tmp_path: Path) -> None:
    document = {HOOK: changed(redis={"host": None, "port": None, "url": "redis://${HOST}:${PORT:-6379}/${DB:-0}"})}
    path = write(tmp_path, document)

    connection = load_config(path, {"HOST": "cache", "DB": "2"}).webhooks[HOOK].redis.connection

    assert connection.url == "redis://cache:6379/2"


def test_numbers_come_from_strings(tmp_path: Path) -> None:
    document = {HOOK: changed(retry={"initial_delay": "${DELAY}", "max_attempts": "${ATTEMPTS}"})}
    path = write(tmp_path, document)

    retry = load_config(path, {"DELAY": "0.5", "ATTEMPTS": "7"}).webhooks[HOOK].retry

    assert (retry.initial_delay, retry.max_attempts) == (0.5, 7)


def test_process_environment_is_used_when_none_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPILLWAY_TEST_HOST", "from-process")
    path = write(tmp_path, {HOOK: changed(redis={"host": "${SPILLWAY_TEST_HOST}"})})

    assert load_config(path).webhooks[HOOK].redis.connection.host == "from-process"


def test_substitute_leaves_text_without_references_alone() -> None:
    assert substitute("pa$$word {x} $HOME", {"HOME": "/root"}) == "pa$$word {x} $HOME"


def test_substitute_raises_missing_variable_with_its_name() -> None:
    with pytest.raises(MissingVariable) as caught:
        substitute("${A:-a}-${B}", {})

    assert caught.value.name == "B"


# --- the shipped file and defaults -------------------------------------------------------


def test_shipped_webhooks_json_loads_with_an_empty_environment() -> None:
    # when
    config = load_config(str(SHIPPED_CONFIG), {})

    # then
    webhook = config.webhooks["redis_test"]
    assert list(config.webhooks) == ["redis_test", "github_example"]
    assert webhook.data_type == "json"
    assert webhook.module == "redis_publish"
    assert webhook.redis.connection == RedisConnection(host="localhost", port=6379, db=0, password=None, ssl=False)
    assert (webhook.redis.channel, webhook.redis.stream) == ("webhook_events", "webhook_events")
    retry = webhook.retry
    assert (retry.enabled, retry.max_attempts, retry.initial_delay, retry.max_delay, retry.backoff_multiplier) == (
        True,
        5,
        1.0,
        10.0,
        2.0,
    )


def test_shipped_webhooks_json_uses_cluster_mode_when_redis_cluster_is_true() -> None:
    # given the variable `make run CLUSTER=1` sets
    environ = {"REDIS_CLUSTER": "true"}

    # when
    config = load_config(str(SHIPPED_CONFIG), environ)

    # then every webhook of the shipped file talks to a Redis Cluster
    assert all(webhook.redis.connection.cluster for webhook in config.webhooks.values())


def test_shipped_github_example_verifies_with_the_environment_secret_or_a_local_default() -> None:
    # when the shipped file loads without GITHUB_WEBHOOK_SECRET, then with it
    local = load_config(str(SHIPPED_CONFIG), {}).webhooks["github_example"]
    configured = load_config(str(SHIPPED_CONFIG), {"GITHUB_WEBHOOK_SECRET": "from-env"}).webhooks["github_example"]

    # then it is a GitHub webhook on the same Redis stream as redis_test, signed with either secret
    assert local.door.verify is not None and configured.door.verify is not None
    assert local.door.verify.provider == "github"
    assert local.door.verify.secrets == ("local-dev-secret",)
    assert configured.door.verify.secrets == ("from-env",)
    assert local.redis.connection == RedisConnection(host="localhost", port=6379, db=0, password=None, ssl=False)
    assert local.redis.stream == "webhook_events"


def test_unset_fields_take_their_documented_defaults() -> None:
    # given the smallest valid webhook
    config = parse_config({HOOK: {"data_type": "json", "redis": {"stream": "events"}}}, "webhooks.json", {})

    # then
    webhook = config.webhooks[HOOK]
    assert webhook.module == "redis_publish"
    assert (webhook.inline.max_attempts, webhook.inline.budget_seconds) == (3, 1.5)
    assert (webhook.inline.socket_timeout, webhook.inline.connect_timeout) == (0.5, 0.25)
    # max_age_seconds + the dead-letter queue's 14 days + a day of margin
    assert webhook.redis.idempotency_ttl_seconds == 86_400 + 1_209_600 + 86_400
    assert webhook.redis.min_subscribers == 0
    assert webhook.redis.channel is None
    assert webhook.redis.stream_maxlen is None
    # without a claim-check bucket, the largest body whose queue message fits 256 KiB
    assert webhook.max_body_bytes == 172_032
    assert webhook.retry.max_age_seconds == 86_400
    assert webhook.redis.connection == RedisConnection()


def test_claim_check_bucket_makes_max_body_bytes_default_to_what_lambda_can_receive() -> None:
    # given a bucket for large spilled events
    environ = {"LARGE_PAYLOAD_BUCKET": "spillway-large-payloads"}

    # when
    config = parse_config({HOOK: {"data_type": "blob", "redis": {"stream": "events"}}}, "webhooks.json", environ)

    # then: 6,291,456 bytes of Lambda event less 256 KiB for the rest of it, as base64
    assert config.webhooks[HOOK].max_body_bytes == 4_521_984
    # and a larger setting is refused, naming the Lambda figure
    with pytest.raises(ConfigError, match="must be at most 4521984"):
        parse_config(
            {HOOK: {"data_type": "blob", "redis": {"stream": "events"}, "max_body_bytes": 4_521_985}},
            "webhooks.json",
            environ,
        )


def test_config_object_is_immutable() -> None:
    config = parse_config({HOOK: seed_webhook()}, "webhooks.json", {})

    with pytest.raises(AttributeError):
        config.webhooks[HOOK].redis.connection.port = 1  # type: ignore[misc]


def test_relay_config_looks_up_webhooks_by_id() -> None:
    config = parse_config({HOOK: seed_webhook()}, "webhooks.json", {})

    assert isinstance(config, RelayConfig)
    assert config.webhook(HOOK) is config.webhooks[HOOK]
    assert config.webhook("nope") is None


# --- secrets ------------------------------------------------------------------------------

PASSWORD = "hunter2-do-not-log"


def test_verify_secrets_and_the_admin_token_never_show_in_repr() -> None:
    # given a webhook verified with two secrets (a rotation), and a stage with an admin token
    secrets = ["whsec-old-d41d8cd9", "whsec-new-8f00b204"]
    verify = {"provider": "github", "secrets": secrets}
    config = parse_config({HOOK: {"data_type": "json", "redis": {"channel": "c"}, "verify": verify}}, "w.json", {})
    settings = Settings.from_environ({"ADMIN_TOKEN": "admin-e99a18c4"})

    # then printing the webhook, its verify settings or the stage's settings shows none of them
    webhook = config.webhooks[HOOK]
    for shown in (webhook, webhook.door.verify, config):
        for secret in secrets:
            assert secret not in repr(shown)
            assert secret not in f"{shown}"
    assert "admin-e99a18c4" not in repr(settings) and "admin-e99a18c4" not in f"{settings}"
    assert settings.admin_token == "admin-e99a18c4"
    assert webhook.door.verify is not None and list(webhook.door.verify.secrets) == secrets


@pytest.mark.parametrize(
    "redis_block",
    [
        pytest.param({"host": "cache", "password": PASSWORD, "channel": "c"}, id="password-field"),
        pytest.param({"url": f"redis://default:{PASSWORD}@cache:6379/0", "channel": "c"}, id="password-in-url"),
    ],
)
def test_redis_password_never_shows_in_repr(redis_block: dict[str, Any]) -> None:
    # given a webhook with a password
    config = parse_config({HOOK: {"data_type": "json", "redis": redis_block}}, "webhooks.json", {})
    webhook = config.webhooks[HOOK]

    # then no way of printing the configuration shows it
    for shown in (webhook.redis.connection, webhook.redis, webhook, config):
        assert PASSWORD not in repr(shown)
        assert PASSWORD not in str(shown)
        assert PASSWORD not in f"{shown}"
    assert webhook.redis.connection.password == PASSWORD or PASSWORD in (webhook.redis.connection.url or "")


def test_rejected_password_value_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({HOOK: changed(redis={"password": 48151623})}, "webhooks.json", {})

    assert caught.value.field == "redis.password"
    assert "48151623" not in str(caught.value)


# --- known gaps, pinned ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_text", "environ", "field"),
    [
        pytest.param('"inline": {"budget_seconds": NaN}', {}, "inline.budget_seconds", id="NaN-literal"),
        pytest.param('"retry": {"initial_delay": "${D}"}', {"D": "nan"}, "retry.initial_delay", id="nan-from-env"),
    ],
)
def test_not_a_number_is_rejected(tmp_path: Path, raw_text: str, environ: dict[str, str], field: str) -> None:
    path = tmp_path / "webhooks.json"
    path.write_text('{"redis_test": {"data_type": "json", "redis": {"channel": "c"}, ' + raw_text + "}}")

    with pytest.raises(ConfigError) as caught:
        load_config(str(path), environ)

    assert caught.value.field == field


def test_webhook_id_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(ConfigError):
        parse_config({"redis_test\n": seed_webhook()}, "webhooks.json", {})


def test_config_nested_thousands_deep_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    # given a webhooks.json with a value nested 100,000 lists deep
    path = tmp_path / "webhooks.json"
    path.write_text('{"deep": {"data_type": "json", "schema": ' + "[" * 100_000 + "]" * 100_000 + "}}")

    # when
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {})

    # then it names the file and says why, instead of a RecursionError failing the import
    assert_names(caught.value, str(path), None, None)
    assert "nests too deep" in str(caught.value)
