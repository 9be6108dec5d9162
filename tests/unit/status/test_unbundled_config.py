"""A bundle made by a bare `chalice deploy`/`chalice package` ships no webhooks.json: /health says
which file is missing and which command bundles it, and every webhook answers 503."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.chalice_project import PROJECT_ROOT

# Run inside the unpacked bundle, as Lambda runs it: its folder first on sys.path, no WEBHOOKS_CONFIG.
PROBE = """
import json
from chalice.test import Client
from app import app
with Client(app, stage_name="test") as client:
    health = client.http.get("/health")
    webhook = client.http.post("/webhook/redis_test", body=b"{}", headers={"Content-Type": "application/json"})
print(json.dumps({"health": health.status_code, "body": json.loads(health.body), "webhook": webhook.status_code}))
"""


def test_a_bundle_without_webhooks_json_names_the_missing_file_and_the_command_that_bundles_it(
    tmp_path: Path,
) -> None:
    # given what `chalice package` zips without `make package`: app.py and chalicelib/, no webhooks.json
    shutil.copy2(PROJECT_ROOT / "app.py", tmp_path / "app.py")
    shutil.copytree(
        PROJECT_ROOT / "chalicelib", tmp_path / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.json")
    )
    environ = {name: value for name, value in os.environ.items() if name != "WEBHOOKS_CONFIG"}

    # when the relay starts from it and is asked
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["health"] == 503
    message = answer["body"]["error"]["message"]
    assert str(tmp_path / "webhooks.json") in message
    assert "file not found" in message and "`make deploy` or `make package`" in message
    assert answer["webhook"] == 503
