"""Inspect, replay and purge Spillway's dead-letter queue: `python -m scripts.dlq --help`.

The logic lives in operations/dead_letters.py; this file only makes it runnable from a checkout.
"""

from __future__ import annotations

import os
import sys

from operations.dead_letters import main
from operations.local_stack_settings import use_local_stack

if __name__ == "__main__":
    # Before main() builds its defaults: the queue names and the endpoint may come from the stack.
    use_local_stack(os.environ)
    sys.exit(main())
