"""One JSON object per log line, so CloudWatch Logs Insights can query every field."""

from __future__ import annotations

import json
import logging
import os
import sys
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


def log_event(message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Callers pass ids, outcomes and timings only: never bodies, headers or secrets."""
    get_logger().log(level, message, extra={"fields": fields})
