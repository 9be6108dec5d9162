"""`make send`: a request signed as each provider's sender signs it, through the real door over
HTTP, is accepted; signed with a wrong secret it is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from chalicelib.process_state import reset_process_state
from devstack import send
from devstack.local_http import LocalHttpServer
from devstack.redis_server import RedisServer
from devstack.signer import SIGNERS
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import STREAM, WriteConfig, stream_events
from tests.signed_requests import whsec

pytestmark = pytest.mark.e2e

# One webhook per way of signing; the secret of each is its first configured one.
VERIFY_BLOCKS: dict[str, dict[str, Any]] = {
    "github": {"provider": "github", "secrets": ["gh-secret"]},
    "stripe": {"provider": "stripe", "secrets": ["whsec_stripe-secret"]},
    "slack": {"provider": "slack", "secrets": ["slack-secret"]},
    "shopify": {"provider": "shopify", "secrets": ["shopify-secret"]},
    "standard_webhooks": {"provider": "standard_webhooks", "secrets": [whsec("standard-key"), whsec("old-key")]},
    "hmac_body": {"provider": "hmac", "secrets": ["hmac-secret"], "header": "X-Signature"},
    "hmac_template": {
        "provider": "hmac",
        "secrets": ["hmac-secret"],
        "header": "X-Signature",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "v1=",
        "signed_content": "{timestamp}:{id}:{body}",
        "timestamp_header": "X-Timestamp",
        "id_header": "X-Message-Id",
    },
    "token_bearer": {"provider": "token", "secrets": ["bearer-token"]},
    "token_header": {"provider": "token", "secrets": ["header-token"], "header": "X-Api-Token"},
    "basic": {"provider": "basic", "secrets": ["relay:pa55word"]},
}
# A wrong secret of the right shape for each (a Standard Webhooks secret is whsec_ + base64).
WRONG_SECRETS = {name: whsec("wrong") if name == "standard_webhooks" else "wrong:secret" for name in VERIFY_BLOCKS}


@pytest.fixture
def served_webhooks(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis
) -> Iterator[LocalHttpServer]:
    """Every signing scheme as a webhook on the test Redis, served over HTTP as `make run` serves it."""
    write_config(
        {
            name: {
                "data_type": "json",
                "redis": {"host": redis_server.host, "port": redis_server.port, "stream": STREAM},
                "verify": verify,
            }
            for name, verify in VERIFY_BLOCKS.items()
        }
    )
    from app import app

    server = LocalHttpServer(app, port=0)
    server.start()
    yield server
    server.stop()


def answer_of(output: str) -> tuple[str, dict[str, Any]]:
    """The status line and the JSON body that `send` printed."""
    lines = output.strip().splitlines()
    status_line = next(line for line in lines if line.startswith("HTTP "))
    return status_line, json.loads(lines[-1])


def test_every_provider_has_a_signer() -> None:
    from chalicelib.verification.registry import PROVIDERS

    assert set(SIGNERS) == set(PROVIDERS)
    assert {block["provider"] for block in VERIFY_BLOCKS.values()} == set(PROVIDERS)


@pytest.mark.parametrize("webhook_id", sorted(VERIFY_BLOCKS))
def test_send_signs_as_the_provider_and_the_door_delivers(
    webhook_id: str, served_webhooks: LocalHttpServer, redis_db: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a body on the command line
    body = json.dumps({"id": "evt_1", "event_id": "Ev1", "order": 42})

    # when make send signs it with the webhook's configured secret
    status = send.main([webhook_id, "--body", body, "--event-id", "delivery-1", "--url", served_webhooks.url], {})

    # then the door verified it, and the event is on the stream as sent
    status_line, answer = answer_of(capsys.readouterr().out)
    assert (status, status_line, answer["status"]) == (0, "HTTP 200 OK", "delivered")
    (event,) = stream_events(redis_db)
    assert event["verified_by"] == VERIFY_BLOCKS[webhook_id]["provider"]
    assert event["payload"] == {"id": "evt_1", "event_id": "Ev1", "order": 42}
    assert event["id"] == answer["event_id"]


@pytest.mark.parametrize("webhook_id", sorted(VERIFY_BLOCKS))
def test_send_with_a_wrong_secret_is_refused_with_401(
    webhook_id: str, served_webhooks: LocalHttpServer, redis_db: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # when the request is signed with a secret the webhook does not have
    status = send.main([webhook_id, "--secret", WRONG_SECRETS[webhook_id], "--url", served_webhooks.url], {})

    # then the door refuses it, send says so and exits 1, and nothing reaches the stream
    status_line, answer = answer_of(capsys.readouterr().out)
    assert (status, status_line) == (1, "HTTP 401 Unauthorized")
    assert answer["error"]["code"] in {"invalid_signature", "invalid_credentials"}
    assert stream_events(redis_db) == []


def test_send_from_a_file_uses_its_bytes_and_the_delivery_id_is_the_event_id(
    served_webhooks: LocalHttpServer, redis_db: redis.Redis, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a body file whose exact bytes (spacing included) are what GitHub would sign
    body_file = tmp_path / "push.json"
    body_file.write_bytes(b'{"ref" :  "refs/heads/main"}\n')

    # when
    status = send.main(["github", "--body", str(body_file), "--event-id", "gh-42", "--url", served_webhooks.url], {})

    # then
    _, answer = answer_of(capsys.readouterr().out)
    assert (status, answer) == (0, {"status": "delivered", "event_id": "gh-42"})
    assert stream_events(redis_db)[0]["payload"] == {"ref": "refs/heads/main"}


def test_send_to_a_port_where_nothing_listens_says_so_and_exits_2(
    served_webhooks: LocalHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a URL with nothing behind it (the served port, once stopped)
    url = served_webhooks.url
    served_webhooks.stop()

    # when
    status = send.main(["github", "--url", url], {})

    # then one line says what to do, no traceback
    error = capsys.readouterr().err
    assert status == send.NOT_SENT
    assert f"nothing answers at {url}/webhook/github" in error
    assert "make run" in error
    assert "Traceback" not in error


def test_send_names_the_configured_webhooks_when_the_id_is_unknown(
    served_webhooks: LocalHttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    status = send.main(["gitbuh", "--url", served_webhooks.url], {})

    # then
    error = capsys.readouterr().err
    assert status == send.NOT_SENT
    assert "no webhook 'gitbuh'" in error
    assert "github, hmac_body" in error


def test_make_send_github_example_of_the_shipped_config_is_accepted(
    redis_server: RedisServer, redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the shipped webhooks.json pointed at the test Redis (its REDIS_HOST/REDIS_PORT
    # defaults), served as `make run` serves it, and no GITHUB_WEBHOOK_SECRET set
    monkeypatch.setenv("WEBHOOKS_CONFIG", str(PROJECT_ROOT / "webhooks.json"))
    monkeypatch.setenv("REDIS_HOST", redis_server.host)
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    reset_process_state()
    from app import app

    with LocalHttpServer(app, port=0) as server:
        # when the module behind `make send WEBHOOK=github_example` runs with no body
        environ = {**os.environ, "PORT": str(server.port)}
        result = subprocess.run(
            [sys.executable, "-m", "scripts.send", "github_example", "--body", ""],
            cwd=PROJECT_ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # then it is signed with the local default secret and delivered
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed github with its configured secret" in result.stdout
    assert "local-dev-secret" not in result.stdout + result.stderr
    _, answer = answer_of(result.stdout)
    assert answer["status"] == "delivered"
    (event,) = stream_events(redis_db)
    assert (event["webhook_id"], event["verified_by"], event["id"]) == ("github_example", "github", answer["event_id"])
