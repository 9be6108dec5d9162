"""moto's SQS server inside this process: the queue backend for `make run` when no LocalStack answers."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

from moto.server import ThreadedMotoServer

from devstack.ports import port_accepts

# LocalStack's edge port: scripts and docs can name one endpoint whichever backend runs.
DEFAULT_PORT = 4566

log = logging.getLogger(__name__)

# An opener without proxies: an HTTP_PROXY in the environment must not answer for localhost.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoServerError(RuntimeError):
    pass


def endpoint_answers(url: str, timeout: float = 0.5) -> bool:
    """True when anything speaking HTTP answers at url, whatever the status (moto, LocalStack)."""
    try:
        with _direct.open(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


class _ReportingMotoServer(ThreadedMotoServer):
    """moto 5.2's start() waits forever when the server thread dies (werkzeug calls sys.exit on a
    busy port): this records the failure and wakes start() up instead."""

    def __init__(self, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.failure: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except BaseException as exc:  # SystemExit included: werkzeug exits on EADDRINUSE
            self.failure = exc
            self._server_ready_event.set()


class MotoSqsServer:
    """port=0 picks a free port; `url` names the one bound."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1", request_log: bool = False) -> None:
        self.host = host
        self.requested_port = port
        self.request_log = request_log
        self._server: _ReportingMotoServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise MotoServerError("moto server not started")
        return int(self._server.get_host_and_port()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            return
        if self.requested_port and port_accepts(self.host, self.requested_port):
            raise MotoServerError(self._port_in_use_message())
        if not self.request_log:
            # werkzeug logs every request at INFO: one line per SQS long poll drowns the relay's own log.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = _ReportingMotoServer(self.host, self.requested_port)
        server.start()
        if server.failure is not None:
            raise MotoServerError(self._port_in_use_message()) from server.failure
        self._server = server
        deadline = time.monotonic() + timeout
        while not endpoint_answers(self.url):
            if time.monotonic() > deadline:
                self.stop()
                raise MotoServerError(f"moto server on {self.host}:{self.requested_port} did not answer in {timeout} s")
            time.sleep(0.02)
        log.info("moto SQS server listening on %s", self.url)

    def stop(self) -> None:
        """Returns within about half a second: werkzeug's serve loop polls for shutdown that often."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def reset(self) -> None:
        """Forget every queue and message. moto's state is per process, shared by every server and
        mock_aws in it, so tests reset before use rather than trust a fresh port to be empty."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with _direct.open(request, timeout=5):
            pass

    def _port_in_use_message(self) -> str:
        return (
            f"port {self.requested_port} on {self.host} is already in use: if it is LocalStack or another moto, "
            f"point AWS_ENDPOINT_URL at http://{self.host}:{self.requested_port} and do not start one; "
            "otherwise stop that program or choose another port"
        )

    def __enter__(self) -> MotoSqsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
