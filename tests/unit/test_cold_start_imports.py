"""A cold start imports what the configured webhooks use, and nothing else: a provider's module
when a webhook names it, fastjsonschema when a webhook has a schema, tenacity and boto3 when a
call needs a retry or AWS, IAM auth when a connection uses it, the SSM/Secrets Manager reader
when the configuration refers to them, the drain and the status views when their handlers run
(bench B5). Each check runs in a fresh interpreter, since this one has imported everything
already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devstack.redis_server import RedisServer
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import webhook_settings

PROBE_TIMEOUT_SECONDS = 60
SECRET = "whsec-cold-start"
OTHER_PROVIDERS = (
    "chalicelib.verification.stripe",
    "chalicelib.verification.slack",
    "chalicelib.verification.shopify",
    "chalicelib.verification.standard_webhooks",
    "chalicelib.verification.generic_hmac",
    "chalicelib.verification.credentials",
)
# Loaded with the app: which of these a cold start imported.
IMPORTED = """
import json, sys
import app
watched = {watched!r}
print(json.dumps(sorted(name for name in watched if name in sys.modules)))
"""
# The app imported with the first config, then the second loaded as an SSM refresh loads it (a
# fresh read of the file): what the door answers a genuine, a forged and an invalid event.
RELOADED = """
import hashlib, hmac, json, os, sys, time
import app
from chalice.test import Client
from chalicelib.config.settings import get_relay_config
from chalicelib.process_state import reset_process_state

before = "chalicelib.verification.stripe" in sys.modules
os.environ["WEBHOOKS_CONFIG"] = {second!r}
reset_process_state()
get_relay_config()
answers = []
with Client(app.app) as client:
    for body, secret in ((b'{{"id": "evt_1", "amount": 1}}', {secret!r}), (b'{{"id": "evt_2", "amount": 1}}', "forged"),
                         (b'{{"id": "evt_3", "amount": "one"}}', {secret!r})):
        # Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, by hand: the
        # signer would import every provider's module.
        t = str(int(time.time()))
        signature = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {{"Content-Type": "application/json", "Stripe-Signature": f"t={{t}},v1={{signature}}"}}
        answers.append(client.http.post("/webhook/stripe_hook", headers=headers, body=body).status_code)
print(json.dumps({{"imported_before": before, "answers": answers,
                   "imported_after": "chalicelib.verification.stripe" in sys.modules}}))
"""


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def run_python(code: str, webhooks_config: str) -> Any:
    environ = {
        **os.environ,
        "WEBHOOKS_CONFIG": webhooks_config,
        "AWS_DEFAULT_REGION": "us-east-1",
        "LOG_LEVEL": "WARNING",
    }
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def github_only(redis_server: RedisServer) -> dict[str, Any]:
    return {"pushes": webhook_settings(redis_server, verify={"provider": "github", "secrets": [SECRET]})}


def test_app_with_only_a_github_webhook_imports_no_other_provider_and_nothing_else_it_does_not_use(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # given a webhooks.json whose one webhook is verified as GitHub's, with no schema
    config = write(tmp_path / "webhooks.json", github_only(redis_server))
    unused = (
        "fastjsonschema",
        "tenacity",
        "boto3",
        "chalicelib.delivery.iam_auth",
        "chalicelib.config.secret_references",
        "chalicelib.queue.sqs",
        "chalicelib.queue.drain",
        "chalicelib.status.health",
    )
    watched = ("chalicelib.verification.github", *OTHER_PROVIDERS, *unused)

    # when a fresh Python imports the app (which loads and checks that config)
    imported = run_python(IMPORTED.format(watched=watched), config)

    # then GitHub's check is loaded, and nothing the config does not use
    assert imported == ["chalicelib.verification.github"]


def test_config_loaded_later_that_names_a_new_provider_and_schema_imports_them_on_first_use(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # given the app imported with a GitHub-only config
    first = write(tmp_path / "first.json", github_only(redis_server))
    # and a later config (an SSM refresh) that adds a Stripe webhook with a schema
    stripe_hook = webhook_settings(
        redis_server,
        verify={"provider": "stripe", "secrets": [SECRET]},
        schema={"type": "object", "properties": {"amount": {"type": "integer"}}},
    )
    second = write(tmp_path / "second.json", {**github_only(redis_server), "stripe_hook": stripe_hook})

    # when that config loads and Stripe's requests arrive
    result = run_python(RELOADED.format(second=second, secret=SECRET), first)

    # then Stripe's check was imported only then, and it and the schema both work
    assert result["imported_before"] is False
    assert result["imported_after"] is True
    assert result["answers"] == [200, 401, 422]
