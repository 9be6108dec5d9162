"""Shared fixtures: a real redis-server, SQS through moto, a webhooks.json per test."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from devstack.redis_server import RedisServer

# Set before anything imports boto3, so no test can reach a real AWS account.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
for _endpoint_variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
    os.environ.pop(_endpoint_variable, None)

from chalicelib.process_state import reset_process_state  # noqa: E402
from chalicelib.queue import sqs as sqs_queues  # noqa: E402
from chalicelib.structured_log import get_logger  # noqa: E402

RETRY_QUEUE = "spillway-retry"
DEAD_LETTER_QUEUE = "spillway-dead-letter"
STREAM = "webhook_events"
CHANNEL = "webhook_events"
ADMIN_TOKEN = "s3cr3t-admin"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The test Redis, running and empty; left running for the next test."""
    redis_server.resume()
    redis_server.start()
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()
    redis_server.resume()
    redis_server.start()


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no cached configuration, Redis client or SQS client."""
    reset_process_state()
    yield
    reset_process_state()


@pytest.fixture
def admin_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """ADMIN_TOKEN set: /stats and /health?deep=1 answer its bearer."""
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN_TOKEN)
    reset_process_state()
    return ADMIN_TOKEN


def webhook_settings(redis_server: RedisServer, **overrides: Any) -> dict[str, Any]:
    """A seed-shaped webhook pointing at the test Redis."""
    settings: dict[str, Any] = {
        "data_type": "json",
        "module": "redis_publish",
        "redis": {"host": redis_server.host, "port": redis_server.port, "channel": CHANNEL, "stream": STREAM},
        "retry": {
            "enabled": True,
            "max_attempts": 5,
            "initial_delay": 1.0,
            "max_delay": 10.0,
            "backoff_multiplier": 2.0,
        },
    }
    settings.update(overrides)
    return settings


WriteConfig = Callable[[dict[str, Any]], str]


@pytest.fixture
def write_config(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> WriteConfig:
    """Writes a webhooks.json for this test and points WEBHOOKS_CONFIG at it."""

    def write(document: dict[str, Any]) -> str:
        path = tmp_path / "webhooks.json"
        path.write_text(json.dumps(document))
        monkeypatch.setenv("WEBHOOKS_CONFIG", str(path))
        reset_process_state()
        return str(path)

    return write


@pytest.fixture
def relay_config(write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis) -> dict[str, Any]:
    """The seed's redis_test webhook plus form and blob webhooks, all on the test Redis."""
    document = {
        "redis_test": webhook_settings(redis_server),
        "form_hook": webhook_settings(redis_server, data_type="form"),
        "blob_hook": webhook_settings(redis_server, data_type="blob"),
    }
    write_config(document)
    return document


@pytest.fixture
def sqs() -> Iterator[Any]:
    """moto's in-process SQS with both queues; yields the boto3 client."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("sqs", region_name="us-east-1")
        client.create_queue(QueueName=DEAD_LETTER_QUEUE)
        client.create_queue(QueueName=RETRY_QUEUE)
        reset_process_state()
        yield client
        reset_process_state()


@pytest.fixture
def moto_sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's SQS server on a free port (for code running in threads or subprocesses), empty,
    with AWS_ENDPOINT_URL pointing at it."""
    from devstack.moto_sqs import MotoSqsServer

    with MotoSqsServer(port=0) as server:
        server.reset()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        reset_process_state()
        yield server
        server.reset()


@pytest.fixture
def relay_log(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[Any]]:
    """The relay's JSON log lines written since the last call, as Lambda's stdout would get them.

    The logger's StreamHandler keeps the sys.stdout of its first use (the real stdout, or a
    capture that may be closed by now), so for this test it writes to a buffer instead:
    same handler, same formatter. pytest's own LogCaptureHandlers (subclasses) are left alone.
    """
    stdout_handlers = [handler for handler in get_logger().handlers if type(handler) is logging.StreamHandler]
    assert len(stdout_handlers) == 1, get_logger().handlers
    buffer = io.StringIO()
    monkeypatch.setattr(stdout_handlers[0], "stream", buffer)

    def lines() -> list[Any]:
        written = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in written.splitlines()]

    return lines


class SentMessages:
    """Records every message the relay's own SQS client sends (botocore's event hooks): `calls`
    holds one SendMessage-shaped dict per message, a SendMessageBatch entry included;
    `requests` names every SQS request made, in order."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.requests: list[str] = []

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append(model.name)
        if model.name == "SendMessage":
            self.calls.append(dict(params))
        elif model.name == "SendMessageBatch":
            self.calls += [{"QueueUrl": params["QueueUrl"], **entry} for entry in params["Entries"]]

    def to(self, queue_name: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["QueueUrl"].endswith("/" + queue_name)]


@pytest.fixture
def sent(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> SentMessages:
    """Every client the relay builds during the test reports to the recorder (a reset of the
    process state builds a new one)."""
    recorder = SentMessages()
    build = sqs_queues._build_client

    def build_recorded(region: str) -> Any:
        client = build(region)
        client.meta.events.register("provide-client-params.sqs", recorder.record)
        return client

    monkeypatch.setattr(sqs_queues, "_build_client", build_recorded)
    reset_process_state()
    return recorder


@pytest.fixture
def chalice_client() -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    # A stage with no entry in .chalice/config.json, so no stage variable overrides a test's.
    with Client(app, stage_name="test") as client:
        yield client


def queue_url(sqs_client: Any, name: str) -> str:
    return str(sqs_client.get_queue_url(QueueName=name)["QueueUrl"])


def drain_messages(sqs_client: Any, name: str, limit: int = 100) -> list[dict[str, Any]]:
    """Every visible message on a queue (bounded), deleting none."""
    url = queue_url(sqs_client, name)
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(limit):
        batch = sqs_client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = message
    return list(seen.values())


def stream_events(client: redis.Redis, stream: str = STREAM) -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _, fields in client.xrange(stream)]
