"""docker-compose.yml, read as `docker compose` reads it: no Docker engine runs here, so its shape is
pinned instead (tests/e2e/test_localstack_ready_hook.py runs its ready hook against moto)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chalice_project import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
READY_HOOK_DIR = "/etc/localstack/init/ready.d/"
# The last LocalStack image that starts without an auth token (its `latest` needs one since 2026-03-23).
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
# compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}...;
# `$$` is a literal dollar, left to the container's shell.
_REFERENCE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<operator>:?[-?+])?(?P<rest>[^}]*)\}")


def compose_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [node] if isinstance(node, str) else []


def with_defaults(text: str) -> str:
    """What compose makes of `text` with no variable set."""
    return _REFERENCE.sub(lambda match: match.group("rest"), text).replace("$$", "$")


def service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = compose_document()["services"]
    return dict(services[name])


def test_compose_file_is_valid_yaml_with_redis_and_localstack() -> None:
    # given / when: any YAML parser must read it (compose refused the whole file over one `: `)
    document = compose_document()

    # then
    assert set(document["services"]) == {"redis", "localstack"}


def test_compose_file_starts_with_no_variable_set() -> None:
    # given every interpolated variable of the file
    references = [match for text in strings(compose_document()) for match in _REFERENCE.finditer(text)]

    # then: each has a default; none is required (`${VAR:?}` made compose refuse Redis too)
    assert references
    assert [match.group(0) for match in references if match.group("operator") not in (":-", "-")] == []


def test_images_are_pinned_and_localstack_needs_no_auth_token() -> None:
    # given
    images = {name: with_defaults(service(name)["image"]) for name in ("redis", "localstack")}

    # then: a tag on each, never latest; LocalStack's the last one that runs without an account
    for image in images.values():
        _, _, tag = image.rpartition(":")
        assert tag and "/" not in tag and tag != "latest", image
    assert images["localstack"] == LOCALSTACK_IMAGE
    token = service("localstack")["environment"]["LOCALSTACK_AUTH_TOKEN"]
    assert with_defaults(token) == ""


def test_both_services_listen_on_loopback_at_the_ports_make_run_looks_at() -> None:
    # given / when
    ports = {name: [with_defaults(port) for port in service(name)["ports"]] for name in ("redis", "localstack")}

    # then
    assert ports == {"redis": ["127.0.0.1:6379:6379"], "localstack": ["127.0.0.1:4566:4566"]}


@pytest.mark.parametrize("name", ["redis", "localstack"])
def test_both_services_have_a_health_check_so_up_wait_returns_when_they_answer(name: str) -> None:
    # given / when
    health = service(name)["healthcheck"]

    # then
    assert health["test"][0] == "CMD" and len(health["test"]) > 1
    assert health["retries"] >= 1


def test_localstack_serves_sqs_and_s3_with_path_style_queue_urls_and_the_local_queue_names() -> None:
    # given the names `make run` uses (stage local of .chalice/config.json)
    chalice_config = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())
    local = chalice_config["stages"]["local"]["environment_variables"]

    # when
    environment = {key: with_defaults(str(value)) for key, value in service("localstack")["environment"].items()}

    # then
    assert set(environment["SERVICES"].split(",")) == {"sqs", "s3"}
    # queue URLs as http://localhost:4566/queue/...: no DNS needed (checked with LocalStack 4.14.0)
    assert environment["SQS_ENDPOINT_STRATEGY"] == "path"
    assert environment["LOCALSTACK_HOST"] == "localhost:4566"
    assert environment["RETRY_QUEUE_NAME"] == local["RETRY_QUEUE_NAME"]
    assert environment["DEAD_LETTER_QUEUE_NAME"] == local["DEAD_LETTER_QUEUE_NAME"]
    assert environment["LARGE_PAYLOAD_BUCKET"] == ""


def test_ready_hook_is_mounted_read_only_into_localstacks_ready_folder_and_executable() -> None:
    # given / when
    (volume,) = service("localstack")["volumes"]
    source, target, mode = volume.split(":")

    # then
    assert target.startswith(READY_HOOK_DIR) and target.endswith(".sh")
    assert mode == "ro"
    hook = (PROJECT_ROOT / source).resolve()
    assert hook.is_file() and os.access(hook, os.X_OK)
    assert Path(source).name == Path(target).name
