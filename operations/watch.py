"""`make watch`: tail the streams of webhooks.json through a consumer group, one line per event.

It reads the same webhooks.json the relay reads (WEBHOOKS_CONFIG, else the one beside app.py)
to learn which Redis and which stream each webhook writes to, and tails each (connection,
stream) once. Each entry is printed, then acknowledged (XACK): an entry printed by a run that
was stopped before its XACK is shown again by the next run (same group and consumer), as a
real consumer would redo it. Two watchers in one group split the events between them: give
the second its own --group.

While a Redis is unreachable it says so once and keeps trying, so an outage drill shows the
queued events arriving when Redis returns. Ctrl-C stops it quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import redis
from redis.crc import key_slot
from redis.typing import KeyT, StreamIdT

from chalicelib.config.model import RedisConnection, RelayConfig
from chalicelib.config.settings import get_relay_config
from chalicelib.delivery.redis_clients import RedisClient, get_redis
from chalicelib.errors import ConfigError

DEFAULT_GROUP = "spillway-watch"
DEFAULT_CONSUMER = "watch"
# One XREADGROUP waits at most this long, so Ctrl-C, --timeout and a second Redis are served
# within about a second.
BLOCK_MILLISECONDS = 1000
READ_BATCH = 100
# Above the longest block, so a read that waits for events is never cut short as a timeout.
SOCKET_TIMEOUT_SECONDS = BLOCK_MILLISECONDS / 1000 + 5
CONNECT_TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = 1.0
# Exit status: every event asked for (--count) was seen, or it ran until stopped.
DONE = 0
COUNT_NOT_REACHED = 1
UNUSABLE = 2


@dataclass(frozen=True)
class WatchedStream:
    connection: RedisConnection
    stream: str
    webhook_ids: tuple[str, ...]

    def describe(self) -> str:
        where = "a Redis URL" if self.connection.url else f"{self.connection.host}:{self.connection.port}"
        return f"stream {self.stream} on {where} (db {self.connection.db}) for {', '.join(self.webhook_ids)}"


def streams_to_watch(config: RelayConfig, webhook_id: str | None = None) -> list[WatchedStream]:
    """One entry per (connection, stream), naming every webhook that writes there."""
    if webhook_id is not None and config.webhook(webhook_id) is None:
        raise ConfigError(
            config.path, webhook_id, None, f"no such webhook; configured: {', '.join(sorted(config.webhooks))}"
        )
    grouped: dict[tuple[RedisConnection, str], list[str]] = {}
    for webhook in config.webhooks.values():
        if webhook_id is not None and webhook.webhook_id != webhook_id:
            continue
        if webhook.redis.stream is None:
            if webhook_id is not None:
                raise ConfigError(
                    config.path, webhook_id, "redis.stream", "is not set (channel only): there is no stream to tail"
                )
            continue
        grouped.setdefault((webhook.redis.connection, webhook.redis.stream), []).append(webhook.webhook_id)
    return [WatchedStream(connection, stream, tuple(ids)) for (connection, stream), ids in grouped.items()]


def event_line(envelope: Mapping[str, Any], size: int, now: datetime) -> str:
    """webhook, event id, verified_by, size of the envelope and its age, for a person to read."""
    age = "?"
    try:
        received = datetime.fromisoformat(str(envelope.get("received_at")))
        age = f"{(now - received).total_seconds():.1f} s ago"
    except ValueError:
        pass
    verified_by = envelope.get("verified_by") or "-"
    return f"{envelope.get('webhook_id')}  {envelope.get('id')}  verified_by={verified_by}  {size} B  {age}"


Entry = tuple[str, bytes, dict[bytes, bytes]]


@dataclass
class StreamReader:
    """A consumer of one connection's streams: creates the group when missing, and first reads
    again the entries this consumer was given but never acknowledged (a run stopped between
    printing and XACK), then new ones."""

    client: RedisClient
    streams: list[WatchedStream]
    group: str
    consumer: str
    start_id: str
    ready: bool = False
    # Streams whose pending entries ('0') are still to be read again, before new ones ('>').
    pending: set[str] = field(default_factory=set)

    def _create_groups(self) -> None:
        for watched in self.streams:
            try:
                self.client.xgroup_create(watched.stream, self.group, id=self.start_id, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self.pending = {watched.stream for watched in self.streams}
        self.ready = True

    def read(self, block_ms: int) -> list[Entry]:
        """(stream, entry id, fields) of the next entries; raises redis.RedisError when Redis is away."""
        try:
            if not self.ready:
                self._create_groups()
            if self.pending:
                entries = self._entries(
                    self.client.xreadgroup(
                        self.group, self.consumer, self._positions(self.pending, "0"), count=READ_BATCH
                    )
                )
                self.pending &= {stream for stream, _, _ in entries}
                if entries:
                    return entries
            streams = self._positions([watched.stream for watched in self.streams], ">")
            return self._entries(
                self.client.xreadgroup(self.group, self.consumer, streams, count=READ_BATCH, block=block_ms)
            )
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                # The stream or the group went away (a Redis restarted empty, a DEL): make them again.
                self.ready = False
                return []
            raise

    @staticmethod
    def _positions(streams: Iterable[str], position: str) -> dict[KeyT, StreamIdT]:
        return dict.fromkeys(streams, position)

    def _entries(self, answer: Any) -> list[Entry]:
        entries: list[Entry] = []
        for stream_name, stream_entries in answer or []:
            stream = stream_name.decode() if isinstance(stream_name, bytes) else str(stream_name)
            for entry_id, fields in stream_entries:
                if fields:
                    entries.append((stream, entry_id, fields))
                else:
                    # A pending entry trimmed from the stream since (MAXLEN): nothing left to show.
                    self.acknowledge(stream, entry_id)
        return entries

    def acknowledge(self, stream: str, entry_id: bytes) -> None:
        self.client.xack(stream, self.group, entry_id)


@dataclass
class Watch:
    readers: list[StreamReader]
    as_json: bool
    out: TextIO
    err: TextIO
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    unavailable: set[int] = field(default_factory=set)

    def run(self, deadline: float | None, count: int | None) -> int:
        """Prints each event, then acknowledges it; returns how many were printed, once count
        were or at the deadline (never, without one)."""
        seen = 0
        while deadline is None or self.clock() < deadline:
            for index, reader in enumerate(self.readers):
                remaining = None if deadline is None else max(0.0, deadline - self.clock())
                block = BLOCK_MILLISECONDS // len(self.readers)
                if remaining is not None:
                    block = max(1, min(block, int(remaining * 1000)))
                try:
                    entries = reader.read(block)
                    self._report_back(index, reader)
                    for stream, entry_id, fields in entries:
                        print(self._render(fields), file=self.out, flush=True)
                        reader.acknowledge(stream, entry_id)
                        seen += 1
                        if count is not None and seen >= count:
                            return seen
                except redis.RedisError as exc:
                    self._report_unavailable(index, reader, exc)
                    self.sleep(RETRY_SECONDS if remaining is None else min(RETRY_SECONDS, remaining))
        return seen

    def _render(self, fields: dict[bytes, bytes]) -> str:
        event = fields.get(b"event", b"")
        if self.as_json:
            return event.decode("utf-8", errors="replace")
        try:
            envelope = json.loads(event)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            names = sorted(name.decode(errors="replace") for name in fields)
            return f"(not a Spillway envelope: fields {', '.join(names)})"
        return event_line(envelope, len(event), datetime.now(UTC))

    def _report_unavailable(self, index: int, reader: StreamReader, exc: redis.RedisError) -> None:
        reader.ready = False
        if index not in self.unavailable:
            self.unavailable.add(index)
            names = "; ".join(watched.describe() for watched in reader.streams)
            print(
                f"watch: Redis unreachable for {names} ({exc}); retrying every {RETRY_SECONDS:g} s",
                file=self.err,
                flush=True,
            )

    def _report_back(self, index: int, reader: StreamReader) -> None:
        if index in self.unavailable:
            self.unavailable.discard(index)
            names = "; ".join(watched.describe() for watched in reader.streams)
            print(f"watch: Redis is back for {names}", file=self.err, flush=True)


def build_readers(streams: Sequence[WatchedStream], group: str, consumer: str, start_id: str) -> list[StreamReader]:
    """One reader per connection, reading all its streams in one XREADGROUP; in cluster mode one
    per hash slot, since a cluster refuses a command whose keys are in different slots (CROSSSLOT)."""
    by_reader: dict[tuple[RedisConnection, int], list[WatchedStream]] = {}
    for watched in streams:
        slot = key_slot(watched.stream.encode()) if watched.connection.cluster else 0
        by_reader.setdefault((watched.connection, slot), []).append(watched)
    return [
        StreamReader(
            get_redis(connection, SOCKET_TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS), watched, group, consumer, start_id
        )
        for (connection, _), watched in by_reader.items()
    ]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make watch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--webhook", help="only this webhook's stream (default: every stream in webhooks.json)")
    parser.add_argument("--json", action="store_true", help="print each event's envelope (JSON, one per line)")
    parser.add_argument(
        "--from-start", action="store_true", help="a new group starts at the stream's first entry, not at new events"
    )
    parser.add_argument("--group", default=DEFAULT_GROUP, help="the consumer group (default %(default)s)")
    parser.add_argument(
        "--consumer", default=DEFAULT_CONSUMER, help="the consumer's name in the group (default %(default)s)"
    )
    parser.add_argument("--count", type=int, help="stop after this many events")
    parser.add_argument("--timeout", type=float, help="stop after this many seconds")
    arguments = parser.parse_args(argv)
    if arguments.count is not None and arguments.count < 1:
        parser.error("--count must be at least 1")
    if arguments.timeout is not None and arguments.timeout <= 0:
        parser.error("--timeout must be above 0")
    return arguments


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    arguments = parse_arguments(argv)
    try:
        streams = streams_to_watch(get_relay_config(), arguments.webhook)
    except ConfigError as exc:
        print(f"watch: {exc}", file=err)
        return UNUSABLE
    if not streams:
        print("watch: no webhook in webhooks.json writes to a stream (channel only): nothing to tail", file=err)
        return UNUSABLE
    start_id = "0" if arguments.from_start else "$"
    watch = Watch(build_readers(streams, arguments.group, arguments.consumer, start_id), arguments.json, out, err)
    for watched in streams:
        print(f"watch: {watched.describe()}, group {arguments.group}", file=err)
    print("watch: Ctrl-C to stop", file=err, flush=True)
    deadline = None if arguments.timeout is None else watch.clock() + arguments.timeout
    try:
        seen = watch.run(deadline, arguments.count)
    except KeyboardInterrupt:
        print("", file=err)
        return DONE
    if arguments.count is not None and seen < arguments.count:
        print(f"watch: {seen} of {arguments.count} events in {arguments.timeout:g} s", file=err)
        return COUNT_NOT_REACHED
    return DONE
