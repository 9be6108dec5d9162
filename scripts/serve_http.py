"""Serve app.py over HTTP like `chalice local`, without its keep-alive stall (see devstack/local_http.py).

Only the HTTP function: no Redis, SQS or drain is started (that is `make run`).
"""

from __future__ import annotations

import argparse
import os
import sys

from devstack.local_http import LocalHttpServer, load_stage_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--stage", default="local")
    arguments = parser.parse_args()
    config = load_stage_config(".", arguments.stage)
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    from app import app

    LocalHttpServer(app, host=arguments.host, port=arguments.port, config=config).serve_forever()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
