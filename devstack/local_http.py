"""A Chalice app over HTTP as `chalice local` serves it, minus its costs for a relay, with each
request bounded.

Same machinery (chalice.local's LocalDevServer, ChaliceRequestHandler, LocalGateway), same
API Gateway events, stage "local" configuration, threaded. Differences:
- TCP_NODELAY: ChaliceRequestHandler writes headers and body separately; with Nagle on, each
  keep-alive response waits ~40 ms for the client's delayed ACK (337 req/s -> ~1,850 measured).
- No autoreload: its child process outlives a killed parent, still holding the port.
- Each request is bounded (chalice local reads whatever comes, for as long as it takes): its
  headers and body must arrive within request_timeout of its first byte, or a client trickling a
  byte at a time holds a connection slot for ever; a Content-Length over max_body_bytes (the
  largest body Lambda receives behind API Gateway, 4,521,984 bytes) is answered 413 before the
  body is read; a chunked body is read and bounded
  the same way (chalice local ignores it, and reads its bytes as the next request); any other
  transfer coding is refused with 400.
- The peer's address is the request's `requestContext.identity.sourceIp` (chalice local says
  127.0.0.1 for everyone), so a webhook's `allow_ips` can be tried locally.
- Headers are read without the email package's FeedParser (read_headers); a header line that
  is not `name: value` is refused with 400.
- The app runs one request at a time (AppTurns), as one Lambda execution environment does; a
  request that waited turn_patience for its turn runs anyway.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import functools
import io
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.client import HTTPMessage
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, LocalChalice, LocalDevServer, ThreadedHTTPServer

from chalicelib.config.message_size import LAMBDA_MAX_BODY_BYTES
from chalicelib.door.answers import error_answer
from devstack.ports import wait_for_port

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

LOCAL_STAGE = "local"
# At most this many connections are served at once, each by a thread of its own; the next waits
# in the listen queue until one closes, so overload slows answers down instead of piling up
# threads. (A deployed function has a limit too: its reserved concurrency, or the account's.)
DEFAULT_MAX_CONNECTIONS = 64
# Connections waiting for a slot queue in the kernel: socketserver's default of 5 would refuse
# a burst.
LISTEN_BACKLOG = 256
# How long a request waits for its turn to run the app (AppTurns) before it runs anyway. Under
# load a turn comes within a few milliseconds (64 connections x ~0.25 ms); longer means the
# request ahead is stuck on a slow Redis or SQS.
DEFAULT_TURN_PATIENCE_SECONDS = 0.05
# An idle keep-alive connection is closed after this long, so it cannot hold a slot forever.
DEFAULT_IDLE_TIMEOUT_SECONDS = 5.0
# A request's headers and body must have arrived this long after its first byte.
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0
# What the relay can ever be handed on AWS: not API Gateway's 10 MB but the body that still fits
# Lambda's 6 MB event once base64-encoded (chalicelib/config/message_size.py).
DEFAULT_MAX_BODY_BYTES = LAMBDA_MAX_BODY_BYTES
# A chunk-size or trailer line longer than this is malformed (http.client's own line limit);
# so is a trailer of more than MAX_TRAILER_LINES lines.
MAX_CHUNKED_LINE_BYTES = 65_536
MAX_TRAILER_LINES = 100
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# After refusing a request whose body is still coming, what the client sends is read and dropped
# for this long: closing with unread bytes sends a reset, which a client still writing sees
# instead of the answer.
LINGER_SECONDS = 2.0

log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


class RequestRefused(Exception):
    """The request cannot be handed to the app; answered with status and the relay's error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RequestIncomplete(TimeoutError):
    """The client stopped before its request was complete (it closed, or its time ran out): the
    connection is dropped, as http.server drops one whose read timed out."""


class DeadlineReader(io.RawIOBase):
    """The connection's bytes, waiting at most idle_timeout for a request to start and then at
    most request_timeout, in all, for the rest of it. A per-read timeout alone lets a client
    that sends one byte every few seconds hold the connection for ever.

    The deadline starts with the first byte received after `request_read()`, so time spent
    running the app and answering never counts against the next request of the connection."""

    def __init__(self, connection: socket.socket, idle_timeout: float | None, request_timeout: float | None) -> None:
        super().__init__()
        self._connection = connection
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        if self._deadline is None:
            self._connection.settimeout(self._idle_timeout)
        else:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise RequestIncomplete(f"request not received within {self._request_timeout} s")
            self._connection.settimeout(remaining)
        received = self._connection.recv_into(buffer)
        if received and self._deadline is None and self._request_timeout is not None:
            self._deadline = time.monotonic() + self._request_timeout
        return received

    def request_read(self) -> None:
        """The request is in: the answer is written under the idle timeout, not what is left of the deadline."""
        self._deadline = None
        self._connection.settimeout(self._idle_timeout)


# http.client's limits for a header section: a longer line is answered 431, and so are more lines.
MAX_HEADER_LINE_BYTES = 65_536
MAX_HEADER_LINES = 100
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")


def read_headers(rfile: io.BufferedIOBase) -> HTTPMessage:
    """The header section, up to its empty line, as the HTTPMessage http.server makes of it,
    without the email package's FeedParser, which took a fifth of a request's time under load
    (bench B8). Same limits as http.client (a line over 64 KiB, more than 100 lines: 431).
    Stricter than FeedParser: a line that is not `name: value`, a folded line among them
    (obsolete in HTTP/1.1, RFC 9112 5.2), is refused with 400 instead of being read as body, and
    so is a value holding a CR, LF or NUL (RFC 9110 5.5)."""
    headers = HTTPMessage()
    for _ in range(MAX_HEADER_LINES + 1):
        line = rfile.readline(MAX_HEADER_LINE_BYTES + 1)
        if len(line) > MAX_HEADER_LINE_BYTES:
            raise RequestRefused(431, "header_too_large", f"a header line is over {MAX_HEADER_LINE_BYTES} bytes")
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not HEADER_NAME.fullmatch(name):
            raise RequestRefused(400, "invalid_header", f"not a `name: value` header line: {line[:40]!r}")
        value = value.strip(" \t\r\n")
        if FORBIDDEN_IN_VALUE.search(value):
            # A bare CR in a value is how a second header is smuggled past another parser.
            raise RequestRefused(400, "invalid_header", f"header {name} holds a CR, LF or NUL")
        headers[name] = value
    raise RequestRefused(431, "too_many_headers", f"more than {MAX_HEADER_LINES} header lines")


class AppTurns:
    """Requests take turns running the app, each waiting at most `patience` seconds for its
    turn and then running anyway.

    Why: 16 threads each running the app at once hand the GIL to one another at every socket
    call (~85 futex calls a request), which cost the server a third of its throughput (bench
    B8: ~2,700 req/s threaded, ~4,100 in turns). One request at a time is also what one Lambda
    execution environment does. Why not a plain lock: a request held up by a hung Redis or
    SQS (up to its inline budget, or the spill's) would hold every other request up too; with
    the patience bound the others wait that long at most, then run beside it, as threads did."""

    def __init__(self, patience: float) -> None:
        self._lock = threading.Lock()
        self._patience = patience

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        has_turn = self._lock.acquire(timeout=self._patience)
        try:
            yield
        finally:
            if has_turn:
                self._lock.release()


def _content_length(value: str) -> int:
    if not value.strip().isdigit():
        raise RequestRefused(400, "invalid_content_length", f"Content-Length must be a whole number, got {value!r}")
    return int(value)


@functools.lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    # Every answer's Date header: the same text for a whole second (email.utils.formatdate cost
    # ~5% of a request under load, bench B8).
    return email.utils.formatdate(second, usegmt=True)


class NoDelayRequestHandler(ChaliceRequestHandler):
    disable_nagle_algorithm = True
    # Buffer each response so headers and body leave in one send (http.server flushes after
    # every request), instead of two small packets.
    wbufsize = 64 * 1024
    rfile: io.BufferedIOBase

    def setup(self) -> None:
        # StreamRequestHandler applies `timeout` to the connection's socket: a keep-alive
        # connection idle that long is closed (BaseHTTPRequestHandler answers a timeout so).
        self.timeout = getattr(self.server, "idle_timeout", None)
        super().setup()
        self.max_body_bytes: int = getattr(self.server, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
        self.reader = DeadlineReader(
            self.connection, self.timeout, getattr(self.server, "request_timeout", DEFAULT_REQUEST_TIMEOUT_SECONDS)
        )
        # In place of the file StreamRequestHandler made, whose reads know no deadline.
        self.rfile.close()
        self.rfile = io.BufferedReader(self.reader)
        # Chalice's event converter writes this constant into every event; this handler serves one
        # connection, so its own converter can carry the peer's address instead.
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = str(self.client_address[0])
        self._body: bytes | None = None

    def parse_request(self) -> bool:
        """http.server's parse_request, with the header section read by read_headers (http.server
        hands it to the email package's FeedParser). Same answers, but HTTP/0.9 and a request
        line of other than three words are refused with 400."""
        self.command = None
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        command, path, version = words
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            major = version[5:].split(".", 1)[0] if version.startswith("HTTP/") else ""
            if major.isdigit() and int(major) >= 2:
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version[5:]})")
            else:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
            return False
        self.request_version = version
        self.close_connection = version == "HTTP/1.0" or self.protocol_version < "HTTP/1.1"
        # As http.server does: a path starting with // would read as a host to a client.
        self.command, self.path = command, "/" + path.lstrip("/") if path.startswith("//") else path
        try:
            self.headers = read_headers(self.rfile)
        except RequestRefused as refused:
            self.headers = HTTPMessage()
            self._refuse(refused)
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if (
            self.headers.get("Expect", "").lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and version == "HTTP/1.1"
        ):
            return bool(self.handle_expect_100())
        return True

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return str(super().date_time_string(timestamp))
        return _http_date(int(time.time()))

    def _bounded_handle(self) -> None:
        try:
            self._body = self._read_body()
        except RequestRefused as refused:
            self._refuse(refused)
            return
        self.reader.request_read()
        turns: AppTurns | None = getattr(self.server, "app_turns", None)
        if turns is None:
            super()._generic_handle()
            return
        with turns.turn():
            super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _bounded_handle

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        headers: dict[str, Any] = dict(self.headers)
        if "Transfer-Encoding" in self.headers:
            # API Gateway hands Lambda the whole body, de-chunked, with its length.
            headers = {name: value for name, value in headers.items() if name.lower() != "transfer-encoding"}
            headers["Content-Length"] = str(len(self._body or b""))
        return headers, self._body

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it (curl asks first for bodies over 1 MB).
        try:
            self._check_declared_length()
        except RequestRefused as refused:
            self._refuse(refused)
            return False
        return bool(super().handle_expect_100())

    def _check_declared_length(self) -> int | None:
        """The Content-Length, checked; None for a chunked body (Transfer-Encoding wins, RFC 9112 6.3)."""
        transfer_encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if transfer_encoding is not None:
            if transfer_encoding.strip().lower() != "chunked":
                raise RequestRefused(
                    400, "unsupported_transfer_encoding", f"only chunked is understood, got {transfer_encoding!r}"
                )
            if lengths:
                # Both at once is how requests are smuggled past a proxy: RFC 9112 lets a server refuse it.
                raise RequestRefused(400, "ambiguous_length", "send Content-Length or Transfer-Encoding, not both")
            return None
        if len({value.strip() for value in lengths}) > 1:
            raise RequestRefused(400, "ambiguous_length", f"Content-Length given differently: {lengths}")
        length = _content_length(lengths[0]) if lengths else 0
        if length > self.max_body_bytes:
            raise RequestRefused(
                413, "payload_too_large", f"Content-Length {length} is over this server's {self.max_body_bytes} bytes"
            )
        return length

    def _read_body(self) -> bytes | None:
        length = self._check_declared_length()
        if length is None:
            return self._read_chunked()
        if length == 0:
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestIncomplete("connection closed before the body was complete")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self._read_line()
            size_text = size_line.split(b";", 1)[0].strip()  # a chunk extension is ignored
            if not CHUNK_SIZE.fullmatch(size_text):
                raise RequestRefused(400, "invalid_chunked_body", f"bad chunk size line {size_line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > self.max_body_bytes:
                raise RequestRefused(
                    413, "payload_too_large", f"the body is over this server's {self.max_body_bytes} bytes"
                )
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise RequestIncomplete("connection closed inside a chunk")
            body += chunk
            if self._read_line() != b"":
                raise RequestRefused(400, "invalid_chunked_body", "a chunk is longer than its size says")
        for _ in range(MAX_TRAILER_LINES):
            if self._read_line() == b"":
                return bytes(body)
        raise RequestRefused(400, "invalid_chunked_body", f"more than {MAX_TRAILER_LINES} trailer lines")

    def _read_line(self) -> bytes:
        """One CRLF-terminated line of a chunked body, without its CRLF."""
        line = self.rfile.readline(MAX_CHUNKED_LINE_BYTES + 1)
        if not line:
            raise RequestIncomplete("connection closed inside a chunked body")
        if len(line) > MAX_CHUNKED_LINE_BYTES or not line.endswith(b"\n"):
            raise RequestRefused(400, "invalid_chunked_body", "a chunked body line is too long")
        return line.rstrip(b"\r\n")

    def _refuse(self, refused: RequestRefused) -> None:
        """Answers and closes: the rest of the request is unread, and would be taken for the next one."""
        body = json.dumps(error_answer(refused.status, refused.code, str(refused)).body).encode()
        self.reader.request_read()
        self.close_connection = True
        self.send_response(refused.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self._linger()

    def _linger(self) -> None:
        """Half-closes, then drops what the client still sends, for LINGER_SECONDS at most."""
        with contextlib.suppress(OSError):  # a timeout or a reset: the client is gone or too slow
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            while (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                if not self.connection.recv(64 * 1024):
                    return

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
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        turn_patience: float | None = DEFAULT_TURN_PATIENCE_SECONDS,
        **kwargs: Any,
    ) -> None:
        self.open_connections: set[socket.socket] = set()
        self.app_turns = AppTurns(turn_patience) if turn_patience is not None else None
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.max_body_bytes = max_body_bytes
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
    at once (see DEFAULT_MAX_CONNECTIONS); idle_timeout=None keeps idle connections open;
    request_timeout bounds the arrival of each request, request_timeout=None does not."""

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
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        turn_patience: float | None = DEFAULT_TURN_PATIENCE_SECONDS,
    ) -> None:
        validate_routes(app.routes)
        self.app = _with_thread_local_request(app)
        self.host = host
        self.requested_port = port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.max_body_bytes = max_body_bytes
        self.turn_patience = turn_patience
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
                    ConnectionTrackingServer,
                    max_connections=self.max_connections,
                    idle_timeout=self.idle_timeout,
                    request_timeout=self.request_timeout,
                    max_body_bytes=self.max_body_bytes,
                    turn_patience=self.turn_patience,
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
