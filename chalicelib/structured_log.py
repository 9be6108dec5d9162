"""One JSON object per log line, so CloudWatch Logs Insights can query every field."""

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


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def get_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonLineFormatter())
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
    if metrics:
        fields = {**fields, **embedded_metrics(metrics, "webhook_id")}
    elif not logger.isEnabledFor(level):
        return
    line = {"level": logging.getLevelName(level), "logger": LOGGER_NAME, "message": message, **fields}
    _write_line(logger, json.dumps(line, default=str, ensure_ascii=False))


def _write_line(logger: logging.Logger, text: str) -> None:
    # Straight to the relay's own stream handlers: a LogRecord, its formatter and the logging
    # machinery cost ~15% of a webhook's handling (bench B1) for a line that is already JSON.
    for handler in logger.handlers:
        if type(handler) is logging.StreamHandler:
            with handler.lock or contextlib.nullcontext():
                handler.stream.write(text + "\n")
                handler.flush()
