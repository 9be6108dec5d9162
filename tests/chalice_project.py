"""A throwaway copy of the Chalice project, so that package and deploy tests leave the checkout alone
(`chalice deploy` writes .chalice/deployed/<stage>.json; the bundling step writes into chalicelib/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What `chalice package` and `chalice deploy` read. The dependency cache (.chalice/deployments)
# comes along when there is one, so that a test does not download wheels again.
PROJECT_FILES = ("app.py", "requirements.txt", "webhooks.json")
SCRIPT_TIMEOUT_SECONDS = 180


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(PROJECT_ROOT / name, target / name)
    shutil.copytree(
        PROJECT_ROOT / "chalicelib",
        target / "chalicelib",
        ignore=shutil.ignore_patterns("__pycache__", "webhooks.json"),
    )
    chalice_dir = target / ".chalice"
    chalice_dir.mkdir()
    for config in (PROJECT_ROOT / ".chalice").glob("*.json"):
        shutil.copy2(config, chalice_dir / config.name)
    cache = PROJECT_ROOT / ".chalice" / "deployments"
    if cache.is_dir():
        shutil.copytree(cache, chalice_dir / "deployments")
    return target


def set_stage_variables(project: Path, stage: str, **variables: str) -> None:
    """Adds environment variables to a stage of the copy's .chalice/config.json (a Redis that
    `make package`/`make deploy` accept, for instance: they refuse the seed's localhost)."""
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage].setdefault("environment_variables", {}).update(variables)
    path.write_text(json.dumps(config, indent=2))


def run_script(name: str, *arguments: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.<name>` from the project root by this interpreter, as `make` runs it; output
    captured for the assertion message."""
    return subprocess.run(
        [sys.executable, "-m", f"scripts.{name}", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(environ or {})},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        check=False,
    )
