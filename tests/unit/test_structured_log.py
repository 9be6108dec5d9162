"""LOG_FORMAT: JSON with metrics for CloudWatch by default, one short line for a person with `text`."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from typing import Any

import pytest

from chalicelib import structured_log
from chalicelib.structured_log import get_logger, log_event


def relay_logger_made_with(monkeypatch: pytest.MonkeyPatch, log_format: str | None) -> io.StringIO:
    """The relay's logger as a fresh process with this LOG_FORMAT makes it, writing to a buffer;
    the test's own logger, handlers and flag come back afterwards."""
    # Made (if this is the process's first line) from the test run's own environment, before
    # this test changes it: what is restored afterwards must be that, not this test's format.
    logger = get_logger()
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(structured_log, "_text_lines", structured_log._text_lines)
    if log_format is None:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("LOG_FORMAT", log_format)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    get_logger()
    return buffer


def log_request(**overrides: Any) -> None:
    """A request's line with the fields and metrics the door (door/receive.py) logs."""
    fields: dict[str, Any] = {
        "webhook_id": "github",
        "event_id": "evt-1",
        "outcome": "delivered",
        "path": "inline",
        "status": 200,
        "latency_ms": 1.52,
        **overrides,
    }
    log_event("webhook", metrics={"Delivered": 1, "LatencyMs": 1.52}, **fields)


def test_text_format_writes_one_short_line_per_request_with_time_status_webhook_outcome_and_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    written = relay_logger_made_with(monkeypatch, "text")
    # when
    log_request()
    # then
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} 200 github delivered 1\.52 ms event_id=evt-1\n", written.getvalue())


def test_text_format_quotes_a_value_with_spaces_and_leaves_out_the_metrics_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    written = relay_logger_made_with(monkeypatch, "text")
    # when
    log_request(status=503, outcome="config_invalid", error="webhooks.json: webhook 'github': no field x")
    # then
    line = written.getvalue()
    assert line.endswith(
        """ 503 github config_invalid 1.52 ms event_id=evt-1 error="webhooks.json: webhook 'github': no field x"\n"""
    )
    assert "_aws" not in line and "LatencyMs" not in line


def test_text_format_names_the_level_of_other_events_when_it_is_not_info(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    written = relay_logger_made_with(monkeypatch, "text")
    # when
    log_event("dead_lettered", level=logging.WARNING, webhook_id="github", reason="exhausted", attempts=5)
    # then
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.\d{3} WARNING dead_lettered webhook_id=github reason=exhausted attempts=5\n",
        written.getvalue(),
    )


def test_json_with_embedded_metrics_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # given no LOG_FORMAT, as on Lambda
    written = relay_logger_made_with(monkeypatch, None)
    # when
    log_request()
    # then
    line = json.loads(written.getvalue())
    assert line["message"] == "webhook" and line["status"] == 200 and line["LatencyMs"] == 1.52
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["webhook_id"]]


def test_embedded_metric_block_names_each_metric_with_its_unit_and_the_time_of_the_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given no LOG_FORMAT, as on Lambda
    written = relay_logger_made_with(monkeypatch, None)
    # when two requests are logged, one queued
    before_ms = int(time.time() * 1000)
    log_request()
    log_event("webhook", metrics={"Queued": 1}, webhook_id="stripe", event_id="evt-2", status=202)
    after_ms = int(time.time() * 1000)
    # then each line is one JSON object whose block describes exactly its own metrics
    first, second = (json.loads(text) for text in written.getvalue().splitlines())
    assert first["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Spillway",
            "Dimensions": [["webhook_id"]],
            "Metrics": [{"Name": "Delivered", "Unit": "Count"}, {"Name": "LatencyMs", "Unit": "Milliseconds"}],
        }
    ]
    assert second["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "Queued", "Unit": "Count"}]
    assert second["Queued"] == 1 and second["webhook_id"] == "stripe"
    assert before_ms <= first["_aws"]["Timestamp"] <= second["_aws"]["Timestamp"] <= after_ms
