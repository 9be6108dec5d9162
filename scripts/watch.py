"""Tail the configured Redis streams, one line per event: `python -m scripts.watch --help` (`make watch`).

The logic lives in operations/watch.py; this file only makes it runnable from a checkout.
"""

from __future__ import annotations

import os
import sys

from operations.local_stack_settings import use_local_stack
from operations.watch import main

if __name__ == "__main__":
    # webhooks.json may hold ${ssm:...} or ${secretsmanager:...}: beside `make run` they are read
    # from the stack's emulator, as the relay reads them, so a new terminal needs nothing exported.
    # Quietly: most configurations hold no reference, and then nothing calls AWS at all.
    use_local_stack(os.environ, note=None)
    sys.exit(main())
