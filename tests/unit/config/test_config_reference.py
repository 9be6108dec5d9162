"""The configuration reference in docs/configuration.md is the one rendered from the
declarations, and the declarations are what the loader checks and the dataclasses default to."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import declarations as declared
from chalicelib.config.fields import Block, Field
from chalicelib.config.loader import parse_webhook
from chalicelib.config.settings import Settings
from chalicelib.errors import ConfigError
from operations.config_reference import DOCUMENT, blocks, render, tables_in

PATH = "webhooks.json"
MINIMAL = {"data_type": "json", "redis": {"stream": "events"}}


def webhook_fields() -> list[tuple[Block, Field[Any]]]:
    """The fields of a webhook and of its blocks (not the environment, nor deeper blocks)."""
    top = [declared.WEBHOOK, *(entry for entry in declared.WEBHOOK.fields if isinstance(entry, Block))]
    return [(block, entry) for block in top for entry in block.fields if isinstance(entry, Field)]


def with_setting(block: Block, name: str, value: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {**MINIMAL, "verify": {"provider": "github", "secrets": ["s3cret"]}}
    if block is declared.WEBHOOK:
        settings[name] = value
    else:
        settings[block.name] = {**settings.get(block.name, {}), name: value}
    return settings


def test_docs_configuration_reference_matches_the_declarations() -> None:
    # given the document as committed
    document = DOCUMENT.read_text(encoding="utf-8")

    # then its reference is exactly what the declarations render (fix: `make docs`)
    assert tables_in(document) == render()


def test_every_webhook_setting_the_loader_takes_has_a_row_in_the_reference() -> None:
    # when
    tables = render()

    # then each declared field and block appears under its block
    for prefix, block in blocks():
        for entry in block.fields:
            assert f"| `{prefix}{entry.name}` |" in tables


@pytest.mark.parametrize(
    ("block", "field"),
    [
        pytest.param(block, field, id=f"{block.name}.{field.name}")
        for block, field in webhook_fields()
        # max_body_bytes's cap follows from the environment (the queue's message size, a bucket).
        if field.maximum is not None and field.kind == "whole number" and field is not declared.MAX_BODY_BYTES
    ],
)
def test_a_value_above_a_declared_maximum_is_refused_naming_the_field(block: Block, field: Field[Any]) -> None:
    # given a value one above the declared maximum
    assert field.maximum is not None
    settings = with_setting(block, field.name, int(field.maximum) + 1)

    # when
    with pytest.raises(ConfigError) as raised:
        parse_webhook("hook", settings, PATH)

    # then
    prefix = "" if block is declared.WEBHOOK else f"{block.name}."
    assert raised.value.field == f"{prefix}{field.name}"
    assert f"must be at most {field.maximum}" in str(raised.value)


def test_the_loaded_defaults_are_the_declared_defaults() -> None:
    # given a webhook that sets only what is required
    webhook = parse_webhook("hook", MINIMAL, PATH)

    # then every default the loader applied is the declared one
    assert webhook.retry.max_attempts == declared.RETRY_MAX_ATTEMPTS.default
    assert webhook.retry.max_age_seconds == declared.RETRY_MAX_AGE_SECONDS.default
    assert webhook.inline.budget_seconds == declared.INLINE_BUDGET_SECONDS.default
    assert webhook.inline.breaker_failures == declared.INLINE_BREAKER_FAILURES.default
    assert webhook.redis.connection.port == declared.REDIS_PORT.default
    assert webhook.max_body_bytes == declared.MAX_BODY_BYTES.default
    assert webhook.door.max_json_depth == declared.MAX_JSON_DEPTH_FIELD.default
    assert webhook.door.content_types == declared.DEFAULT_CONTENT_TYPES["json"]
    assert webhook.module == declared.MODULE.default


def test_unset_and_empty_environment_variables_take_the_declared_defaults() -> None:
    # when the stage sets nothing, or sets variables to ""
    unset = Settings.from_environ({})
    empty = Settings.from_environ(dict.fromkeys(declared.ENVIRONMENT.names(), ""))

    # then
    for settings in (unset, empty):
        assert settings.retry_queue_name == declared.ENV_RETRY_QUEUE_NAME.default
        assert settings.dead_letter_queue_name == declared.ENV_DEAD_LETTER_QUEUE_NAME.default
        assert settings.retry_after_seconds == declared.ENV_RETRY_AFTER_SECONDS.default
        assert settings.aws_region == declared.ENV_AWS_REGION.default
        assert settings.report_batch_item_failures is declared.ENV_REPORT_BATCH_ITEM_FAILURES.default
        assert settings.retry_queue_url is None
        assert settings.admin_token is None


def test_environment_variable_of_the_wrong_type_is_a_config_error_naming_it() -> None:
    # when
    with pytest.raises(ConfigError) as raised:
        Settings.from_environ({"RETRY_AFTER_SECONDS": "soon"})

    # then
    assert (raised.value.path, raised.value.field) == ("environment", "RETRY_AFTER_SECONDS")
    assert "must be a whole number, got 'soon'" in str(raised.value)
