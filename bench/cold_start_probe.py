"""One cold start, for B5: import a Chalice app.py and answer its first request, in this fresh process.

Usage: python -m bench.cold_start_probe PATH/TO/app.py
Prints one line `cold-start {json}` with the milliseconds spent importing and answering. The
clock starts after the interpreter and the standard library modules the event needs are up
(Lambda's runtime has those loaded before it imports the handler), just before the import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

from bench.api_gateway import GithubDeliveries, LambdaContext

RESULT_PREFIX = "cold-start "


def main() -> int:
    app_path = os.path.abspath(sys.argv[1])
    event = GithubDeliveries().next_event()
    context = LambdaContext()
    sys.path.insert(0, os.path.dirname(app_path))
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", app_path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {app_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    imported = time.perf_counter()
    answer = module.app(event, context)
    answered = time.perf_counter()
    result = {
        "import_ms": (imported - started) * 1000,
        "first_request_ms": (answered - imported) * 1000,
        "total_ms": (answered - started) * 1000,
        "status": answer["statusCode"],
        "body": answer["body"],
        "boto3_imported": "boto3" in sys.modules,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
