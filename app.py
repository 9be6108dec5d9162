"""Spillway's Chalice wiring: every handler hands straight to chalicelib."""

from __future__ import annotations

import os
from typing import Any

from chalice.app import Chalice, Request, Response, SQSEvent

from chalicelib.config.settings import validate_config_at_load
from chalicelib.door.chalice_request import (
    request_body,
    request_headers,
    request_source_ip,
    to_response,
)
from chalicelib.door.receive import receive
from chalicelib.queue.drain_handler import drain_records, handle_drain_batch
from chalicelib.status.health import health_answer
from chalicelib.status.stats import stats_answer

app = Chalice(app_name="spillway")

# SQS event sources are bound at deploy time, so the name must have a literal default.
RETRY_QUEUE_NAME = os.environ.get("RETRY_QUEUE_NAME", "spillway-retry")


def _request() -> Request:
    request = app.current_request
    if request is None:
        raise RuntimeError("no current request: called outside a route")
    return request


@app.route("/webhook/{webhook_id}", methods=["POST"], content_types=["*/*"])
def webhook(webhook_id: str) -> Response:
    request = _request()
    return to_response(receive(webhook_id, request_body(request), request_headers(request), request_source_ip(request)))


@app.route("/health", methods=["GET"])
def health() -> Response:
    request = _request()
    return to_response(health_answer(request.query_params, request.headers.get("authorization")))


@app.route("/stats", methods=["GET"])
def stats() -> Response:
    return to_response(stats_answer(_request().headers.get("authorization")))


@app.on_sqs_message(queue=RETRY_QUEUE_NAME, batch_size=10, name="drain")
def drain(event: SQSEvent) -> dict[str, Any]:
    return handle_drain_batch(drain_records(event))


validate_config_at_load()
