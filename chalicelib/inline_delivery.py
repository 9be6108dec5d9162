"""The inline path: a few quick tries at Redis while the sender waits, then give up."""

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

from chalicelib.circuit_breaker import CircuitOpen, deliver_through_breaker
from chalicelib.envelope import Envelope
from chalicelib.errors import DestinationUnavailable
from chalicelib.redis_delivery import DeliveryOutcome
from chalicelib.webhook_config import InlineBudget, RedisTarget


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
def _policy_for(budget: InlineBudget) -> Retrying:
    # tenacity keeps each call's state in thread-local storage, so one policy object per
    # budget serves every thread; building it per request cost ~15 us.
    return inline_retrying(budget)


def deliver_inline(envelope: Envelope, target: RedisTarget, budget: InlineBudget, encoded: str) -> DeliveryOutcome:
    """Raises DestinationUnavailable or DeliveryRefused when the budget could not deliver it."""
    for attempt in _policy_for(budget):
        with attempt:
            return deliver_through_breaker(envelope, target, budget, encoded)
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
