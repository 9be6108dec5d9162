"""The app served over real HTTP as `chalice local` serves it, without its 40 ms keep-alive stall."""

from __future__ import annotations

import email.utils
import http.client
import json
import select
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from devstack.local_http import LocalHttpServer, PortInUse
from devstack.moto_sqs import MotoSqsServer
from devstack.redis_server import RedisServer
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE, WriteConfig, stream_events, webhook_settings

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


# --- each request is bounded ----------------------------------------------------------------

REQUEST_TIMEOUT = 0.3
SMALL_BODY_LIMIT = 1024


def bounded_server(**options: Any) -> LocalHttpServer:
    """A toy app with an echo and a source-address route, served with short bounds."""
    from chalice import Chalice

    app = Chalice(app_name="bounded")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    @app.route("/echo", methods=["POST"], content_types=["text/plain"])
    def echo() -> dict[str, Any]:
        request = app.current_request
        assert request is not None
        return {"body": request.raw_body.decode(), "content_length": request.headers.get("content-length")}

    @app.route("/headers")
    def headers() -> dict[str, Any]:
        request = app.current_request
        assert request is not None
        return dict(request.headers)

    @app.route("/source")
    def source() -> dict[str, Any]:
        request = app.current_request
        assert request is not None
        return {"source_ip": request.context["identity"]["sourceIp"]}

    settings: dict[str, Any] = {"request_timeout": REQUEST_TIMEOUT, "max_body_bytes": SMALL_BODY_LIMIT}
    server = LocalHttpServer(app, port=0, **{**settings, **options})
    server.start()
    return server


@pytest.fixture
def bounded() -> Iterator[LocalHttpServer]:
    server = bounded_server()
    yield server
    server.stop()


def raw_connection(server: LocalHttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_answer(connection: socket.socket) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    response = http.client.HTTPResponse(connection)
    response.begin()
    return response.status, json.loads(response.read()), response


def closed_by_server(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def trickle_until_closed(connection: socket.socket, outcome: list[str]) -> None:
    """One byte every 50 ms, for 5 s at most, until the server hangs up."""
    for _ in range(100):
        try:
            connection.sendall(b"a")
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable and closed_by_server(connection):
                outcome.append("closed")
                return
        except OSError:
            outcome.append("closed")
            return
    outcome.append("still open after 5 s")


@pytest.mark.parametrize(
    "request_start",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: local\r\nX-Slow: ", id="headers"),
        pytest.param(
            b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n", id="body"
        ),
    ],
)
def test_a_client_trickling_its_request_is_cut_at_the_deadline_and_frees_its_slot(request_start: bytes) -> None:
    # given a server of one connection, no idle timeout, and a client holding it by sending a byte every 50 ms
    server = bounded_server(max_connections=1, idle_timeout=None)
    trickler = raw_connection(server)
    waiting = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    outcome: list[str] = []
    try:
        trickler.sendall(request_start)
        trickling = threading.Thread(target=trickle_until_closed, args=(trickler, outcome))
        trickling.start()

        # when another client asks
        answer = get_ok(waiting)
        trickling.join(timeout=10)

        # then the trickler was cut off at the request deadline, and the other client answered
        assert outcome == ["closed"]
        assert answer == b'{"ok":true}'
    finally:
        trickler.close()
        waiting.close()
        server.stop()


def test_a_content_length_over_the_limit_is_answered_413_before_any_body_is_sent(bounded: LocalHttpServer) -> None:
    # given a request declaring a gigabyte, and not sending it
    with raw_connection(bounded) as connection:
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\n")
        connection.sendall(b"Content-Length: 1000000000\r\n\r\n")

        # when / then: answered at once, and the connection closed (its body would be read as a request)
        status, body, response = read_answer(connection)
        assert status == 413
        assert body["error"]["code"] == "payload_too_large"
        assert f"{SMALL_BODY_LIMIT} bytes" in body["error"]["message"]
        assert response.getheader("Connection") == "close"
        assert closed_by_server(connection)


def test_expect_100_continue_over_the_limit_is_refused_without_inviting_the_body(bounded: LocalHttpServer) -> None:
    # given a client that waits for 100 Continue before sending (curl does over 1 MB)
    with raw_connection(bounded) as connection:
        connection.sendall(
            b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
        )

        # when / then: the first answer is the refusal
        status, body, _ = read_answer(connection)
        assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_a_client_still_sending_an_oversized_body_reads_its_413_not_a_reset(bounded: LocalHttpServer) -> None:
    # given an 8 MB body (more than the kernel buffers), sent in full without waiting for an answer
    body = b"x" * (8 * 1024 * SMALL_BODY_LIMIT)
    with raw_connection(bounded) as connection:
        head = f"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"

        # when
        connection.sendall(head.encode() + body)

        # then
        status, answer, _ = read_answer(connection)
        assert (status, answer["error"]["code"]) == (413, "payload_too_large")


def test_by_default_a_body_over_what_lambda_receives_is_refused_413_and_one_at_the_limit_is_served() -> None:
    # given a server with the default bound: the largest body that fits Lambda's 6 MB event as base64
    from chalice import Chalice

    app = Chalice(app_name="lambda_sized")

    @app.route("/size", methods=["POST"], content_types=["application/octet-stream"])
    def size() -> dict[str, int]:
        request = app.current_request
        assert request is not None
        return {"size": len(request.raw_body)}

    server = LocalHttpServer(app, port=0, request_timeout=30.0)
    server.start()
    head = "POST /size HTTP/1.1\r\nHost: local\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n"
    try:
        # when a request declares one byte more than 4,521,984, and sends nothing
        with raw_connection(server) as connection:
            connection.sendall(head.format(4_521_985).encode())
            status, refused, _ = read_answer(connection)
        # and another sends exactly that many
        with raw_connection(server) as connection:
            connection.sendall(head.format(4_521_984).encode() + b"\0" * 4_521_984)
            served_status, served, _ = read_answer(connection)
    finally:
        server.stop()

    # then the first is answered as Lambda behind API Gateway would, the second is served whole
    assert (status, refused["error"]["code"]) == (413, "payload_too_large")
    assert "4521984 bytes" in refused["error"]["message"]
    assert (served_status, served) == (200, {"size": 4_521_984})


def test_a_chunked_body_is_read_and_handed_to_the_app_whole(bounded: LocalHttpServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", bounded.port, timeout=5)
    try:
        # given / when a body sent in three chunks
        connection.request(
            "POST",
            "/echo",
            body=iter([b"hello", b", ", b"world"]),
            headers={"Content-Type": "text/plain"},
            encode_chunked=True,
        )
        response = connection.getresponse()

        # then the app sees the whole body, with its length as API Gateway gives it
        assert response.status == 200
        assert json.loads(response.read()) == {"body": "hello, world", "content_length": "12"}
        # and the connection stays usable for the next request
        assert get_ok(connection) == b'{"ok":true}'
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("chunked_body", "status", "code"),
    [
        pytest.param(b"400\r\n" + b"x" * 0x400 + b"\r\n1\r\nx\r\n0\r\n\r\n", 413, "payload_too_large", id="over-limit"),
        pytest.param(b"zz\r\nhello\r\n0\r\n\r\n", 400, "invalid_chunked_body", id="bad-size"),
        pytest.param(b"-5\r\nhello\r\n0\r\n\r\n", 400, "invalid_chunked_body", id="negative-size"),
        pytest.param(b"2\r\nhello\r\n0\r\n\r\n", 400, "invalid_chunked_body", id="chunk-longer-than-its-size"),
    ],
)
def test_a_chunked_body_that_is_too_big_or_malformed_is_refused_with_a_clear_4xx(
    bounded: LocalHttpServer, chunked_body: bytes, status: int, code: str
) -> None:
    with raw_connection(bounded) as connection:
        # given / when
        connection.sendall(
            b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked_body
        )

        # then
        answered, body, _ = read_answer(connection)
        assert (answered, body["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("framing", "code"),
    [
        pytest.param(b"Transfer-Encoding: gzip\r\n", "unsupported_transfer_encoding", id="unknown-coding"),
        pytest.param(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "ambiguous_length", id="both"),
        pytest.param(b"Content-Length: 5\r\nContent-Length: 6\r\n", "ambiguous_length", id="two-lengths"),
        pytest.param(b"Content-Length: -5\r\n", "invalid_content_length", id="negative-length"),
    ],
)
def test_a_body_whose_length_cannot_be_told_is_refused_with_400(
    bounded: LocalHttpServer, framing: bytes, code: str
) -> None:
    with raw_connection(bounded) as connection:
        # given / when
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\n" + framing + b"\r\n")

        # then
        status, body, _ = read_answer(connection)
        assert (status, body["error"]["code"]) == (400, code)


# --- the request line and headers, read without the email package ---------------------------


def test_headers_reach_the_app_as_sent_with_surrounding_blanks_trimmed(bounded: LocalHttpServer) -> None:
    with raw_connection(bounded) as connection:
        # given a request whose header values carry blanks around them, one empty
        connection.sendall(
            b"GET /headers HTTP/1.1\r\nHost: local\r\nX-Plain: one\r\nX-Spaced:   two words  \r\n"
            b"X-Empty:\r\nX-Colon: a:b\r\n\r\n"
        )

        # when
        status, body, response = read_answer(connection)

        # then the app sees each value as http.server would give it, and the answer is dated
        assert status == 200
        assert {name: body[name] for name in ("x-plain", "x-spaced", "x-empty", "x-colon")} == {
            "x-plain": "one",
            "x-spaced": "two words",
            "x-empty": "",
            "x-colon": "a:b",
        }
        assert email.utils.parsedate_to_datetime(response.getheader("Date") or "").year >= 2024


@pytest.mark.parametrize(
    ("header_section", "status", "code"),
    [
        pytest.param(b"Host: local\r\nno colon here\r\n", 400, "invalid_header", id="no-colon"),
        pytest.param(b"Host: local\r\nX-Folded: one\r\n  two\r\n", 400, "invalid_header", id="folded"),
        pytest.param(b"Host: local\r\nBad Name: x\r\n", 400, "invalid_header", id="space-in-name"),
        pytest.param(b"Host: local\r\nX-A: 1\rTransfer-Encoding: chunked\r\n", 400, "invalid_header", id="bare-cr"),
        pytest.param(b"Host: local\r\nX-A: 1\x002\r\n", 400, "invalid_header", id="nul"),
        pytest.param(b"".join(b"X-%d: v\r\n" % index for index in range(101)), 431, "too_many_headers", id="101"),
        pytest.param(b"X-Long: " + b"v" * 70_000 + b"\r\n", 431, "header_too_large", id="long-line"),
    ],
)
def test_a_header_section_http_would_not_take_is_refused_with_a_clear_4xx_and_the_connection_closed(
    bounded: LocalHttpServer, header_section: bytes, status: int, code: str
) -> None:
    with raw_connection(bounded) as connection:
        # given / when
        connection.sendall(b"GET / HTTP/1.1\r\n" + header_section + b"\r\n")

        # then
        answer_status, body, _ = read_answer(connection)
        assert (answer_status, body["error"]["code"]) == (status, code)
        assert closed_by_server(connection)


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        pytest.param(b"GET / HTTP/2.0", 505, id="http2"),
        pytest.param(b"GET / HTTP/1.x", 400, id="bad-version"),
        pytest.param(b"GET / SPDY/3", 400, id="not-http"),
        pytest.param(b"GET /a b HTTP/1.1", 400, id="four-words"),
    ],
)
def test_a_request_line_http_would_not_take_is_refused(
    bounded: LocalHttpServer, request_line: bytes, status: int
) -> None:
    with raw_connection(bounded) as connection:
        # given / when
        connection.sendall(request_line + b"\r\nHost: local\r\n\r\n")
        answer = connection.recv(4096)

        # then http.server's own error page names the status, and nothing is served
        assert f"Error code: {status}".encode() in answer
        assert b'"ok"' not in answer


def test_an_http_0_9_request_is_refused_with_400(bounded: LocalHttpServer) -> None:
    with raw_connection(bounded) as connection:
        # given / when a two-word request line, as HTTP/0.9 sends
        connection.sendall(b"GET /\r\n")
        answer = connection.recv(4096)

        # then
        assert b"Error code: 400" in answer and b'"ok"' not in answer


@pytest.mark.parametrize(
    ("version", "connection_header", "stays_open"),
    [
        pytest.param(b"HTTP/1.1", b"", True, id="1.1"),
        pytest.param(b"HTTP/1.1", b"Connection: close\r\n", False, id="1.1-close"),
        pytest.param(b"HTTP/1.0", b"", False, id="1.0"),
        pytest.param(b"HTTP/1.0", b"Connection: keep-alive\r\n", True, id="1.0-keep-alive"),
    ],
)
def test_the_connection_header_decides_whether_the_connection_stays_open(
    bounded: LocalHttpServer, version: bytes, connection_header: bytes, stays_open: bool
) -> None:
    with raw_connection(bounded) as connection:
        # given / when one request
        connection.sendall(b"GET / " + version + b"\r\nHost: local\r\n" + connection_header + b"\r\n")
        status, body, _ = read_answer(connection)

        # then it is answered, and the connection is closed or kept as HTTP says
        assert (status, body) == (200, {"ok": True})
        readable, _, _ = select.select([connection], [], [], 0.3)
        closed = bool(readable) and closed_by_server(connection)
        assert closed is not stays_open


def test_the_peers_address_is_the_requests_source_ip(bounded: LocalHttpServer) -> None:
    # given a client on another loopback address than chalice local's fixed 127.0.0.1
    connection = http.client.HTTPConnection("127.0.0.1", bounded.port, timeout=5, source_address=("127.0.0.2", 0))
    try:
        # when
        connection.request("GET", "/source")
        response = connection.getresponse()

        # then
        assert json.loads(response.read()) == {"source_ip": "127.0.0.2"}
    finally:
        connection.close()


def test_a_webhooks_allow_ips_can_be_tried_against_the_local_server(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    # given a webhook open to 127.0.0.2 only
    write_config({"redis_test": webhook_settings(redis_server, allow_ips=["127.0.0.2/32"])})
    from app import app

    server = LocalHttpServer(app, port=0)
    server.start()
    try:
        answers = {}
        for source in ("127.0.0.2", "127.0.0.1"):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5, source_address=(source, 0))
            try:
                # when each address posts
                answers[source] = post_webhook(connection, {"from": source})
            finally:
                connection.close()
    finally:
        server.stop()

    # then only the allowed one is delivered
    assert answers["127.0.0.2"][0] == 200
    assert answers["127.0.0.1"][0] == 403
    assert answers["127.0.0.1"][1]["error"]["code"] == "ip_not_allowed"
    assert [event["payload"] for event in stream_events(redis_db)] == [{"from": "127.0.0.2"}]


def request_answer(server: LocalHttpServer, method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            json.loads(response.read()),
        )
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_path_is_answered_403_missing_authentication_token_as_api_gateway_does(
    served_app: LocalHttpServer, method: str
) -> None:
    # given / when: a path no route has (docs/guarantees.md, "Answers Spillway does not make")
    status, headers, body = request_answer(served_app, method, "/nope")

    # then: API Gateway's own shape, not Spillway's {"error": {...}}
    assert status == 403
    assert body == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-errortype"] == "UnauthorizedException"


def test_a_method_a_route_lacks_is_answered_405_locally_where_api_gateway_answers_403(
    served_app: LocalHttpServer,
) -> None:
    # given / when: GET on the webhook route, which takes POST only
    status, headers, body = request_answer(served_app, "GET", "/webhook/redis_test")

    # then: Chalice's local gateway answers in its own shape; a deployed REST API never reaches the
    # function and answers 403 {"message": "Missing Authentication Token"} instead
    assert status == 405
    assert body == {"Code": "MethodNotAllowedError", "Message": "Unsupported method: GET"}
    assert headers["allow"] == "POST"


# --- requests take turns running the app ------------------------------------------------------


class InApp:
    """Counts the requests inside the app at once, and the most there ever were."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def turn_taking_server(in_app: InApp, **options: Any) -> LocalHttpServer:
    """A toy app whose /work takes 20 ms of the app's time and /stuck 1.5 s (a hung Redis)."""
    from chalice import Chalice

    app = Chalice(app_name="turns")

    @app.route("/work")
    def work() -> dict[str, bool]:
        in_app.enter()
        try:
            time.sleep(0.02)
        finally:
            in_app.leave()
        return {"ok": True}

    @app.route("/stuck")
    def stuck() -> dict[str, bool]:
        time.sleep(1.5)
        return {"ok": True}

    server = LocalHttpServer(app, port=0, **options)
    server.start()
    return server


def get_from_threads(server: LocalHttpServer, path: str, clients: int, requests_each: int) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for _ in range(requests_each):
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def test_concurrent_requests_run_the_app_one_at_a_time() -> None:
    # given turns with patience enough for 8 clients' turns of 20 ms (default: 50 ms), and 8 clients at once
    in_app = InApp()
    server = turn_taking_server(in_app, turn_patience=5.0)
    try:
        # when each sends 3 requests
        statuses = get_from_threads(server, "/work", clients=8, requests_each=3)
    finally:
        server.stop()

    # then all 24 were answered, and never two inside the app at once
    assert statuses == [200] * 24
    assert in_app.most == 1


def test_without_turns_concurrent_requests_run_the_app_side_by_side() -> None:
    # given turns switched off
    in_app = InApp()
    server = turn_taking_server(in_app, turn_patience=None)
    try:
        # when 8 clients each send 3 requests
        statuses = get_from_threads(server, "/work", clients=8, requests_each=3)
    finally:
        server.stop()

    # then requests overlapped inside the app (the counter sees it: the test above can fail)
    assert statuses == [200] * 24
    assert in_app.most > 1


def test_a_request_stuck_in_the_app_holds_the_others_up_no_longer_than_the_turn_patience() -> None:
    # given a request stuck in the app for 1.5 s (a hung Redis), with the default patience of 50 ms
    in_app = InApp()
    server = turn_taking_server(in_app)
    stuck = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        stuck.request("GET", "/stuck")
        time.sleep(0.2)

        # when another client asks meanwhile
        started = time.monotonic()
        statuses = get_from_threads(server, "/work", clients=1, requests_each=1)
        waited = time.monotonic() - started

        # then it is answered after about the patience, long before the stuck one
        assert statuses == [200]
        assert waited < 0.5
        assert stuck.getresponse().status == 200
    finally:
        stuck.close()
        server.stop()
