"""Chalice's HTTP request and response objects, translated to and from the door's terms."""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.door.answers import Answer


def request_body(request: Request) -> bytes:
    body = request.raw_body
    if isinstance(body, str):
        return body.encode("utf-8")
    return body or b""


def request_headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def request_source_ip(request: Request) -> str | None:
    identity = (request.context or {}).get("identity") or {}
    source_ip = identity.get("sourceIp")
    return str(source_ip) if source_ip else None


def to_response(answer: Answer) -> Response:
    return Response(
        body=answer.body, status_code=answer.status, headers={"Content-Type": "application/json", **answer.headers}
    )
