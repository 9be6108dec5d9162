"""A Chalice app over HTTP as `chalice local` serves it, minus its two costs for a relay.

Same machinery (chalice.local's LocalDevServer, ChaliceRequestHandler, LocalGateway), same
API Gateway events, stage "local" configuration, threaded. Differences:
- TCP_NODELAY: ChaliceRequestHandler writes headers and body separately; with Nagle on, each
  keep-alive response waits ~40 ms for the client's delayed ACK (337 req/s -> ~1,850 measured).
- No autoreload: its child process outlives a killed parent, still holding the port.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import socket
import threading
import time
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, ThreadedHTTPServer

from devstack.ports import wait_for_port

LOCAL_STAGE = "local"
# At most this many connections are served at once, each by a thread of its own; the next waits
# in the listen queue until one closes, so overload slows answers down instead of piling up
# threads. (A deployed function has a limit too: its reserved concurrency, or the account's.)
DEFAULT_MAX_CONNECTIONS = 64
# Connections waiting for a slot queue in the kernel: socketserver's default of 5 would refuse
# a burst.
LISTEN_BACKLOG = 256
# An idle keep-alive connection is closed after this long, so it cannot hold a slot forever.
DEFAULT_IDLE_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


class NoDelayRequestHandler(ChaliceRequestHandler):
    disable_nagle_algorithm = True
    # Buffer each response so headers and body leave in one send (http.server flushes after
    # every request), instead of two small packets.
    wbufsize = 64 * 1024

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the connection's socket: a keep-alive
        # connection idle that long is closed (BaseHTTPRequestHandler answers a timeout so).
        self.timeout = getattr(self.server, "idle_timeout", None)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        # The relay logs one structured line per webhook already; the access log costs ~4% of
        # a request, so it is only written at DEBUG.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)


class ConnectionTrackingServer(ThreadedHTTPServer):
    """Serves at most max_connections connections at once, and remembers them, so stop() can
    close idle keep-alive ones: otherwise their handler threads sit in readline() until the
    client hangs up."""

    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        *args: Any,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        self.open_connections: set[socket.socket] = set()
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._connections_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Waiting here holds up accept(): further connections wait in the listen queue. Polled,
        # so that shutdown() is not held up by a full house.
        while not self._slots.acquire(timeout=0.1):
            if self._stopping.is_set():
                super().shutdown_request(request)
                return
        with self._connections_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            held_a_slot = request in self.open_connections
            self.open_connections.discard(request)
        super().shutdown_request(request)
        if held_a_slot:
            self._slots.release()

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def close_open_connections(self, timeout: float) -> bool:
        """Closes them and waits up to timeout for their handler threads to let go; False if some did not."""
        with self._connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            # Already closed by the client: nothing to do.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        while self.open_connections:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True


def load_stage_config(project_dir: str = ".", stage: str = LOCAL_STAGE) -> Config:
    """The stage's .chalice/config.json settings, as `chalice local --stage` reads them. A project
    without that file gets Chalice's defaults, as chalice.test.Client does. chalice local also puts
    the stage's environment_variables into os.environ before importing app.py: a launcher that
    wants them must do the same (`os.environ.update(config.environment_variables)`) before importing."""
    try:
        return CLIFactory(project_dir).create_config_obj(chalice_stage_name=stage)
    except RuntimeError:
        return Config(chalice_stage=stage)


def _with_thread_local_request(app: Chalice) -> Chalice:
    """chalice local's own step: a threaded server needs app.current_request per thread, or two
    concurrent requests read each other's. chalice.local swaps the app's class for a subclass of
    LocalChalice; a subclass of our own leaves chalice's shared CustomLocalChalice alone."""
    if not isinstance(app, LocalChalice):
        app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})
    return app


class LocalHttpServer:
    """port=0 picks a free port; `url` names the one bound. At most max_connections are served
    at once (see DEFAULT_MAX_CONNECTIONS); idle_timeout=None keeps idle connections open."""

    def __init__(
        self,
        app: Chalice,
        host: str = "127.0.0.1",
        port: int = 8000,
        stage: str = LOCAL_STAGE,
        config: Config | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT_SECONDS,
    ) -> None:
        validate_routes(app.routes)
        self.app = _with_thread_local_request(app)
        self.host = host
        self.requested_port = port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.config = config or load_stage_config(stage=stage)
        self._dev_server: LocalDevServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._dev_server is None:
            return self.requested_port
        return int(self._dev_server.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 5.0) -> None:
        """Serves from a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            return
        dev_server = self._bind()
        self._thread = threading.Thread(
            target=dev_server.server.serve_forever, name=f"local-http-{self.port}", daemon=True
        )
        self._thread.start()
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise RuntimeError(f"local HTTP server on {self.url} did not accept connections in {timeout} s")
        log.info("serving %s on %s (stage %s)", self.app.app_name, self.url, self.config.chalice_stage)

    def serve_forever(self) -> None:
        """Serves in this thread until interrupted (Ctrl-C raises KeyboardInterrupt here)."""
        dev_server = self._bind()
        # chalice local's banner, but with the bound port: LocalDevServer prints the requested one, even 0.
        print(f"Serving on {self.url}", flush=True)
        try:
            dev_server.server.serve_forever()
        finally:
            self._close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops accepting, closes open connections, and waits up to timeout for the serving thread."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive() and self._dev_server is not None:
            # shutdown() waits for serve_forever to notice, which polls every 0.5 s.
            self._dev_server.shutdown()
        deadline = time.monotonic() + timeout
        if not self._close(timeout):
            log.warning("local HTTP server: a request was still being handled %s s after stop", timeout)
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("local HTTP server thread still running %s s after stop", timeout)

    def _bind(self) -> LocalDevServer:
        try:
            self._dev_server = LocalDevServer(
                self.app,
                self.config,
                self.host,
                self.requested_port,
                handler_cls=NoDelayRequestHandler,
                server_cls=functools.partial(
                    ConnectionTrackingServer, max_connections=self.max_connections, idle_timeout=self.idle_timeout
                ),
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {self.requested_port} on {self.host} is already in use: stop whatever listens there "
                    f"(`ss -ltnp 'sport = :{self.requested_port}'` names it; an orphaned `chalice local` "
                    "autoreload child is a common one) or choose another port"
                ) from exc
            raise
        return self._dev_server

    def _close(self, timeout: float = 5.0) -> bool:
        dev_server, self._dev_server = self._dev_server, None
        if dev_server is None:
            return True
        server = dev_server.server
        server.server_close()
        if isinstance(server, ConnectionTrackingServer):
            return server.close_open_connections(timeout)
        return True

    def __enter__(self) -> LocalHttpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
