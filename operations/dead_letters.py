"""The dead-letter tool: list, show, replay and purge what the dead-letter queue holds.

Three kinds of message end up on the dead-letter queue (DLQ):
- a dead letter the drain wrote: {"envelope", "redrive", "dead_letter": {"reason", ...}, "raw_body"},
  reason exhausted, expired or poison (a poison letter may have no envelope);
- a plain queue message SQS moved there itself after maxReceiveCount receives (the DLQ is the
  retry queue's RedrivePolicy target): {"envelope", "redrive"}, shown as reason max_receive_count;
- anything else (not JSON, or JSON that is not ours), shown as reason unreadable, never replayed.
A large event's letter (either of the first two kinds) carries a "claim_check" pointer to its
envelope in the LARGE_PAYLOAD_BUCKET instead of the envelope: show prints the pointer, replay
sends the pointer back (the drain fetches the object and deletes it once delivered), and purge
deletes the object with the letter.

SQS has no "peek": reading a message means receiving it, which hides it for a visibility
timeout. Every command receives in bounded rounds, keeps the messages it holds, and makes the
ones it did not delete visible again (ChangeMessageVisibility 0) before it returns, errors
included. The visibility timeout is only the fallback if this process dies.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TextIO

from chalicelib.config.settings import default_webhooks_config
from chalicelib.envelope import utc_timestamp
from chalicelib.queue.message import encode_queue_message, new_queue_message, new_redrive_state
from operations.claim_check_bucket import s3_admin_client
from operations.dead_letter_markers import MarkerLifetimes
from operations.dead_letter_messages import (
    DeadLetterMessage,
    PurgeReport,
    ReplayReport,
    Scan,
    ScanLimits,
    Selection,
)
from operations.dead_letter_queue import DeadLetterQueue
from operations.dead_letter_report import (
    format_table,
    json_row,
    pretty_document,
)
from operations.sqs_admin import SqsAdminError, admin_client, find_queue_url, sqs_call

PURGE_PREVIEW_ROWS = 20


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
        pointer = scan.matched[0].claim_check
        if pointer is not None:
            out.write(
                f"claim check: the envelope is s3://{pointer['bucket']}/{pointer['key']} "
                f"({pointer['size']} bytes, sha256 {pointer['sha256']})\n"
            )
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
    markers: MarkerLifetimes | None = None,
    force: bool = False,
) -> ReplayReport:
    """Sends each selected envelope to the retry queue as a fresh queue message, then deletes
    its dead letter. Send first, delete second: a crash in between leaves a duplicate, which the
    drain's idempotency marker stops, never a lost event. A letter whose marker may be gone
    before its copy is delivered (see dead_letter_markers.py) is skipped unless `force`."""
    visibility = dlq.limits.list_visibility_seconds if dry_run else dlq.limits.hold_visibility_seconds
    scan = dlq.scan(selection, dlq.limits.max_scanned, visibility)
    deleted: set[str] = set()
    replayed: list[str] = []
    failed: list[str] = []
    try:
        moment = now or datetime.now(UTC)
        lifetimes = markers or MarkerLifetimes()
        if lifetimes.note:
            out.write(lifetimes.note + "\n")
        replayable: list[DeadLetterMessage] = []
        skipped: list[DeadLetterMessage] = []
        for message in scan.matched:
            risk = None if not message.replayable or force else lifetimes.replay_risk(message, moment)
            if not message.replayable:
                out.write(f"skipped {message.summary()}: no envelope to replay ({message.detail})\n")
            elif risk is not None:
                out.write(f"skipped {message.summary()}: {risk} (--force replays it anyway)\n")
            else:
                replayable.append(message)
                continue
            skipped.append(message)
        verb = "would replay" if dry_run else "replayed"
        for position, message in enumerate(replayable, start=1):
            if not dry_run:
                try:
                    _replay_one(dlq, retry_queue_url, message, moment)
                except SqsAdminError as exc:
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
    note = f"replayed from the dead-letter queue ({message.reason})"
    error = f"{note}: {message.last_error}" if message.last_error else note
    if message.claim_check is not None:
        # The object stays in the bucket: the drain deletes it once the event is delivered.
        fresh = {"claim_check": message.claim_check, "redrive": new_redrive_state(utc_timestamp(now), error)}
        body = encode_queue_message(fresh)
    elif message.envelope is not None:
        body = encode_queue_message(new_queue_message(message.envelope, utc_timestamp(now), error))
    else:
        # replay_dead_letters hands over only replayable messages.
        raise ValueError(f"{message.message_id}: no envelope to replay")
    sqs_call("send_message", lambda: dlq.client.send_message(QueueUrl=retry_queue_url, MessageBody=body))
    try:
        dlq.delete_one(message)
    except SqsAdminError as exc:
        raise SqsAdminError(f"sent to the retry queue but still on the dead-letter queue: {exc}", exc.code) from exc


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
        # The drain measures max_age from the queue message's first_failed_at, which a replay
        # sets to the moment of the replay (not from when the event arrived).
        out.write(
            f"note: {len(expired)} expired event(s): a replay gives them retry.max_age_seconds again, counted "
            "from now; if Redis cannot take them within that time, the drain dead-letters them again\n"
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
    s3: Any = None,
) -> PurgeReport:
    """Deletes the selected messages batch by batch, never with PurgeQueue: AWS allows that once
    a minute, and it takes whatever arrives while it runs, not just what the operator saw. A
    deleted large event's object goes too (s3: a boto3 S3 client, else one is made)."""
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
        claimed = [m for m in scan.matched if m.message_id in deleted and m.claim_check is not None]
        if claimed:
            _delete_claimed_objects(s3 or _s3_client_beside(dlq.client), claimed, out)
        return PurgeReport(aborted=False, deleted=deleted, failed=failed)
    finally:
        dlq.release([message for message in scan.held if message.message_id not in deleted])


def _s3_client_beside(sqs: Any) -> Any:
    """An S3 client in the SQS client's region, at boto3's endpoint for S3 (AWS_ENDPOINT_URL for
    the local stack, whose emulator serves both)."""
    return s3_admin_client(getattr(getattr(sqs, "meta", None), "region_name", None))


def _delete_claimed_objects(s3: Any, messages: Sequence[DeadLetterMessage], out: TextIO) -> None:
    """Their letters are gone, so nothing points at these objects any more; one that cannot be
    deleted is named (the bucket's lifecycle rule removes it after EXPIRATION_DAYS)."""
    removed = 0
    for message in messages:
        pointer = message.claim_check
        if pointer is None:
            continue
        where = f"s3://{pointer['bucket']}/{pointer['key']}"
        try:
            sqs_call(f"delete_object({where})", partial(s3.delete_object, Bucket=pointer["bucket"], Key=pointer["key"]))
        except SqsAdminError as exc:
            out.write(f"object not deleted: {exc}\n")
            continue
        removed += 1
    out.write(f"deleted {removed}/{len(messages)} claim-check object(s)\n")


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
        prog="python -m scripts.dlq",
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
    replay.add_argument(
        "--force",
        action="store_true",
        help="replay even events whose idempotency marker may be gone before the copy is delivered (could "
        "publish them twice)",
    )
    replay.add_argument(
        "--config",
        default=environ.get("WEBHOOKS_CONFIG") or default_webhooks_config(),
        metavar="PATH",
        help="webhooks.json, for each webhook's idempotency_ttl_seconds and max_age_seconds "
        "(default: $WEBHOOKS_CONFIG or the project's webhooks.json)",
    )

    purge = command("purge", "delete messages for good (asks first; everything when no filter is given)")
    purge_which = purge.add_mutually_exclusive_group()
    purge_which.add_argument("--webhook", metavar="ID", help="only this webhook's events")
    purge_which.add_argument("--id", nargs="+", metavar="EVENT_ID", help="only these event ids or message ids")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    return parser


def _selection(args: argparse.Namespace) -> Selection:
    return Selection(webhook_id=args.webhook, ids=frozenset(args.id or ()))


def _run_command(
    args: argparse.Namespace,
    dlq: DeadLetterQueue,
    ask: Callable[[str], str],
    out: TextIO,
    err: TextIO,
    *,
    environ: Mapping[str, str],
    s3: Any = None,
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
        markers = MarkerLifetimes.load(args.config, environ)
        report = replay_dead_letters(
            dlq, retry_url, _selection(args), out, dry_run=args.dry_run, markers=markers, force=args.force
        )
        return 0 if report.ok else 1
    return 0 if purge_dead_letters(dlq, _selection(args), out, ask, assume_yes=args.yes, s3=s3).ok else 1


def main(
    argv: Sequence[str] | None = None,
    *,
    client: Any = None,
    ask: Callable[[str], str] = input,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
    limits: ScanLimits = ScanLimits(),
    s3: Any = None,
) -> int:
    """The dlq command; every dependency can be handed in by a test (s3: the client that deletes a
    purged large event's object). Returns the exit status."""
    args = build_parser(environ).parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        sqs = client if client is not None else admin_client(args.region)
        dlq = DeadLetterQueue(sqs, find_queue_url(sqs, args.dead_letter_queue), args.dead_letter_queue, limits)
        return _run_command(args, dlq, ask, out, err, environ=environ, s3=s3)
    except SqsAdminError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
