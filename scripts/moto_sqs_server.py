"""moto's SQS server alone in its own process, with a clock that keeps deep queues fast, until SIGTERM.

The chaos soak's SQS backend (see devstack/moto_clock.py for why not plain `moto_server`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.moto_clock import use_fast_clock
from devstack.moto_sqs import MotoSqsServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    use_fast_clock()
    server = MotoSqsServer(port=arguments.port, host=arguments.host)
    server.start()
    print(f"moto SQS server on {server.url}", flush=True)
    try:
        while not stopping.wait(timeout=1.0):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
