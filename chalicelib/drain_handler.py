"""The drain function's answer to Lambda, which depends on how its event source is set up."""

from __future__ import annotations

from typing import Any

from chalicelib.drain import DrainRecord, drain_batch
from chalicelib.errors import SpillwayError
from chalicelib.runtime import get_settings


class BatchIncomplete(SpillwayError):
    """Raised so Lambda retries the whole batch when it cannot retry single records."""


def handle_drain_batch(records: list[DrainRecord]) -> dict[str, Any]:
    report = drain_batch(records)
    if get_settings().report_batch_item_failures:
        return report.batch_item_failures()
    if report.failed_message_ids:
        # Without ReportBatchItemFailures on the event source mapping, Lambda ignores the
        # returned list and deletes the whole batch on success: failing the invocation is the
        # only way to keep these records. The whole batch then runs again: deliveries are
        # stopped by their idempotency markers, but a record that was redriven or
        # dead-lettered is sent on a second time (a duplicate message, never a duplicate
        # delivery). Turn ReportBatchItemFailures on to avoid that.
        raise BatchIncomplete(f"{len(report.failed_message_ids)} record(s) could not be delivered or queued")
    return {"batchItemFailures": []}
