"""A circuit breaker per Redis connection: after consecutive connection failures, stop trying
for a while and spill at once, then let one probe through (half-open).

Why: while Redis hangs, every try costs its socket timeout (0.5 s by default); a sender
should get its 202 in milliseconds, and the drain should not spend its batch on timeouts.
State is per process (per Lambda instance), which is all a breaker needs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.envelope import Envelope
from chalicelib.errors import DeliveryRefused, DestinationUnavailable
from chalicelib.redis_delivery import DeliveryOutcome, deliver
from chalicelib.webhook_config import InlineBudget, RedisConnection, RedisTarget


class CircuitOpen(DestinationUnavailable):
    """Not tried: the breaker is open. Retrying at once cannot help."""


@dataclass
class CircuitBreaker:
    failure_threshold: int
    reset_seconds: float
    clock: Callable[[], float] = time.monotonic
    consecutive_failures: int = 0
    opened_at: float | None = None
    probe_started_at: float | None = None
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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


_lock = threading.Lock()
_breakers: dict[RedisConnection, CircuitBreaker] = {}
_clock: Callable[[], float] = time.monotonic


def breaker_for(connection: RedisConnection, budget: InlineBudget) -> CircuitBreaker:
    breaker = _breakers.get(connection)
    if breaker is None:
        with _lock:
            breaker = _breakers.setdefault(
                connection, CircuitBreaker(budget.breaker_failures, budget.breaker_reset_seconds, _clock)
            )
    return breaker


def reset_breakers(clock: Callable[[], float] = time.monotonic) -> None:
    """Forget every breaker; new ones read `clock` (tests that simulate time pass theirs)."""
    global _clock
    with _lock:
        _breakers.clear()
        _clock = clock


def deliver_through_breaker(
    envelope: Envelope,
    target: RedisTarget,
    budget: InlineBudget,
    encoded: str | None = None,
    redrives: int | None = None,
) -> DeliveryOutcome:
    """One delivery, unless the breaker is open (CircuitOpen). Redis refusing the write still
    proves it reachable: that closes the breaker too."""
    breaker = breaker_for(target.connection, budget)
    if not breaker.allow():
        raise breaker.open_error()
    try:
        outcome = deliver(envelope, target, budget, encoded, redrives)
    except DestinationUnavailable as exc:
        breaker.record_failure(str(exc))
        raise
    except DeliveryRefused:
        breaker.record_success()
        raise
    breaker.record_success()
    return outcome
