"""Inspect, replay and purge Spillway's dead-letter queue: `python scripts/dlq.py --help`.

The logic lives in operations/dead_letters.py; this file only makes it runnable from a checkout.
"""

from __future__ import annotations

import os
import sys

# Run as `python scripts/dlq.py` from anywhere: the repository root holds the packages.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from operations.dead_letters import main

if __name__ == "__main__":
    sys.exit(main())
