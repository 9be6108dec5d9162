"""The connections a single Redis's delivery script goes over, and the one round trip on them.

Why not `client.evalsha`: redis-py 8 spends about 25 us of CPU a command inside a webhook's
handling (bench B1) on its pool's bookkeeping (a Python queue and condition, connection-count
metrics, a process-id check on every borrow and return) and on its command wrappers (a retry
object that is off, command metrics, deprecated-argument checks), for the one command the relay
sends per event. What those did for us is kept here: a bound on connections per process with a
short wait; a check before reuse that the server has not closed the connection, for one idle a
second or more (a Lambda environment thawed after minutes idle) or since a command failed on
another (a failover closes them all); and a connection that failed mid-command is dropped and
reconnected on its next use. A cluster keeps redis-py's client, which routes each command to
the node that owns its slot.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import redis

RedisCommand = Sequence[str | int | bytes]

if TYPE_CHECKING:
    # Only for the type checker: a Protocol class costs every cold start to build (bench B5).
    class WireConnection(Protocol):
        """What this module uses of a redis-py connection (Connection, SSLConnection), typed:
        redis-py leaves these methods unannotated."""

        @property
        def is_connected(self) -> bool: ...

        def can_read(self, timeout: float = 0) -> bool: ...

        def pack_command(self, *args: str | int | bytes) -> list[bytes]: ...

        def pack_commands(self, commands: Sequence[RedisCommand]) -> list[bytes]: ...

        def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None: ...

        def read_response(self) -> Any: ...

        def disconnect(self) -> None: ...


# A connection idle this long is checked before reuse (a poll: ~5 us of a delivery, bench B1).
# What closes a connection under a relay's feet mostly comes with idleness: a server's or a
# proxy's idle timeout (Redis's `timeout` counts whole seconds), a Lambda environment frozen
# between invocations. One closed while in use (a failover, CLIENT KILL) fails its next
# command; the caller's retry gets it back dropped, and it reconnects. Every other connection
# idle at that failure is checked too before its next use (DirectConnections.last_failure_at).
STALE_CHECK_AFTER_IDLE_SECONDS = 1.0


class DirectConnections:
    """At most `limit` connections to one Redis, opened on demand and reused, the one given back
    last first (so a retry gets the connection its failed try just dropped, which reconnects).
    A caller that finds all of them busy waits `wait_seconds` for one, then gets
    redis.ConnectionError: Redis counts as unavailable and the event spills, instead of the
    sender waiting."""

    def __init__(self, open_connection: Callable[[], WireConnection], limit: int, wait_seconds: float):
        self._open_connection = open_connection
        self._limit = limit
        self._wait_seconds = wait_seconds
        # Each idle connection with the monotonic time it was given back. A deque's append and
        # pop are atomic: borrowing and giving back an idle connection take no lock.
        self._idle: collections.deque[tuple[WireConnection, float]] = collections.deque()
        self._opened: list[WireConnection] = []
        self._lock = threading.Lock()
        self._given_back = threading.Condition(self._lock)
        self._waiting = 0
        # When a command last failed on a connection (0.0: never). What fails one may have closed
        # the others too (a failover, a restart): each idle since then is checked before reuse.
        self.last_failure_at = 0.0

    def borrow(self) -> tuple[WireConnection, float]:
        """A connection and the monotonic time it was last given back (0.0 for a new one)."""
        try:
            return self._idle.pop()
        except IndexError:
            pass
        with self._lock:
            if len(self._opened) < self._limit:
                # Not connected yet: it connects on its first command, within connect_timeout.
                connection = self._open_connection()
                self._opened.append(connection)
                return connection, 0.0
            deadline = time.monotonic() + self._wait_seconds
            self._waiting += 1
            try:
                while True:
                    try:
                        # Popped, not tested then popped: a borrower without the lock may take it first.
                        return self._idle.pop()
                    except IndexError:
                        pass
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise redis.ConnectionError(
                            f"No connection available: all {self._limit} connections to Redis stayed busy "
                            f"for {self._wait_seconds:g} s"
                        )
                    self._given_back.wait(remaining)
            finally:
                self._waiting -= 1

    def give_back(self, connection: WireConnection) -> None:
        self._idle.append((connection, time.monotonic()))
        # Read without the lock: a waiter counts itself and looks at the deque under the lock
        # before it waits, so a connection given back before that is seen, and one given back
        # after is notified (this takes the lock, which the waiter holds until it waits).
        if self._waiting:
            with self._lock:
                self._given_back.notify()

    @property
    def opened(self) -> int:
        return len(self._opened)

    def close(self) -> None:
        with self._lock:
            opened = list(self._opened)
        for connection in opened:
            connection.disconnect()


def _drop_if_stale(connection: WireConnection) -> None:
    """A reused connection with something to read holds an EOF (the server closed it): the next
    command must not meet it. Dropped, it reconnects on send. (No reply is ever left unread on
    a connection given back: round_trip drops one interrupted mid-command.)"""
    try:
        stale = connection.can_read()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        stale = True
    if stale:
        connection.disconnect()


def round_trip(connections: DirectConnections, commands: Sequence[RedisCommand]) -> list[Any]:
    """Writes every command at once on one connection and reads each reply in order (so a WAIT
    after a script counts that script's writes). A reply that is an error is returned in its
    place as its redis.ResponseError (NoScriptError, OutOfMemoryError, ...), with the replies
    after it still read. Raises redis.ConnectionError or redis.TimeoutError when Redis cannot
    be reached or does not answer in time; that connection is then dropped."""
    connection, given_back_at = connections.borrow()
    try:
        if connection.is_connected and (
            given_back_at <= connections.last_failure_at
            or time.monotonic() - given_back_at >= STALE_CHECK_AFTER_IDLE_SECONDS
        ):
            _drop_if_stale(connection)
        if len(commands) == 1:
            connection.send_packed_command(connection.pack_command(*commands[0]))
        else:
            connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as error_reply:
                replies.append(error_reply)
        return replies
    except BaseException:
        # Whatever interrupted it, replies may be left unread: the next command must not get them.
        connection.disconnect()
        connections.last_failure_at = time.monotonic()
        raise
    finally:
        connections.give_back(connection)
