"""Send one signed webhook to the relay: `python -m scripts.send --help` (`make send WEBHOOK=<id>`).

The logic lives in devstack/send.py; this file only makes it runnable from a checkout.
"""

from __future__ import annotations

import sys

from devstack.send import main

if __name__ == "__main__":
    sys.exit(main())
