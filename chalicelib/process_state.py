"""Everything a process keeps between invocations, and the one function that forgets it.

A Lambda execution environment serves many events: clients, the parsed configuration and the
breakers' memory are built on first use and kept. Each such cache is a ProcessCache, which
registers itself here, so `reset_process_state()` (tests, benchmarks, the local stack after a
config change) clears every one of them and no caller has to know the list.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_caches: list[ProcessCache[object, object]] = []
_clock: Callable[[], float] = time.monotonic


class ProcessCache(Generic[K, V]):
    """A thread-safe map built lazily; `discard` releases a value when the cache is reset
    (a Redis client closes its pool's connections)."""

    def __init__(self, name: str, discard: Callable[[V], None] | None = None):
        self.name = name
        self._discard = discard
        self._lock = threading.Lock()
        self._values: dict[K, V] = {}
        _caches.append(self)  # type: ignore[arg-type]

    def get(self, key: K, build: Callable[[K], V]) -> V:
        value = self._values.get(key)
        if value is None:
            with self._lock:
                value = self._values.get(key)
                if value is None:
                    value = self._values[key] = build(key)
        return value

    def peek(self, key: K) -> V | None:
        return self._values.get(key)

    def clear(self) -> None:
        with self._lock:
            values = list(self._values.values())
            self._values.clear()
        if self._discard is not None:
            for value in values:
                self._discard(value)


def clock() -> float:
    """The monotonic clock state machines read (the breakers): tests that simulate time set theirs."""
    return _clock()


def reset_process_state(monotonic_clock: Callable[[], float] = time.monotonic) -> None:
    """Forget every cache: the next call reads the environment and webhooks.json again and
    builds new clients. `monotonic_clock` replaces the clock for what is built after this."""
    global _clock
    _clock = monotonic_clock
    for cache in list(_caches):
        cache.clear()
