"""A child process in a process group of its own, so a fault can hit it and only it.

start() waits until the process says it is ready; stop() is a clean shutdown (SIGTERM, then
SIGKILL after a timeout); kill() is a crash (SIGKILL, no cleanup); pause() and resume() are a
hang (SIGSTOP, SIGCONT: the kernel still accepts connections, nothing answers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO


class ProcessFailed(RuntimeError):
    pass


class ManagedProcess:
    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: str | None,
        cwd: str | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.ready = ready
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._log: IO[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 20.0) -> None:
        """Returns once ready() holds (at once without one); raises ProcessFailed, naming the log,
        when the process exits or is not ready within timeout."""
        if self.running:
            return
        # Appended to across restarts: one log tells the whole story of the process. None: the
        # child writes to this process's own output (a foreground server a person watches).
        self._log = None if self.log_path is None else open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.paused = False
        if self.ready is None:
            return
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                code = self.process.returncode
                self._reap()
                raise ProcessFailed(f"{self.name} exited with {code} while starting; see {self._log_name}")
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessFailed(f"{self.name} was not ready within {timeout} s; see {self._log_name}")
            time.sleep(0.05)

    @property
    def _log_name(self) -> str:
        return self.log_path or "its output above"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None:
            return
        self.resume()
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=timeout)
        self._reap()

    def kill(self) -> None:
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.paused = False
        self._reap()

    def pause(self) -> None:
        if self.running and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self._signal(signal.SIGCONT)
            self.paused = False

    def _signal(self, signum: int) -> None:
        assert self.process is not None
        # The whole group: a wrapper script's children go down with it. Already gone: fine.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def _reap(self) -> None:
        self.process = None
        self.paused = False
        if self._log is not None:
            self._log.close()
            self._log = None
