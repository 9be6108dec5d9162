"""A faster clock for moto's SQS, so a queue of thousands of messages does not slow it to a crawl.

moto 5.2 asks the time through datetime arithmetic (moto.core.utils.unix_time: utcnow() minus
utcfromtimestamp(0), ~6 us a call) twice per message per scan, and scans every message of the
queue many times per ReceiveMessage: with 1,000 messages queued a receive took ~640 ms, with
3,000 ~1.9 s (SQS itself does not slow down with depth). time.time() is the same number, and
took that to ~42 ms and ~82 ms. Only for the chaos soak's moto process: nothing here touches a
moto running in a test's own process.
"""

from __future__ import annotations

import datetime
import time

import moto.sqs.models
from moto.core import utils


def _unix_time(dt: datetime.datetime | None = None) -> float:
    return time.time() if dt is None else utils.unix_time(dt)


def _unix_time_millis(dt: datetime.datetime | None = None) -> float:
    return _unix_time(dt) * 1000.0


def use_fast_clock() -> None:
    """Replaces the two names moto.sqs.models imported from moto.core.utils."""
    moto.sqs.models.unix_time = _unix_time  # type: ignore[attr-defined]
    moto.sqs.models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
