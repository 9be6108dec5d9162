"""The drain function's handler: Chalice's SQS event in, Lambda's answer out (which depends on
how the event source mapping is set up)."""

from __future__ import annotations

from typing import Any

from chalice.app import SQSEvent

from chalicelib.config.settings import get_settings
from chalicelib.errors import SpillwayError
from chalicelib.queue.drain import DrainRecord, drain_batch


class BatchIncomplete(SpillwayError):
    """Raised so Lambda retries the whole batch when it cannot retry single records."""


def drain_records(event: SQSEvent) -> list[DrainRecord]:
    return [DrainRecord(message_id=str(record.to_dict()["messageId"]), body=record.body) for record in event]


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
