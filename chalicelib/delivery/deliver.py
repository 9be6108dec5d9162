"""Delivery's one entry point: put an event into its Redis, through the circuit breaker.

The door calls it while the sender waits (a few quick tries within the webhook's inline
budget); the drain calls it for a queued event (one try: the queue's redrive is that path's
retry layer). Either way the breaker answers first, so a Redis known to be down costs nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from chalicelib.config.model import InlineBudget, RedisTarget
from chalicelib.delivery.circuit_breaker import CircuitOpen, breaker_for
from chalicelib.delivery.redis_script import DeliveryOutcome, check_duplicate, run_delivery_script
from chalicelib.envelope import Envelope
from chalicelib.errors import DeliveryRefused, DestinationUnavailable, NoSubscribers, RedisAnswered, ReplicasBehind

if TYPE_CHECKING:
    from tenacity import Retrying

T = TypeVar("T")


def inline_retrying(budget: InlineBudget, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """One policy for the inline path: retry only what waiting can fix, and never start an
    attempt that could run past the budget (a hung Redis holds each attempt for its
    connect plus socket timeout). Not retried: an open circuit, a PUBLISH that found no
    subscriber (a consumer reconnecting takes longer than the budget's few hundred
    milliseconds, so the budget is better spent on the spill, which waits for it), and replicas
    behind (WAIT already waited replica_ack_timeout_ms for them; a primary with no replica
    would make every request wait that long again per try). A slot that moved is retried: the
    next try goes to its new owner."""
    # Imported here: a healthy delivery never enters the policy, so a cold start need not import
    # tenacity (~3 ms, bench B5) until a first try has failed.
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        retry_if_not_exception_type,
        stop_after_attempt,
        stop_before_delay,
        wait_exponential_jitter,
    )

    attempt_worst_case = budget.connect_timeout + budget.socket_timeout
    return Retrying(
        stop=stop_after_attempt(budget.max_attempts)
        | stop_before_delay(max(budget.budget_seconds - attempt_worst_case, 0.0)),
        wait=wait_exponential_jitter(multiplier=0.02, max=0.2, jitter=0.02),
        retry=retry_if_exception_type(DestinationUnavailable)
        & retry_if_not_exception_type((CircuitOpen, NoSubscribers, ReplicasBehind)),
        reraise=True,
        sleep=sleep,
    )


def inline_seconds_at_most(budget: InlineBudget) -> float:
    """The longest the inline path can hold a request: its budget, or, when one try's worst case
    (connect plus socket timeout) is longer, that try, which is always made."""
    return max(budget.budget_seconds, budget.connect_timeout + budget.socket_timeout)


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
    Raises DestinationUnavailable (CircuitOpen and NoSubscribers included: wait) or
    DeliveryRefused."""

    def one_try() -> DeliveryOutcome:
        return _through_breaker(
            target, budget, lambda: run_delivery_script(envelope, target, budget, encoded, redrives)
        )

    if redrives is not None:
        return one_try()
    started = time.monotonic()
    try:
        # A healthy delivery needs no retry state: tenacity's loop cost ~10 us a request (bench
        # B1), so it starts only once a first try has failed.
        return one_try()
    except DestinationUnavailable as first_failure:
        return _retry_inline(budget, one_try, first_failure, started)


def _retry_inline(
    budget: InlineBudget, one_try: Callable[[], T], first_failure: DestinationUnavailable, started: float
) -> T:
    """The inline policy, entered after a first try failed: tenacity gets that failure as its
    attempt 1, timed from when it started, so which errors are retried, how many attempts,
    the waits and the budget are exactly the policy's (still one retry layer)."""
    replayed = False
    for attempt in _inline_policy(budget):
        with attempt:
            if not replayed:
                replayed = True
                attempt.retry_state.start_time = started
                raise first_failure
            return one_try()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def delivered_before(webhook_id: str, event_id: str, target: RedisTarget, budget: InlineBudget) -> bool:
    """Whether an earlier copy of the event was delivered (its marker is set; counted as a
    duplicate then): the drain asks before it gives up on an event. One try, through the
    breaker. Raises DestinationUnavailable or DeliveryRefused when Redis cannot tell."""
    return _through_breaker(target, budget, lambda: check_duplicate(webhook_id, event_id, target, budget))


def _through_breaker(target: RedisTarget, budget: InlineBudget, call: Callable[[], T]) -> T:
    """One try, unless the breaker is open (CircuitOpen). Redis refusing the write, finding no
    subscriber, replicas behind, a slot moved: each still proves Redis reachable, so each
    closes the breaker too. The breaker is per configured connection, so per cluster in cluster
    mode (docs/operate.md)."""
    breaker = breaker_for(target.connection, budget)
    if not breaker.allow():
        raise breaker.open_error()
    try:
        outcome = call()
    except RedisAnswered:
        breaker.record_success()
        raise
    except DestinationUnavailable as exc:
        breaker.record_failure(str(exc))
        raise
    except DeliveryRefused:
        breaker.record_success()
        raise
    breaker.record_success()
    return outcome
