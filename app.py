"""Spillway's Chalice wiring: every handler hands straight to chalicelib.

The webhook route's modules are imported here, the drain's and the status routes' inside their
handlers: both Lambda functions import this file, and the API function's cold start (bench B5)
need not pay for the drain, nor for /health and /stats before one is asked for.
"""

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
    from chalicelib.status.health import health_answer

    request = _request()
    return to_response(health_answer(request.query_params, request.headers.get("authorization")))


@app.route("/stats", methods=["GET"])
def stats() -> Response:
    from chalicelib.status.stats import stats_answer

    return to_response(stats_answer(_request().headers.get("authorization")))


@app.on_sqs_message(queue=RETRY_QUEUE_NAME, batch_size=10, name="drain")
def drain(event: SQSEvent) -> dict[str, Any]:
    from chalicelib.queue.drain_handler import drain_records, handle_drain_batch

    return handle_drain_batch(drain_records(event))


validate_config_at_load()
