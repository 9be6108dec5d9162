"""The running local stack's settings, handed to the commands a person runs next to it.

`make run` writes .run/local-stack.json once everything is up (SQS endpoint, region,
placeholder credentials, queue names, Redis) and removes it when it stops; `make dlq`,
`make bootstrap`, `make redis-stop`, `make redis-start`, `make send` and `make watch` read it,
so a new terminal needs nothing exported. It lives here, not in devstack/, because devstack imports operations and
never the other way round.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from typing import TextIO
from urllib.parse import urlsplit

# Relative to the checkout, where `make` runs every command: the stack's data directory.
SETTINGS_FILE = os.path.join(".run", "local-stack.json")
SETTINGS_FILE_NAME = "local-stack.json"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class LocalStackSettings:
    stack_pid: int
    http_url: str
    sqs_endpoint: str
    region: str
    access_key_id: str
    secret_access_key: str
    retry_queue_name: str
    dead_letter_queue_name: str
    redis_url: str
    # None: the stack found this Redis running; it is not the stack's to stop or start.
    redis_pid: int | None
    redis_data_dir: str | None
    # The nodes of the Redis Cluster the stack started (`make run CLUSTER=1`); redis_pid is then
    # None and redis_url names one node.
    redis_cluster_pids: list[int] | None = None

    def environment(self) -> dict[str, str]:
        """What a tool needs to reach the stack's queues and its Redis, as boto3 and the relay read
        them: the shipped webhooks.json names Redis by REDIS_HOST, REDIS_PORT and REDIS_CLUSTER, as
        the stack sets them for the relay (a cluster's nodes are on ports of their own)."""
        redis = urlsplit(self.redis_url)
        environment = {
            "AWS_ENDPOINT_URL": self.sqs_endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "RETRY_QUEUE_NAME": self.retry_queue_name,
            "DEAD_LETTER_QUEUE_NAME": self.dead_letter_queue_name,
            "REDIS_URL": self.redis_url,
            "REDIS_HOST": redis.hostname or "127.0.0.1",
            "REDIS_PORT": str(redis.port or 6379),
        }
        if self.redis_cluster_pids:
            environment["REDIS_CLUSTER"] = "true"
        return environment


def write_settings(settings: LocalStackSettings, path: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(asdict(settings), handle, indent=2)
    os.replace(partial, path)


def remove_settings(path: str) -> None:
    """Removes the file only while it is this process's own: a second stack that failed to start
    must not take away the file of the one still running."""
    settings = read_settings(path, require_running=False)
    if settings is not None and settings.stack_pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_settings(path: str = SETTINGS_FILE, *, require_running: bool = True) -> LocalStackSettings | None:
    """None when there is no file, it is not ours, or (require_running) the stack that wrote it is
    gone (a SIGKILLed stack cannot remove its file)."""
    try:
        with open(path, encoding="utf-8") as handle:
            settings = LocalStackSettings(**json.load(handle))
    except (OSError, ValueError, TypeError):
        return None
    if require_running and not _process_alive(settings.stack_pid):
        return None
    return settings


def configured_sqs_endpoint(environ: MutableMapping[str, str]) -> str | None:
    return environ.get("AWS_ENDPOINT_URL_SQS") or environ.get("AWS_ENDPOINT_URL") or None


def use_local_stack(
    environ: MutableMapping[str, str], path: str = SETTINGS_FILE, note: TextIO | None = sys.stderr
) -> LocalStackSettings | None:
    """With no SQS endpoint set, or one on this machine, and a local stack running: fills in what
    is not set (endpoint, region, credentials, queue names) from its settings, and says so on
    `note`, so a command never talks to the local stack (or AWS) without the person seeing which."""
    endpoint = configured_sqs_endpoint(environ)
    if endpoint and urlsplit(endpoint).hostname not in LOOPBACK_HOSTS:
        return None
    settings = read_settings(path)
    if settings is None:
        return None
    for name, value in settings.environment().items():
        if name == "AWS_ENDPOINT_URL" and endpoint:
            continue
        environ.setdefault(name, value)
    if note is not None:
        note.write(f"using the local stack's SQS at {configured_sqs_endpoint(environ)} (settings from {path})\n")
    return settings
