"""Where `make send` posts when no --url is given: PORT, else the running local stack, else 8000."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from devstack.send import default_url
from operations.local_stack_settings import write_settings
from tests.unit.operations.test_local_stack_settings import settings


def test_without_port_it_posts_to_the_url_the_running_stack_serves_on(tmp_path: Path) -> None:
    # given a stack running on port 9000 (this process plays the stack)
    path = str(tmp_path / "local-stack.json")
    write_settings(replace(settings(os.getpid()), http_url="http://127.0.0.1:9000"), path)
    # when / then
    assert default_url({}, path) == "http://127.0.0.1:9000"


def test_port_wins_over_the_running_stack(tmp_path: Path) -> None:
    # given a stack running on 9000, and PORT set
    path = str(tmp_path / "local-stack.json")
    write_settings(replace(settings(os.getpid()), http_url="http://127.0.0.1:9000"), path)
    # when / then
    assert default_url({"PORT": "8123"}, path) == "http://127.0.0.1:8123"


def test_with_no_stack_running_it_posts_to_make_runs_default_port(tmp_path: Path) -> None:
    # given a settings file left by a stack that is gone (a pid no process has)
    path = str(tmp_path / "local-stack.json")
    write_settings(replace(settings(2**22 + 1), http_url="http://127.0.0.1:9000"), path)
    # when / then
    assert default_url({}, path) == "http://127.0.0.1:8000"
    assert default_url({}, str(tmp_path / "missing.json")) == "http://127.0.0.1:8000"
