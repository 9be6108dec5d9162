"""Foreground dev processes run until SIGTERM or Ctrl-C, then stop what they started."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopSignals:
    """Installs SIGTERM and SIGINT handlers at creation; wait() returns once either arrives."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()

    def requested(self) -> bool:
        return self._stopping.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once a stop was asked for; False when `timeout` seconds passed first (None: no limit)."""
        if timeout is not None:
            return self._stopping.wait(timeout=timeout)
        # Short waits in a loop: the main thread must wake to let the handler run promptly.
        while not self._stopping.wait(timeout=1.0):
            pass
        return True
