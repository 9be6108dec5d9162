"""Free loopback ports and waiting for a port to answer."""

from __future__ import annotations

import random
import socket
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_accepts(host, port):
            return True
        time.sleep(0.02)
    return False


# A cluster node also listens on its port + 10000 (the cluster bus), so its port must be at most
# 55535 and both must be free. The kernel's ephemeral range starts at 32768: search below it, where
# no outgoing connection takes a port away between the check and the bind.
CLUSTER_BUS_OFFSET = 10_000
CLUSTER_PORT_RANGE = range(20_000, 32_000)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int] | None = None) -> int:
    """A free port whose cluster bus port (+10000) is free too; `taken` holds ports already
    promised to other nodes that have not bound them yet."""
    avoid = taken or set()
    for port in random.sample(CLUSTER_PORT_RANGE, k=200):
        if {port, port + CLUSTER_BUS_OFFSET} & avoid:
            continue
        if _bindable(port) and _bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")
