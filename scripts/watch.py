"""Tail the configured Redis streams, one line per event: `python -m scripts.watch --help` (`make watch`).

The logic lives in operations/watch.py; this file only makes it runnable from a checkout.
"""

from __future__ import annotations

import sys

from operations.watch import main

if __name__ == "__main__":
    sys.exit(main())
