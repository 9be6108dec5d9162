"""B8's second baseline: the design Spillway replaces, FastAPI on uvicorn, doing the same work.

The endpoint is async and calls chalicelib.door.receive directly, blocking the event loop for
the Redis round trip as a plain async FastAPI handler with a synchronous client does (no
threadpool). Run: uvicorn bench.fastapi_app:app --workers 1 (bench/b8_local_servers.py does).
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response

from chalicelib.door.receive import receive

app = FastAPI()


@app.post("/webhook/{webhook_id}")
async def webhook(webhook_id: str, request: Request) -> Response:
    # Starlette's header names are lower-case already, as receive() wants them.
    answer = receive(webhook_id, await request.body(), request.headers, request.client.host if request.client else None)
    return Response(
        content=json.dumps(answer.body),
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json",
    )
