"""Delivery's one entry point: put an event into its Redis, through the circuit breaker.

The door calls it while the sender waits (a few quick tries within the webhook's inline
budget); the drain calls it for a queued event (one try: the queue's redrive is that path's
retry layer). Either way the breaker answers first, so a Redis known to be down costs nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from chalicelib.config.model import InlineBudget, RedisTarget
from chalicelib.delivery.circuit_breaker import CircuitOpen, breaker_for
from chalicelib.delivery.redis_script import DeliveryOutcome, run_delivery_script
from chalicelib.envelope import Envelope
from chalicelib.errors import DeliveryRefused, DestinationUnavailable


def inline_retrying(budget: InlineBudget, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """One policy for the inline path: retry only what waiting can fix, and never start an
    attempt that could run past the budget (a hung Redis holds each attempt for its
    connect plus socket timeout)."""
    attempt_worst_case = budget.connect_timeout + budget.socket_timeout
    return Retrying(
        stop=stop_after_attempt(budget.max_attempts)
        | stop_before_delay(max(budget.budget_seconds - attempt_worst_case, 0.0)),
        wait=wait_exponential_jitter(multiplier=0.02, max=0.2, jitter=0.02),
        retry=retry_if_exception_type(DestinationUnavailable) & retry_if_not_exception_type(CircuitOpen),
        reraise=True,
        sleep=sleep,
    )


@functools.lru_cache(maxsize=64)
def _inline_policy(budget: InlineBudget) -> Retrying:
    # tenacity keeps each call's state in thread-local storage, so one policy object per
    # budget serves every thread; building it per request cost ~15 us. Budgets are frozen
    # values from the configuration: the cache holds no process state worth resetting.
    return inline_retrying(budget)


def deliver(
    envelope: Envelope,
    target: RedisTarget,
    budget: InlineBudget,
    *,
    encoded: str | None = None,
    redrives: int | None = None,
) -> DeliveryOutcome:
    """Publish the event once. `redrives` is None for the inline path (retried within the
    budget) and how often the queue sent the event round for the drain (one try).
    `encoded` is the envelope's JSON when the caller already has it.
    Raises DestinationUnavailable (CircuitOpen included: wait) or DeliveryRefused."""
    if redrives is not None:
        return _through_breaker(envelope, target, budget, encoded, redrives)
    for attempt in _inline_policy(budget):
        with attempt:
            return _through_breaker(envelope, target, budget, encoded, None)
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def _through_breaker(
    envelope: Envelope, target: RedisTarget, budget: InlineBudget, encoded: str | None, redrives: int | None
) -> DeliveryOutcome:
    """One try, unless the breaker is open (CircuitOpen). Redis refusing the write still
    proves it reachable: that closes the breaker too."""
    breaker = breaker_for(target.connection, budget)
    if not breaker.allow():
        raise breaker.open_error()
    try:
        outcome = run_delivery_script(envelope, target, budget, encoded, redrives)
    except DestinationUnavailable as exc:
        breaker.record_failure(str(exc))
        raise
    except DeliveryRefused:
        breaker.record_success()
        raise
    breaker.record_success()
    return outcome
