"""One JSON object per log line, so CloudWatch Logs Insights can query every field.

LOG_FORMAT=text (the local stack sets it): one short line per event for a person at a
terminal, `12:00:01.234 200 github delivered 1.52 ms event_id=...`, with no metrics block.
"""

from __future__ import annotations

import contextlib
import functools
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
# No cycle check: a line's fields are ids, outcomes and timings.
_JSON_LINE = json.JSONEncoder(default=str, ensure_ascii=False, check_circular=False)


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


# logging.getLogger returns this same object for the name on every call; asking it again per
# line takes the logging module's lock (~1 us a request, bench B1).
_logger = logging.getLogger(LOGGER_NAME)


def get_logger() -> logging.Logger:
    global _text_lines
    logger = _logger
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


@functools.lru_cache(maxsize=64)
def _metric_directive(names: tuple[str, ...], dimension: str) -> str:
    # The same few name sets on every line: described and encoded once.
    return _JSON_LINE.encode(
        [
            {
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[dimension]],
                "Metrics": [{"Name": name, "Unit": METRIC_UNITS.get(name, "Count")} for name in names],
            }
        ]
    )


def json_line(message: str, level: int, fields: Mapping[str, Any], metrics: Mapping[str, float] | None = None) -> str:
    """The JSON line: level, logger, message, the fields, and with `metrics` each metric as a
    field of its own plus CloudWatch's Embedded Metric Format `_aws` block, which turns those
    fields into metrics when Lambda ships the line to CloudWatch Logs (no API call, no extra
    dependency). The metrics' dimension is the `webhook_id` field."""
    line = {"level": logging.getLevelName(level), "logger": LOGGER_NAME, "message": message, **fields}
    if not metrics:
        return _JSON_LINE.encode(line)
    line.update(metrics)
    # The metrics' block is the line's only `_aws`.
    line.pop("_aws", None)
    # The block is the same text on every line but its timestamp: spliced in, not encoded again.
    block = (
        f'"_aws":{{"Timestamp":{int(time.time() * 1000)},'
        f'"CloudWatchMetrics":{_metric_directive(tuple(metrics), "webhook_id")}}}'
    )
    return _JSON_LINE.encode(line)[:-1] + "," + block + "}"


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
    if metrics or logger.isEnabledFor(level):
        _write_line(logger, json_line(message, level, fields, metrics))


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
                # The stream's own flush, under the lock already held (handler.flush takes it again).
                flush = getattr(handler.stream, "flush", None)
                if flush is not None:
                    flush()
