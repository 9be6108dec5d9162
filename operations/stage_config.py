"""A stage of .chalice/config.json as Chalice resolves it, for the tools that deploy it.

Read through Chalice's own Config (stage, then per-function settings, then Chalice's defaults),
so the queue bootstrap and the merge template see the values `chalice deploy` and
`chalice package` will use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalice.config import Config
from chalice.constants import DEFAULT_LAMBDA_MEMORY_SIZE, DEFAULT_LAMBDA_TIMEOUT

from chalicelib.errors import SpillwayError

# Chalice's names for the two functions: the REST API's handler and the @app.on_sqs_message name.
API_HANDLER = "api_handler"
DRAIN = "drain"
DEFAULT_RETRY_QUEUE_NAME = "spillway-retry"
DEFAULT_DEAD_LETTER_QUEUE_NAME = "spillway-dead-letter"


class StageConfigError(SpillwayError):
    """The stage is missing from .chalice/config.json, or the file cannot be read."""


@dataclass(frozen=True)
class FunctionSettings:
    name: str
    memory_size: int
    timeout_seconds: int
    reserved_concurrency: int | None
    # What Chalice gives this function: the stage's environment_variables, then its own.
    environment: Mapping[str, str] = field(default_factory=dict)
    # The IAM policy `chalice deploy` gives its role (autogen_policy false), relative to .chalice/;
    # None: Chalice writes one from the code, which grants nothing of SSM or Secrets Manager.
    iam_policy_file: str | None = None


@dataclass(frozen=True)
class StageSettings:
    stage: str
    environment: Mapping[str, str]
    api_handler: FunctionSettings
    drain: FunctionSettings

    @property
    def retry_queue_name(self) -> str:
        return self.environment.get("RETRY_QUEUE_NAME") or DEFAULT_RETRY_QUEUE_NAME

    @property
    def dead_letter_queue_name(self) -> str:
        return self.environment.get("DEAD_LETTER_QUEUE_NAME") or DEFAULT_DEAD_LETTER_QUEUE_NAME


def _function_settings(config: Config, stage: str, name: str) -> FunctionSettings:
    scoped = config.scope(stage, name)
    reserved = scoped.reserved_concurrency
    return FunctionSettings(
        name=name,
        memory_size=int(scoped.lambda_memory_size or DEFAULT_LAMBDA_MEMORY_SIZE),
        timeout_seconds=int(scoped.lambda_timeout or DEFAULT_LAMBDA_TIMEOUT),
        reserved_concurrency=None if reserved is None else int(reserved),
        environment=dict(scoped.environment_variables),
        iam_policy_file=None if scoped.autogen_policy in (None, True) else scoped.iam_policy_file,
    )


def load_stage(project_dir: str, stage: str) -> StageSettings:
    path = os.path.join(project_dir, ".chalice", "config.json")
    try:
        with open(path, encoding="utf-8") as file:
            from_disk = json.load(file)
    except (OSError, ValueError) as exc:
        raise StageConfigError(f"{path}: {exc}") from exc
    stages = from_disk.get("stages", {})
    if stage not in stages:
        raise StageConfigError(f"{path}: no stage {stage!r} (stages: {', '.join(sorted(stages)) or 'none'})")
    config = Config(chalice_stage=stage, config_from_disk=from_disk)
    # Stage-wide variables, as Chalice exports them while it imports app.py to package it.
    environment = config.scope(stage, API_HANDLER).environment_variables
    return StageSettings(
        stage=stage,
        environment=dict(environment),
        api_handler=_function_settings(config, stage, API_HANDLER),
        drain=_function_settings(config, stage, DRAIN),
    )
