"""B7: the deployment zip's size, as `make package` builds it (operations.packaging.package:
`chalice package` with webhooks.json bundled), from a copy of the project in a temporary
folder, so the work tree is never touched. Chalice fetches Lambda's wheels from PyPI (or its
cache) for requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections import Counter

from bench.processes import PROJECT_DIR
from bench.results import Row, Target, benchmark_main, figure_row

# A report with a ceiling: Lambda takes 50 MB zipped; the zip ships bytecode for all it holds
# (operations/bytecode.py), which buys B5-zip's cold start for ~1 MB.
SIZE_TARGET = Target(5, at_most=True, on_ratio=False, unit="MB")
STAGE = "dev"
# A Redis address Lambda could reach: `make package` refuses the seed's ${REDIS_HOST:-localhost}
# (operations/deploy_guards.py). The zip is the same whatever the host.
STAGE_VARIABLES = {"REDIS_HOST": "spillway.bench.cache.amazonaws.com"}
# What `chalice package` reads: the code that ships, its requirements and the stage settings.
PROJECT_FILES = ("app.py", "requirements.txt", "webhooks.json")
PROJECT_FOLDERS = ("chalicelib", "vendor")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "webhooks.json")


def copy_project(target: str) -> None:
    os.makedirs(os.path.join(target, ".chalice"))
    for name in PROJECT_FILES:
        shutil.copy2(os.path.join(PROJECT_DIR, name), target)
    for name in PROJECT_FOLDERS:
        if os.path.isdir(os.path.join(PROJECT_DIR, name)):
            shutil.copytree(os.path.join(PROJECT_DIR, name), os.path.join(target, name), ignore=IGNORED)
    chalice_dir = os.path.join(PROJECT_DIR, ".chalice")
    for name in os.listdir(chalice_dir):
        if name.endswith(".json"):
            shutil.copy2(os.path.join(chalice_dir, name), os.path.join(target, ".chalice"))
    config_path = os.path.join(target, ".chalice", "config.json")
    with open(config_path, encoding="utf-8") as file:
        config = json.load(file)
    config["stages"][STAGE].setdefault("environment_variables", {}).update(STAGE_VARIABLES)
    with open(config_path, "w", encoding="utf-8") as file:
        json.dump(config, file, indent=2)


def largest_parts(zip_path: str, count: int = 5) -> str:
    """Compressed bytes per top-level folder of the zip, and the bytecode's share."""
    sizes: Counter[str] = Counter()
    bytecode = 0
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            sizes[info.filename.split("/", 1)[0]] += info.compress_size
            bytecode += info.compress_size if info.filename.endswith(".pyc") else 0
    parts = ", ".join(f"{name} {size / 1024:.0f} KB" for name, size in sizes.most_common(count))
    return f"{parts}; of the whole, .pyc {bytecode / 1024:.0f} KB"


def build_deployment_zip(folder: str) -> str:
    """`make package` for STAGE on a copy of the project inside folder; returns the zip's path."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from operations.packaging import package

    project = os.path.join(folder, "project")
    copy_project(project)
    return package(project, STAGE, os.path.join(folder, "build", STAGE)).deployment_zip


def run(arguments: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="spillway-b7-") as folder:
        deployment_zip = build_deployment_zip(folder)
        size_mb = os.path.getsize(deployment_zip) / (1024 * 1024)
        parts = largest_parts(deployment_zip)
    return [
        figure_row(
            "B7",
            f"deployment.zip, chalice package (stage {STAGE})",
            "MB",
            size_mb,
            target=SIZE_TARGET,
            note=f"largest parts, compressed: {parts}",
        )
    ]


if __name__ == "__main__":
    sys.exit(benchmark_main(__doc__, run))
