"""The app served over real HTTP as `chalice local` serves it, without its 40 ms keep-alive stall."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from devstack.local_http import LocalHttpServer, PortInUse
from devstack.moto_sqs import MotoSqsServer
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE, stream_events

pytestmark = pytest.mark.e2e

# chalice local without TCP_NODELAY answers each keep-alive request in ~40 ms (delayed ACK).
NAGLE_STALL_SECONDS = 0.040


@pytest.fixture
def moto_queues(moto_sqs: MotoSqsServer) -> MotoSqsServer:
    import boto3

    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_sqs.url)
    client.create_queue(QueueName=DEAD_LETTER_QUEUE)
    client.create_queue(QueueName=RETRY_QUEUE)
    return moto_sqs


@pytest.fixture
def served_app(relay_config: dict[str, Any], moto_queues: MotoSqsServer) -> Iterator[LocalHttpServer]:
    from app import app

    server = LocalHttpServer(app, port=0)
    server.start()
    yield server
    server.stop()


def post_webhook(connection: http.client.HTTPConnection, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    connection.request(
        "POST", "/webhook/redis_test", body=json.dumps(payload), headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_served_webhook_answers_200_and_event_lands_in_stream(
    served_app: LocalHttpServer, redis_db: redis.Redis
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served_app.port, timeout=5)
    try:
        status, _ = post_webhook(connection, {"order": 42})
    finally:
        connection.close()

    assert status == 200
    assert [event["payload"] for event in stream_events(redis_db)] == [{"order": 42}]


def test_keep_alive_requests_do_not_stall_on_nagle(served_app: LocalHttpServer, redis_db: redis.Redis) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served_app.port, timeout=5)
    round_trips = []
    try:
        for number in range(50):
            started = time.perf_counter()
            status, _ = post_webhook(connection, {"n": number})
            round_trips.append(time.perf_counter() - started)
            assert status == 200
    finally:
        connection.close()

    assert statistics.median(round_trips) < NAGLE_STALL_SECONDS / 2
    assert sum(round_trips) < 50 * NAGLE_STALL_SECONDS / 2
    assert len(stream_events(redis_db)) == 50


def test_busy_port_raises_error_naming_the_port() -> None:
    from chalice import Chalice

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        server = LocalHttpServer(Chalice(app_name="squatted"), port=port)
        with pytest.raises(PortInUse, match=f"port {port} .*already in use"):
            server.start()
        server.stop()


def test_stop_closes_idle_keep_alive_connections_promptly() -> None:
    from chalice import Chalice

    app = Chalice(app_name="idle")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    server = LocalHttpServer(app, port=0)
    server.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/")
        assert connection.getresponse().read() == b'{"ok":true}'

        started = time.monotonic()
        server.stop()
        stop_seconds = time.monotonic() - started

        with pytest.raises((http.client.HTTPException, ConnectionError)):
            connection.request("GET", "/")
            connection.getresponse()
    finally:
        connection.close()
    assert stop_seconds < 2.0
