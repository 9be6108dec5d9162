"""When a queued event is tried again: the webhook's exponential schedule, with jitter."""

from __future__ import annotations

import math
import random

from chalicelib.config.model import RetryPolicy

# SQS takes at most 900 s of DelaySeconds; longer waits hop (see drain.py).
SQS_MAX_DELAY_SECONDS = 900
# Bounds the exponent so a large attempt number cannot overflow a float.
MAX_EXPONENT = 64


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """Attempt n (from 1) waits min(initial_delay * backoff_multiplier**(n-1), max_delay)."""
    exponent = min(max(attempt - 1, 0), MAX_EXPONENT)
    return float(min(policy.initial_delay * policy.backoff_multiplier**exponent, policy.max_delay))


def equal_jitter(delay: float, rng: random.Random | None = None) -> float:
    """Uniform in [delay/2, delay]: spreads a burst of redrives yet never waits less than half,
    so a schedule still backs off (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
    chooser = rng or random
    return chooser.uniform(delay / 2, delay)


def redrive_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> int:
    """Whole seconds, as SQS counts them: at least 1, so a redrive never spins."""
    return max(1, math.ceil(equal_jitter(backoff_delay(policy, attempt), rng)))
