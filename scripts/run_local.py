"""`make run`: the whole local stack in the foreground until Ctrl-C.

Environment: PORT (8000), REDIS_HOST/REDIS_PORT (127.0.0.1:6379) or REDIS_URL,
AWS_ENDPOINT_URL (an SQS endpoint such as LocalStack; default: moto's server on :4566).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.stack import LocalStack, StackError, StackOptions


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = LocalStack(StackOptions.from_environ(os.environ))
    try:
        summary = stack.start()
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    print(summary.describe(), flush=True)
    try:
        # A bounded wait in a loop, so the signal handler's event is seen promptly.
        while not stopping.wait(timeout=1.0):
            pass
    finally:
        print("stopping the local stack...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
