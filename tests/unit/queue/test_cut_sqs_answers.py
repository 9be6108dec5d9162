"""An SQS answer cut off mid-body (found by the chaos soak, killing the SQS endpoint mid-request).

botocore then returns a "successful" answer holding only ResponseMetadata: its JSON parser
gives up on the truncated body quietly. The send may or may not have happened; either way it
must read as "the queue could not take it", never as a crash.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from chalicelib.process_state import reset_process_state
from devstack.redis_server import RedisServer
from tests.queue_events import body_of, make_envelope, make_queue_message, sqs_event

CUT_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 80\r\n\r\n{"MessageId": "6f2b'
)


class CutAnswerEndpoint:
    """Answers every request with 200 and the first bytes of its JSON body, then hangs up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    if self._read_request(connection):
                        self.requests += 1
                        connection.sendall(CUT_ANSWER)
                except OSError:
                    pass  # the client gave up: next connection

    @staticmethod
    def _read_request(connection: socket.socket) -> bool:
        """False when the client hung up before sending a whole request."""
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def cut_sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[CutAnswerEndpoint]:
    endpoint = CutAnswerEndpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint.url)
    reset_process_state()
    yield endpoint
    endpoint.close()


def test_spill_whose_sqs_answer_is_cut_mid_body_answers_503_not_500(
    relay_config: dict[str, Any],
    redis_server: RedisServer,
    cut_sqs: CutAnswerEndpoint,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Redis is down and every SQS answer is cut off mid-body
    monkeypatch.setenv("RETRY_QUEUE_URL", f"{cut_sqs.url}/123456789012/spillway-retry")
    reset_process_state()
    redis_server.stop()

    # when
    response = chalice_client.http.post(
        "/webhook/redis_test", headers={"Content-Type": "application/json"}, body=b'{"a": 1}'
    )

    # then the sender is told to retry, as for any queue failure
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert cut_sqs.requests >= 1


def test_queue_lookup_whose_answer_is_cut_mid_body_answers_503_not_500(
    relay_config: dict[str, Any], redis_server: RedisServer, cut_sqs: CutAnswerEndpoint, chalice_client: Any
) -> None:
    # given Redis is down, no RETRY_QUEUE_URL (so the spill looks the queue up first), SQS cut mid-answer
    redis_server.stop()

    # when
    response = chalice_client.http.post(
        "/webhook/redis_test", headers={"Content-Type": "application/json"}, body=b'{"a": 2}'
    )

    # then
    assert response.status_code == 503


def test_redrive_whose_sqs_answer_is_cut_mid_body_is_left_on_the_queue(
    relay_config: dict[str, Any],
    redis_db: redis.Redis,
    redis_server: RedisServer,
    cut_sqs: CutAnswerEndpoint,
    chalice_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Redis is down (the record must be redriven) and the redrive's answer is cut mid-body
    monkeypatch.setenv("REPORT_BATCH_ITEM_FAILURES", "true")
    monkeypatch.setenv("RETRY_QUEUE_URL", f"{cut_sqs.url}/123456789012/spillway-retry")
    reset_process_state()
    redis_server.stop()
    event = sqs_event([body_of(make_queue_message(make_envelope()))])

    # when
    response = chalice_client.lambda_.invoke("drain", event)

    # then SQS is told to keep that record: it comes back after the visibility timeout
    assert response.payload == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
