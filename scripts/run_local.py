"""`make run`: the whole local stack in the foreground until Ctrl-C.

Environment: PORT (8000), REDIS_HOST/REDIS_PORT (127.0.0.1:6379) or REDIS_URL,
AWS_ENDPOINT_URL (an SQS endpoint such as LocalStack; default: moto's server on :4566).
"""

from __future__ import annotations

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from devstack.stack import LocalStack, StackError, StackOptions
from devstack.stop_signals import StopSignals


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop_signals = StopSignals()
    stack = LocalStack(StackOptions.from_environ(os.environ))
    try:
        summary = stack.start()
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    print(summary.describe(), flush=True)
    try:
        stop_signals.wait()
    finally:
        print("stopping the local stack...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
