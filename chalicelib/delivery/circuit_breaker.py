"""A circuit breaker per Redis connection: after consecutive connection failures, stop trying
for a while and spill at once, then let one probe through (half-open).

Why: while Redis hangs, every try costs its socket timeout (0.5 s by default); a sender
should get its 202 in milliseconds, and the drain should not spend its batch on timeouts.
State is per process (per Lambda instance), which is all a breaker needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from chalicelib.config.model import InlineBudget, RedisConnection
from chalicelib.errors import DestinationUnavailable
from chalicelib.process_state import ProcessCache
from chalicelib.process_state import clock as process_clock


class CircuitOpen(DestinationUnavailable):
    """Not tried: the breaker is open. Retrying at once cannot help."""


class CircuitBreaker:
    """Consecutive failures to one Redis: past the threshold, calls fail fast until a probe passes."""

    # A plain class: a dataclass builds its methods at import, ~0.4 ms of every cold start (bench B5).
    def __init__(self, failure_threshold: int, reset_seconds: float, clock: Callable[[], float] = process_clock):
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.probe_started_at: float | None = None
        self.last_error = ""
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self) -> bool:
        """True when a call may go to Redis: closed, or the one probe of a half-open breaker."""
        with self._lock:
            if self.opened_at is None:
                return True
            now = self.clock()
            if now - self.opened_at < self.reset_seconds:
                return False
            # Half-open: one probe at a time; a probe that never reported is replaced.
            if self.probe_started_at is not None and now - self.probe_started_at < self.reset_seconds:
                return False
            self.probe_started_at = now
            return True

    def record_success(self) -> None:
        with self._lock:
            self.consecutive_failures = 0
            self.opened_at = None
            self.probe_started_at = None

    def record_failure(self, error: str = "") -> None:
        with self._lock:
            self.last_error = error
            self.consecutive_failures += 1
            self.probe_started_at = None
            if self.opened_at is not None or self.consecutive_failures >= self.failure_threshold:
                self.opened_at = self.clock()

    def open_error(self) -> CircuitOpen:
        return CircuitOpen(
            f"circuit open: Redis failed {self.consecutive_failures} times in a row, last with "
            f"{self.last_error or 'an unknown error'}; next try within {self.reset_seconds:g} s"
        )


_breakers: ProcessCache[tuple[RedisConnection, int, float], CircuitBreaker] = ProcessCache("circuit breakers")


def breaker_for(connection: RedisConnection, budget: InlineBudget) -> CircuitBreaker:
    """One breaker per Redis connection and thresholds: webhooks that share a Redis and its
    thresholds share what they learn of it, and a threshold changed by a refreshed config
    (SSM) takes effect with a breaker of its own instead of being ignored."""
    key = (connection, budget.breaker_failures, budget.breaker_reset_seconds)
    return _breakers.get(
        key, lambda _: CircuitBreaker(budget.breaker_failures, budget.breaker_reset_seconds, process_clock)
    )
