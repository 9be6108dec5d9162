"""One JSON object per log line, so CloudWatch Logs Insights can query every field.

LOG_FORMAT=text (the local stack sets it): one short line per event for a person at a
terminal, `12:00:01.234 200 github delivered 1.52 ms event_id=...`, with no metrics block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

# Not "spillway": Chalice owns the logger named after the app and sets it to ERROR.
LOGGER_NAME = "spillway.relay"
# Read once, when the handler is made: the JSON path pays one flag check for the text format.
_text_lines = False
# A request's line says these in its own words, first; `path` repeats what the outcome says.
_REQUEST_FIELDS = ("status", "webhook_id", "outcome", "latency_ms")
_TEXT_LEFT_OUT = frozenset({*_REQUEST_FIELDS, "path"})
# json.dumps with options builds an encoder per call; one made once writes the same text.
_JSON_LINE = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _JSON_LINE.encode(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    # Quoted only when it would not read as one word: an error message, an empty string.
    return text if text and not any(char.isspace() or char == '"' for char in text) else json.dumps(text)


def text_line(level: int, message: str, fields: Mapping[str, Any], created: float | None = None) -> str:
    """`HH:MM:SS.mmm [LEVEL] message name=value ...`; a request (message "webhook") reads
    `HH:MM:SS.mmm status webhook outcome N ms name=value ...`. Local time: a person reads it."""
    moment = time.time() if created is None else created
    words = [time.strftime("%H:%M:%S", time.localtime(moment)) + f".{int(moment % 1 * 1000):03d}"]
    rest: Mapping[str, Any] = fields
    if message == "webhook":
        status, webhook_id, outcome, latency_ms = (fields.get(name, "-") for name in _REQUEST_FIELDS)
        words += [str(status), str(webhook_id), str(outcome), f"{latency_ms} ms"]
        rest = {name: value for name, value in fields.items() if name not in _TEXT_LEFT_OUT}
    else:
        if level != logging.INFO:
            words.append(logging.getLevelName(level))
        words.append(message)
    words += [f"{name}={_text_value(value)}" for name, value in rest.items()]
    return " ".join(words)


class TextLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if not isinstance(fields, dict):
            fields = {}
        line = text_line(record.levelno, record.getMessage(), fields, record.created)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def get_logger() -> logging.Logger:
    global _text_lines
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        _text_lines = os.environ.get("LOG_FORMAT", "json").strip().lower() == "text"
        handler.setFormatter(TextLineFormatter() if _text_lines else JsonLineFormatter())
        logger.addHandler(handler)
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
        # Lambda's root handler would print every line a second time, unstructured.
        logger.propagate = False
    return logger


METRICS_NAMESPACE = "Spillway"
METRIC_UNITS = {"LatencyMs": "Milliseconds"}


def embedded_metrics(metrics: Mapping[str, float], dimension: str) -> dict[str, Any]:
    """CloudWatch Embedded Metric Format: the `_aws` block turns the line's own fields into
    metrics when Lambda ships it to CloudWatch Logs; no API call, no extra dependency."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [[dimension]],
                    "Metrics": [{"Name": name, "Unit": METRIC_UNITS.get(name, "Count")} for name in metrics],
                }
            ],
        },
        **metrics,
    }


def log_event(
    message: str, level: int = logging.INFO, metrics: Mapping[str, float] | None = None, **fields: Any
) -> None:
    """Callers pass ids, outcomes and timings only: never bodies, headers or secrets.

    A line that carries metrics is written whatever LOG_LEVEL says, since CloudWatch reads
    its metrics from it; it needs a `webhook_id` field, their dimension."""
    logger = get_logger()
    if _text_lines:
        # No CloudWatch reads a text line: no metrics block, and LOG_LEVEL alone decides.
        if logger.isEnabledFor(level):
            _write_line(logger, text_line(level, message, fields))
        return
    if metrics:
        fields = {**fields, **embedded_metrics(metrics, "webhook_id")}
    elif not logger.isEnabledFor(level):
        return
    line = {"level": logging.getLevelName(level), "logger": LOGGER_NAME, "message": message, **fields}
    _write_line(logger, _JSON_LINE.encode(line))


def _write_line(logger: logging.Logger, text: str) -> None:
    # Straight to the relay's own stream handlers: a LogRecord, its formatter and the logging
    # machinery cost ~15% of a webhook's handling (bench B1) for a line that is already JSON.
    for handler in logger.handlers:
        if type(handler) is logging.StreamHandler:
            with handler.lock or contextlib.nullcontext():
                try:
                    handler.stream.write(text + "\n")
                except UnicodeEncodeError:
                    # A lone surrogate (a queued body's JSON escape \ud800) is no UTF-8; a log
                    # line must never fail the record it reports on.
                    handler.stream.write(text.encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
                handler.flush()
