"""The dead-letter tool: list, show, replay and purge what the dead-letter queue holds.

Three kinds of message end up on the dead-letter queue (DLQ):
- a dead letter the drain wrote: {"envelope", "redrive", "dead_letter": {"reason", ...}, "raw_body"},
  reason exhausted, expired or poison (a poison letter may have no envelope);
- a plain queue message SQS moved there itself after maxReceiveCount receives (the DLQ is the
  retry queue's RedrivePolicy target): {"envelope", "redrive"}, shown as reason max_receive_count;
- anything else (not JSON, or JSON that is not ours), shown as reason unreadable, never replayed.

SQS has no "peek": reading a message means receiving it, which hides it for a visibility
timeout. Every command receives in bounded rounds, keeps the messages it holds, and makes the
ones it did not delete visible again (ChangeMessageVisibility 0) before it returns, errors
included. The visibility timeout is only the fallback if this process dies.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO, TypeVar, cast

from chalicelib.envelope import Envelope, utc_timestamp
from chalicelib.errors import SpillwayError
from chalicelib.queue_message import ENVELOPE_FIELDS, encode_queue_message, new_queue_message

REASON_MAX_RECEIVE_COUNT = "max_receive_count"
REASON_UNREADABLE = "unreadable"
SQS_BATCH_LIMIT = 10  # ReceiveMessage, ChangeMessageVisibilityBatch and DeleteMessageBatch take at most 10
LAST_ERROR_WIDTH = 60
PURGE_PREVIEW_ROWS = 20

T = TypeVar("T")
StopReason = Literal["empty", "limit", "time", "scanned"]


class DeadLetterToolError(SpillwayError):
    """A queue is missing or SQS refused a call; the message says which and why."""


@dataclass(frozen=True)
class ScanLimits:
    """How a command reads the DLQ. Every round of receives is bounded by count and by time."""

    # Long polling asks every SQS server, so an empty answer means the queue has nothing visible
    # (short polling samples a subset and can answer empty while messages wait).
    wait_seconds: int = 1
    # list and show: long enough not to meet the same message twice in one pass, short enough
    # that a crashed listing does not hide the queue for long.
    list_visibility_seconds: int = 30
    # replay and purge hold what they will act on across a confirmation prompt and the sends.
    hold_visibility_seconds: int = 300
    max_seconds: float = 30.0
    max_scanned: int = 10_000


@dataclass(frozen=True)
class DeadLetterMessage:
    """One DLQ message as the tool understands it, whichever kind it is."""

    message_id: str
    receipt_handle: str
    body: str
    document: dict[str, Any] | None
    reason: str
    detail: str
    webhook_id: str | None
    event_id: str | None
    attempts: int | None
    last_error: str
    envelope: Envelope | None
    received_at: datetime | None  # when the door took the event
    sent_at: datetime | None  # when this message was sent to its queue (SQS SentTimestamp)

    @property
    def replayable(self) -> bool:
        return self.envelope is not None

    def age_seconds(self, now: datetime) -> float | None:
        start = self.received_at or self.sent_at
        return None if start is None else max(0.0, (now - start).total_seconds())

    def summary(self) -> str:
        if self.event_id is None:
            return f"message {self.message_id} ({self.reason})"
        return f"event {self.event_id} (webhook {self.webhook_id}, {self.reason}, message {self.message_id})"


@dataclass(frozen=True)
class Selection:
    """Which messages a command acts on; no webhook and no ids selects everything."""

    webhook_id: str | None = None
    ids: frozenset[str] = frozenset()

    def matches(self, message: DeadLetterMessage) -> bool:
        if self.webhook_id is not None and message.webhook_id != self.webhook_id:
            return False
        return not self.ids or message.message_id in self.ids or message.event_id in self.ids

    def missing(self, found: Iterable[DeadLetterMessage]) -> list[str]:
        seen = {identifier for message in found for identifier in (message.message_id, message.event_id)}
        return sorted(self.ids - seen)

    def describe(self) -> str:
        if self.webhook_id is not None:
            return f"webhook {self.webhook_id}"
        if self.ids:
            return f"{len(self.ids)} id(s)"
        return "every message"


@dataclass(frozen=True)
class Scan:
    matched: list[DeadLetterMessage]
    others: list[DeadLetterMessage]
    stopped_by: StopReason

    @property
    def held(self) -> list[DeadLetterMessage]:
        return self.matched + self.others

    def stop_note(self) -> str | None:
        """Why the scan may not have seen the whole queue, or None when it did."""
        if self.stopped_by == "empty":
            return None
        why = {"limit": "limit reached", "time": "time limit reached", "scanned": "scan limit reached"}
        return f"stopped after reading {len(self.held)} message(s) ({why[self.stopped_by]}): more may remain"


@dataclass(frozen=True)
class ReplayReport:
    replayed: list[str]
    skipped: list[str]
    failed: list[str]
    not_found: list[str]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.not_found


@dataclass(frozen=True)
class PurgeReport:
    aborted: bool  # the operator did not confirm
    deleted: list[str]
    failed: list[str]

    @property
    def ok(self) -> bool:
        return not self.aborted and not self.failed


# --- reading a message -------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole_number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_epoch_milliseconds(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def replayable_envelope(value: Any) -> Envelope | None:
    """The envelope when it is complete enough for the drain to accept (its decode's rules)."""
    if not isinstance(value, dict) or any(field not in value for field in ENVELOPE_FIELDS):
        return None
    if not isinstance(value["id"], str) or not isinstance(value["webhook_id"], str):
        return None
    return cast(Envelope, value)


def read_message(sqs_message: Mapping[str, Any]) -> DeadLetterMessage:
    """Classifies one ReceiveMessage entry; never raises on a strange body."""
    body = str(sqs_message.get("Body", ""))
    unreadable = DeadLetterMessage(
        message_id=str(sqs_message["MessageId"]),
        receipt_handle=str(sqs_message["ReceiptHandle"]),
        body=body,
        document=None,
        reason=REASON_UNREADABLE,
        detail="body is not JSON",
        webhook_id=None,
        event_id=None,
        attempts=None,
        last_error="",
        envelope=None,
        received_at=None,
        sent_at=_from_epoch_milliseconds(sqs_message.get("Attributes", {}).get("SentTimestamp")),
    )
    try:
        document = json.loads(body)
    except ValueError:
        return unreadable
    if not isinstance(document, dict):
        return dataclasses.replace(unreadable, detail="body is not a JSON object")
    raw_envelope = document.get("envelope")
    envelope = replayable_envelope(raw_envelope)
    block = document.get("dead_letter")
    info: dict[str, Any] = block if isinstance(block, dict) else {}
    if isinstance(block, dict):
        reason = _text(info.get("reason")) or "unknown"
        detail = _text(info.get("detail")) or ""
    elif envelope is not None:
        reason, detail = REASON_MAX_RECEIVE_COUNT, "moved by SQS after maxReceiveCount receives"
    else:
        return dataclasses.replace(unreadable, document=document, detail="JSON, but not a Spillway message")
    loose = raw_envelope if isinstance(raw_envelope, dict) else {}
    state = document.get("redrive")
    redrive: dict[str, Any] = state if isinstance(state, dict) else {}
    return dataclasses.replace(
        unreadable,
        document=document,
        reason=reason,
        detail=detail,
        webhook_id=_text(info.get("webhook_id")) or _text(loose.get("webhook_id")),
        event_id=_text(info.get("event_id")) or _text(loose.get("id")),
        attempts=_whole_number(info.get("attempts", redrive.get("attempts"))),
        last_error=_text(info.get("last_error")) or _text(redrive.get("last_error")) or "",
        envelope=envelope,
        received_at=_parse_time(loose.get("received_at")),
    )


# --- the queue ---------------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int = SQS_BATCH_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _call(what: str, operation: Callable[[], T]) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return operation()
    except (BotoCoreError, ClientError) as exc:
        raise DeadLetterToolError(f"{what}: {exc}") from exc


def find_queue_url(client: Any, queue_name: str) -> str:
    from botocore.exceptions import ClientError

    try:
        return str(client.get_queue_url(QueueName=queue_name)["QueueUrl"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise DeadLetterToolError(
                f"queue {queue_name!r} does not exist (create it with scripts/bootstrap_queues.py)"
            ) from exc
        raise DeadLetterToolError(f"get_queue_url({queue_name}): {exc}") from exc


class DeadLetterQueue:
    """The DLQ through an injected boto3 SQS client: scan, release, delete."""

    def __init__(
        self,
        client: Any,
        url: str,
        name: str,
        limits: ScanLimits = ScanLimits(),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.url = url
        self.name = name
        self.limits = limits
        self.clock = clock

    def receive(self, visibility_seconds: int) -> list[DeadLetterMessage]:
        response = _call(
            "receive_message",
            lambda: self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=SQS_BATCH_LIMIT,
                WaitTimeSeconds=self.limits.wait_seconds,
                VisibilityTimeout=visibility_seconds,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            ),
        )
        return [read_message(entry) for entry in response.get("Messages", [])]

    def scan(self, selection: Selection, max_matches: int, visibility_seconds: int) -> Scan:
        """Receives until the queue answers nothing new, or a count or time bound is reached.

        Every message received is held (invisible) until release() or delete().
        """
        deadline = self.clock() + self.limits.max_seconds
        held: dict[str, DeadLetterMessage] = {}
        matched = 0
        stopped_by: StopReason = "scanned"
        # Each round brings at least one new message or ends the loop, so this bound is never
        # the one that stops it; the count and time checks below are.
        for _ in range(self.limits.max_scanned + 1):
            if matched >= max_matches:
                stopped_by = "limit"
                break
            if len(held) >= self.limits.max_scanned:
                stopped_by = "scanned"
                break
            if self.clock() >= deadline:
                stopped_by = "time"
                break
            new = 0
            for message in self.receive(visibility_seconds):
                if message.message_id in held:
                    # Seen already: its visibility ran out. Keep the newest receipt handle,
                    # the only one SQS honours for delete and visibility changes.
                    held[message.message_id] = dataclasses.replace(
                        held[message.message_id], receipt_handle=message.receipt_handle
                    )
                    continue
                held[message.message_id] = message
                new += 1
                if selection.matches(message):
                    matched += 1
            if new == 0:
                stopped_by = "empty"
                break
        in_order = sorted(held.values(), key=lambda message: message.sent_at or datetime.max.replace(tzinfo=UTC))
        selected = [message for message in in_order if selection.matches(message)][:max_matches]
        chosen = {message.message_id for message in selected}
        return Scan(selected, [message for message in in_order if message.message_id not in chosen], stopped_by)

    def release(self, messages: Sequence[DeadLetterMessage]) -> None:
        """Makes held messages visible again. A handle that expired meanwhile is already visible."""
        for chunk in _chunks(messages):
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": 0}
                for index, message in enumerate(chunk)
            ]
            _call(
                "change_message_visibility_batch",
                functools.partial(self.client.change_message_visibility_batch, QueueUrl=self.url, Entries=entries),
            )

    def delete(self, messages: Sequence[DeadLetterMessage]) -> list[str]:
        """Deletes held messages; returns the message ids SQS did not delete."""
        failed: list[str] = []
        for chunk in _chunks(messages):
            entries = [
                {"Id": str(index), "ReceiptHandle": message.receipt_handle} for index, message in enumerate(chunk)
            ]
            response = _call(
                "delete_message_batch",
                functools.partial(self.client.delete_message_batch, QueueUrl=self.url, Entries=entries),
            )
            failed.extend(chunk[int(failure["Id"])].message_id for failure in response.get("Failed", []))
        return failed

    def delete_one(self, message: DeadLetterMessage) -> None:
        _call(
            "delete_message",
            lambda: self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle),
        )


# --- presentation ------------------------------------------------------------------------


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _truncate(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line per row, whatever the error text holds
    return text if len(text) <= width else text[: width - 3] + "..."


def table_rows(messages: Sequence[DeadLetterMessage], now: datetime) -> list[list[str]]:
    return [
        [
            message.message_id,
            _truncate(message.event_id or "-", 40),
            _truncate(message.webhook_id or "-", 24),
            message.reason,
            "-" if message.attempts is None else str(message.attempts),
            format_age(message.age_seconds(now)),
            _truncate(message.last_error or message.detail or "-", LAST_ERROR_WIDTH),
        ]
        for message in messages
    ]


TABLE_HEADER = ["MESSAGE ID", "EVENT ID", "WEBHOOK", "REASON", "ATTEMPTS", "AGE", "LAST ERROR"]


def format_table(messages: Sequence[DeadLetterMessage], now: datetime) -> str:
    rows = [TABLE_HEADER, *table_rows(messages, now)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def json_row(message: DeadLetterMessage, now: datetime) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "event_id": message.event_id,
        "webhook_id": message.webhook_id,
        "reason": message.reason,
        "detail": message.detail,
        "attempts": message.attempts,
        "age_seconds": message.age_seconds(now),
        "last_error": message.last_error,
        "replayable": message.replayable,
        "sent_at": utc_timestamp(message.sent_at) if message.sent_at else None,
    }


def pretty_document(message: DeadLetterMessage) -> str:
    if message.document is None:
        return message.body
    return json.dumps(message.document, indent=2, ensure_ascii=False)


# --- commands ----------------------------------------------------------------------------


def list_dead_letters(
    dlq: DeadLetterQueue,
    out: TextIO,
    *,
    webhook_id: str | None = None,
    limit: int = 100,
    as_json: bool = False,
    now: datetime | None = None,
) -> list[DeadLetterMessage]:
    scan = dlq.scan(Selection(webhook_id=webhook_id), limit, dlq.limits.list_visibility_seconds)
    try:
        moment = now or datetime.now(UTC)
        if as_json:
            out.write(json.dumps([json_row(message, moment) for message in scan.matched], indent=2) + "\n")
        else:
            out.write(format_table(scan.matched, moment) + "\n")
            out.write(f"{len(scan.matched)} message(s) on {dlq.name}\n")
            note = scan.stop_note()
            if note:
                out.write(note + "\n")
        return scan.matched
    finally:
        dlq.release(scan.held)


def show_dead_letter(dlq: DeadLetterQueue, identifier: str, out: TextIO) -> DeadLetterMessage | None:
    """Prints the whole document of the message with this event id or message id."""
    scan = dlq.scan(Selection(ids=frozenset({identifier})), 1, dlq.limits.list_visibility_seconds)
    try:
        if not scan.matched:
            return None
        out.write(pretty_document(scan.matched[0]) + "\n")
        return scan.matched[0]
    finally:
        dlq.release(scan.held)


def replay_dead_letters(
    dlq: DeadLetterQueue,
    retry_queue_url: str,
    selection: Selection,
    out: TextIO,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ReplayReport:
    """Sends each selected envelope to the retry queue as a fresh queue message, then deletes
    its dead letter. Send first, delete second: a crash in between leaves a duplicate, which the
    drain's idempotency marker stops, never a lost event."""
    visibility = dlq.limits.list_visibility_seconds if dry_run else dlq.limits.hold_visibility_seconds
    scan = dlq.scan(selection, dlq.limits.max_scanned, visibility)
    deleted: set[str] = set()
    replayed: list[str] = []
    failed: list[str] = []
    try:
        replayable = [message for message in scan.matched if message.envelope is not None]
        skipped = [message for message in scan.matched if message.envelope is None]
        for message in skipped:
            out.write(f"skipped {message.summary()}: no envelope to replay ({message.detail})\n")
        moment = now or datetime.now(UTC)
        verb = "would replay" if dry_run else "replayed"
        for position, message in enumerate(replayable, start=1):
            if not dry_run:
                try:
                    _replay_one(dlq, retry_queue_url, message, moment)
                except DeadLetterToolError as exc:
                    failed.append(message.message_id)
                    out.write(f"FAILED {position}/{len(replayable)}: {message.summary()}: {exc}\n")
                    continue
                deleted.add(message.message_id)
            replayed.append(message.message_id)
            out.write(f"{verb} {position}/{len(replayable)}: {message.summary()}\n")
        report = ReplayReport(
            replayed, [message.message_id for message in skipped], failed, selection.missing(scan.held)
        )
        _write_replay_summary(out, report, scan, dry_run, [m for m in replayable if m.reason == "expired"])
        return report
    finally:
        dlq.release([message for message in scan.held if message.message_id not in deleted])


def _replay_one(dlq: DeadLetterQueue, retry_queue_url: str, message: DeadLetterMessage, now: datetime) -> None:
    envelope = message.envelope
    if envelope is None:
        raise DeadLetterToolError("no envelope to replay")
    note = f"replayed from the dead-letter queue ({message.reason})"
    error = f"{note}: {message.last_error}" if message.last_error else note
    body = encode_queue_message(new_queue_message(envelope, utc_timestamp(now), error))
    _call("send_message", lambda: dlq.client.send_message(QueueUrl=retry_queue_url, MessageBody=body))
    try:
        dlq.delete_one(message)
    except DeadLetterToolError as exc:
        raise DeadLetterToolError(f"sent to the retry queue but still on the dead-letter queue: {exc}") from exc


def _write_replay_summary(
    out: TextIO, report: ReplayReport, scan: Scan, dry_run: bool, expired: Sequence[DeadLetterMessage]
) -> None:
    if dry_run:
        out.write(
            f"dry run: would replay {len(report.replayed)}, would skip {len(report.skipped)}; nothing was changed\n"
        )
    else:
        out.write(f"replayed {len(report.replayed)}, skipped {len(report.skipped)}, failed {len(report.failed)}\n")
    if report.not_found:
        out.write(f"not found on the dead-letter queue: {', '.join(report.not_found)}\n")
    if expired:
        # The drain measures age from the envelope's received_at, which a replay keeps.
        out.write(
            f"note: {len(expired)} expired event(s): the drain dead-letters them again unless the webhook's "
            "retry.max_age_seconds now covers their age\n"
        )
    note = scan.stop_note()
    if note:
        out.write(note + "; run again for the rest\n")


def _confirmed(ask: Callable[[str], str], prompt: str) -> bool:
    try:
        answer = ask(prompt)
    except EOFError:  # no terminal (stdin closed): never a yes
        return False
    return answer.strip().lower() in ("y", "yes")


def purge_dead_letters(
    dlq: DeadLetterQueue,
    selection: Selection,
    out: TextIO,
    ask: Callable[[str], str],
    *,
    assume_yes: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Deletes the selected messages batch by batch, never with PurgeQueue: AWS allows that once
    a minute, and it takes whatever arrives while it runs, not just what the operator saw."""
    scan = dlq.scan(selection, dlq.limits.max_scanned, dlq.limits.hold_visibility_seconds)
    deleted: list[str] = []
    try:
        if not scan.matched:
            out.write(f"nothing to purge on {dlq.name} ({selection.describe()})\n")
            return PurgeReport(aborted=False, deleted=[], failed=[])
        preview = scan.matched[:PURGE_PREVIEW_ROWS]
        out.write(format_table(preview, now or datetime.now(UTC)) + "\n")
        if len(scan.matched) > len(preview):
            out.write(f"... and {len(scan.matched) - len(preview)} more\n")
        note = scan.stop_note()
        if note:
            out.write(note + "\n")
        prompt = f"Delete {len(scan.matched)} message(s) from {dlq.name} ({selection.describe()})? [y/N] "
        if not assume_yes and not _confirmed(ask, prompt):
            out.write("aborted: nothing was deleted\n")
            return PurgeReport(aborted=True, deleted=[], failed=[])
        failed = dlq.delete(scan.matched)
        deleted = [message.message_id for message in scan.matched if message.message_id not in failed]
        out.write(f"deleted {len(deleted)}/{len(scan.matched)} message(s) from {dlq.name}\n")
        for message_id in failed:
            out.write(f"not deleted (its receipt handle is no longer valid; run again): {message_id}\n")
        return PurgeReport(aborted=False, deleted=deleted, failed=failed)
    finally:
        dlq.release([message for message in scan.held if message.message_id not in deleted])


# --- command line ------------------------------------------------------------------------


def _add_global_options(parser: argparse.ArgumentParser, environ: Mapping[str, str], in_subcommand: bool) -> None:
    # argparse lets a subcommand's defaults overwrite what was given before the subcommand, so
    # there the options default to SUPPRESS: `dlq.py --json list` and `dlq.py list --json` agree.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if in_subcommand else value

    group = parser.add_argument_group("global options (before or after the command)")

    group.add_argument(
        "--retry-queue",
        default=default(environ.get("RETRY_QUEUE_NAME") or "spillway-retry"),
        help="retry queue name (default: $RETRY_QUEUE_NAME or spillway-retry)",
    )
    group.add_argument(
        "--dead-letter-queue",
        default=default(environ.get("DEAD_LETTER_QUEUE_NAME") or "spillway-dead-letter"),
        help="dead-letter queue name (default: $DEAD_LETTER_QUEUE_NAME or spillway-dead-letter)",
    )
    group.add_argument(
        "--region",
        default=default(environ.get("AWS_REGION") or None),
        help="AWS region (default: $AWS_REGION, else boto3's own: $AWS_DEFAULT_REGION or the profile's)",
    )
    group.add_argument("--json", action="store_true", default=default(False), help="machine-readable output (list)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser(environ: Mapping[str, str] = os.environ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlq.py",
        description="Inspect, replay and purge Spillway's dead-letter queue.",
        epilog="The SQS endpoint is boto3's own choice: AWS, or AWS_ENDPOINT_URL(_SQS) for a local stack.",
    )
    _add_global_options(parser, environ, in_subcommand=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_global_options(sub, environ, in_subcommand=True)
        return sub

    listing = command("list", "list dead letters: message id, event id, webhook, reason, attempts, age, last error")
    listing.add_argument("--webhook", metavar="ID", help="only this webhook's events")
    listing.add_argument("--limit", type=_positive, default=100, metavar="N", help="at most N rows (default: 100)")

    show = command("show", "print one message's whole document")
    show.add_argument("identifier", metavar="EVENT_ID_OR_MESSAGE_ID")

    replay = command("replay", "send events back to the retry queue with attempts reset, then delete them here")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every replayable message")
    which.add_argument("--webhook", metavar="ID", help="this webhook's events")
    which.add_argument("--id", nargs="+", metavar="EVENT_ID", help="these event ids or message ids")
    replay.add_argument("--dry-run", action="store_true", help="change nothing; say what would be replayed")

    purge = command("purge", "delete messages for good (asks first; everything when no filter is given)")
    purge_which = purge.add_mutually_exclusive_group()
    purge_which.add_argument("--webhook", metavar="ID", help="only this webhook's events")
    purge_which.add_argument("--id", nargs="+", metavar="EVENT_ID", help="only these event ids or message ids")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    return parser


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(webhook_id=args.webhook, ids=frozenset(args.id or ()))


def default_client(region: str | None) -> Any:
    import boto3

    return boto3.client("sqs", region_name=region)


def _run_command(
    args: argparse.Namespace, dlq: DeadLetterQueue, ask: Callable[[str], str], out: TextIO, err: TextIO
) -> int:
    """The exit status: 0 done, 1 not found, not confirmed or partly failed."""
    if args.command == "list":
        list_dead_letters(dlq, out, webhook_id=args.webhook, limit=args.limit, as_json=args.json)
        return 0
    if args.command == "show":
        if show_dead_letter(dlq, args.identifier, out) is None:
            err.write(f"no message with event id or message id {args.identifier!r} on {dlq.name}\n")
            return 1
        return 0
    if args.command == "replay":
        retry_url = find_queue_url(dlq.client, args.retry_queue)
        return 0 if replay_dead_letters(dlq, retry_url, _selection(args), out, dry_run=args.dry_run).ok else 1
    return 0 if purge_dead_letters(dlq, _selection(args), out, ask, assume_yes=args.yes).ok else 1


def main(
    argv: Sequence[str] | None = None,
    *,
    client: Any = None,
    ask: Callable[[str], str] = input,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
    limits: ScanLimits = ScanLimits(),
) -> int:
    """The dlq command; every dependency can be handed in by a test. Returns the exit status."""
    args = build_parser(environ).parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        sqs = client if client is not None else _call("client", lambda: default_client(args.region))
        dlq = DeadLetterQueue(sqs, find_queue_url(sqs, args.dead_letter_queue), args.dead_letter_queue, limits)
        return _run_command(args, dlq, ask, out, err)
    except DeadLetterToolError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
