"""moto's SQS server alone in its own process, with a clock that keeps deep queues fast, until SIGTERM.

The chaos soak's SQS backend (see devstack/moto_clock.py for why not plain `moto_server`).
"""

from __future__ import annotations

import argparse
import sys

from devstack.moto_clock import use_fast_clock
from devstack.moto_sqs import MotoSqsServer
from devstack.stop_signals import StopSignals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    stop_signals = StopSignals()
    use_fast_clock()
    server = MotoSqsServer(port=arguments.port, host=arguments.host)
    server.start()
    print(f"moto SQS server on {server.url}", flush=True)
    try:
        stop_signals.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
