"""A webhook's JSON Schema can neither crash the relay, nor make it fetch anything, nor make
one request's schema check take quadratic time (issue 12, items 4 and 5)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from fastjsonschema.draft07 import CodeGeneratorDraft07

from chalicelib.config.loader import load_config
from chalicelib.config.payload_schema import compile_schema, is_email, is_idn_email
from chalicelib.errors import ConfigError
from devstack.redis_server import RedisServer
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import WriteConfig, stream_events, webhook_settings
from tests.signed_requests import answer, assert_error_shape, post

WEBHOOK = "door"
# An invalid regex: fastjsonschema raises re.error for it, not its own definition error.
BAD_PATTERN_SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "pattern": "(unclosed"}}}
EMAIL_SCHEMA = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}


class RecordingHandler(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        RecordingHandler.requests.append(self.path)
        body = json.dumps({"type": "string"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def schema_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that serves a schema and records every request it gets."""
    RecordingHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", RecordingHandler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def config_error(write_config: WriteConfig, settings: dict[str, Any]) -> tuple[str, ConfigError]:
    path = write_config({WEBHOOK: settings})
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return path, raised.value


# --- a schema that does not compile is a config error ------------------------------------------


def test_schema_with_an_invalid_regex_pattern_is_a_config_error_naming_the_schema_field(
    write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # when
    path, error = config_error(write_config, webhook_settings(redis_server, schema=BAD_PATTERN_SCHEMA))

    # then
    assert (error.path, error.webhook_id, error.field) == (path, WEBHOOK, "schema")
    assert "not a valid JSON Schema" in str(error)


def test_invalid_schema_pattern_answers_503_on_health_and_to_webhooks_with_retry_after(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given
    write_config({WEBHOOK: webhook_settings(redis_server, schema=BAD_PATTERN_SCHEMA)})

    # when
    health = chalice_client.http.get("/health")
    webhook = post(chalice_client, WEBHOOK, b'{"name": "x"}')

    # then the operator is told where, and the sender is told to come back (never a 500)
    message = assert_error_shape(health, 503, "config_invalid")["message"]
    assert f"webhook '{WEBHOOK}'" in message
    assert "field 'schema'" in message
    assert_error_shape(webhook, 503, "unavailable")
    assert webhook.headers["Retry-After"]
    assert stream_events(redis_db) == []


def test_app_imports_when_a_schema_pattern_is_invalid(tmp_path: Path, redis_server: RedisServer) -> None:
    # given a webhooks.json whose schema does not compile
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({WEBHOOK: webhook_settings(redis_server, schema=BAD_PATTERN_SCHEMA)}))
    environ = {**os.environ, "WEBHOOKS_CONFIG": str(path)}

    # when a fresh interpreter imports the app (as Lambda does at cold start)
    imported = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then it imports, and logs the config error instead
    assert imported.returncode == 0, imported.stderr
    assert "config_invalid" in imported.stdout + imported.stderr


# --- nothing is fetched -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("{server}/schema.json", id="http"),
        pytest.param("{server}/schema.json#/definitions/name", id="http-with-fragment"),
        pytest.param("https://schemas.example/name.json", id="https"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("name.json", id="relative"),
    ],
)
def test_remote_ref_is_refused_at_load_and_nothing_is_fetched(
    ref: str, schema_server: tuple[str, list[str]], write_config: WriteConfig, redis_server: RedisServer
) -> None:
    # given a schema that points outside itself
    server, requests = schema_server
    schema = {"type": "object", "properties": {"name": {"$ref": ref.format(server=server)}}}

    # when
    path, error = config_error(write_config, webhook_settings(redis_server, schema=schema))

    # then
    assert (error.path, error.webhook_id, error.field) == (path, WEBHOOK, "schema")
    assert "not a local reference" in str(error)
    assert requests == []


def test_local_ref_is_taken(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a schema whose $ref points inside itself
    schema = {
        "definitions": {"name": {"type": "string"}},
        "type": "object",
        "properties": {"name": {"$ref": "#/definitions/name"}},
    }
    write_config({WEBHOOK: webhook_settings(redis_server, schema=schema)})

    # when
    bad = post(chalice_client, WEBHOOK, b'{"name": 7}')
    good = post(chalice_client, WEBHOOK, b'{"name": "seven"}')

    # then
    assert_error_shape(bad, 422, "schema_violation")
    assert answer(good)["status"] == "delivered"


# --- schema checks run in linear time --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "user@example.com",
        "first.last@sub.example.org",
        "a@b.c",
        "a@b.",
        "a@.b",
        "a@bc",
        ".a@b.c",
        "a.@b.c",
        "a..b@c.d",
        "a@b@c.d",
        "@b.c",
        "a@",
        "",
        "plain",
        "a b@c.d",
        "ü@exämple.de",
        "a@b..c",
        "a\n@b.c",
    ],
)
def test_linear_email_checks_give_fastjsonschemas_verdicts(value: str) -> None:
    # given fastjsonschema's own (quadratic) regexes
    email = re.compile(CodeGeneratorDraft07.FORMAT_REGEXS["email"])
    idn_email = re.compile(CodeGeneratorDraft07.FORMAT_REGEXS["idn-email"])

    # then the linear checks agree with them on ordinary addresses and near misses
    assert is_email(value) == bool(email.match(value))
    assert is_idn_email(value) == bool(idn_email.match(value))


def test_regex_format_is_not_checked_as_compiling_a_senders_string_is_too_slow() -> None:
    # given
    check = compile_schema({"type": "string", "format": "regex"})

    # then an invalid regex passes (compiling 168 KiB of it would take about a second)
    assert check("(unclosed") == "(unclosed"


def test_adversarial_email_is_answered_422(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, chalice_client: Any
) -> None:
    # given a webhook checking an email format, and a body that made the regex backtrack
    # quadratically (seconds for 64 KiB)
    write_config({WEBHOOK: webhook_settings(redis_server, schema=EMAIL_SCHEMA)})
    adversarial = "a@" + "a." * 60_000 + "@"

    # when
    response = post(chalice_client, WEBHOOK, json.dumps({"email": adversarial}).encode())

    # then
    assert "must be email" in assert_error_shape(response, 422, "schema_violation")["message"]
    assert stream_events(redis_db) == []


# Every format fastjsonschema checks, each on strings as long as the largest body, shaped to
# make a backtracking regex retry (runs of separators, a failing last character), or to be
# slow to compile (`regex`). With the quadratic email regex this takes minutes; linear checks
# take about a second.
EVERY_FORMAT_ON_LONG_STRINGS = """
import fastjsonschema
from fastjsonschema.draft07 import CodeGeneratorDraft07
from chalicelib.config.declarations import MAX_BODY_BYTES_LIMIT
from chalicelib.config.payload_schema import compile_schema

half = MAX_BODY_BYTES_LIMIT // 2
candidates = [
    "a@" + "a." * half + "@", "." * 2 * half + "@", "a@" + "." * 2 * half, "a" + "@." * half,
    "a:" + "/" * 2 * half + " ", "/" * 2 * half + "~", "a-" * half + ".", "1:" * half + "!", "()" * half,
]
for name in [*CodeGeneratorDraft07.FORMAT_REGEXS, "regex"]:
    check = compile_schema({"$schema": "http://json-schema.org/draft-07/schema#", "format": name})
    for candidate in candidates:
        try:
            check(candidate)
        except fastjsonschema.JsonSchemaValueException:
            pass
print("checked", len(candidates), "strings against each format")
"""


def test_every_format_check_on_a_body_sized_string_finishes_in_linear_time() -> None:
    # when every format checks every adversarial string, in a process of its own so that a
    # quadratic check is cut off instead of hanging the suite
    try:
        checked = subprocess.run(
            [sys.executable, "-c", EVERY_FORMAT_ON_LONG_STRINGS],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a format check took more than 30 s on a body-sized string: it is not linear")

    # then (about a second with linear checks; the quadratic email regex took minutes)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("checked")
