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


def toy_server(max_connections: int, idle_timeout: float | None) -> LocalHttpServer:
    from chalice import Chalice

    app = Chalice(app_name="bounded")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    server = LocalHttpServer(app, port=0, max_connections=max_connections, idle_timeout=idle_timeout)
    server.start()
    return server


def get_ok(connection: http.client.HTTPConnection) -> bytes:
    connection.request("GET", "/")
    return connection.getresponse().read()


def test_connection_over_the_limit_waits_for_a_slot_and_is_answered_once_one_closes() -> None:
    # given a server of one connection, held open (keep-alive) by a first client
    server = toy_server(max_connections=1, idle_timeout=None)
    first = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    second = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
    try:
        assert get_ok(first) == b'{"ok":true}'
        # when a second client asks, it waits (its request sits in the listen queue)
        with pytest.raises(TimeoutError):
            get_ok(second)
        # then once the first hangs up, the next request of the second is answered
        first.close()
        second.close()
        second.timeout = 5
        assert get_ok(second) == b'{"ok":true}'
    finally:
        first.close()
        second.close()
        server.stop()


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout_and_frees_its_slot() -> None:
    # given a server of one connection whose client went quiet after one request
    server = toy_server(max_connections=1, idle_timeout=0.3)
    idle = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    waiting = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        assert get_ok(idle) == b'{"ok":true}'
        # when another client asks
        started = time.monotonic()
        answer = get_ok(waiting)
        waited = time.monotonic() - started
        # then it is answered once the idle connection has been closed for it
        assert answer == b'{"ok":true}'
        assert 0.2 < waited < 3.0
    finally:
        idle.close()
        waiting.close()
        server.stop()
