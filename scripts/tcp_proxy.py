"""Forward a local TCP port to another until killed (see devstack/tcp_proxy.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from devstack.tcp_proxy import serve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.listen_host, arguments.listen_port, arguments.target_host, arguments.target_port))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
