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

    def wait(self) -> None:
        # Short waits in a loop: the main thread must wake to let the handler run promptly.
        while not self._stopping.wait(timeout=1.0):
            pass
