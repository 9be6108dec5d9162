"""What Lambda hands the function for a GitHub webhook: a REST API proxy event and a context.

Standard library only: bench/cold_start_probe.py imports this before it starts the clock on
the app's import, so it must not bring chalice or redis in early.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

BENCH_WEBHOOK_ID = "bench"
BENCH_SECRET = "bench-github-secret"
WEBHOOK_RESOURCE = "/webhook/{webhook_id}"
PAYLOAD_BYTES = 1024


def github_push_payload(size: int = PAYLOAD_BYTES) -> str:
    """A GitHub push event cut down to `size` bytes of compact JSON: nested objects, lists, numbers."""
    commit = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    owner = {"login": "acme", "id": 1042, "type": "Organization", "site_admin": False}
    document: dict[str, Any] = {
        "ref": "refs/heads/main",
        "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
        "after": commit,
        "created": False,
        "deleted": False,
        "forced": False,
        "repository": {
            "id": 1296269,
            "name": "widgets",
            "full_name": "acme/widgets",
            "private": False,
            "owner": owner,
            "html_url": "https://github.com/acme/widgets",
            "default_branch": "main",
        },
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": {**owner, "login": "octocat", "id": 583231, "type": "User"},
        "head_commit": {
            "id": commit,
            "message": "Fix the widget count",
            "timestamp": "2025-01-01T12:00:00Z",
            "author": {"name": "Octo Cat", "email": "octocat@example.com", "username": "octocat"},
            "added": [],
            "removed": [],
            "modified": ["src/widgets.py", "README.md"],
        },
        "compare": "",
    }
    document["compare"] = "x" * (size - len(json.dumps(document, separators=(",", ":"))))
    text = json.dumps(document, separators=(",", ":"))
    if len(text) != size:
        raise ValueError(f"payload is {len(text)} bytes, not {size}: the base document is too large")
    return text


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(body: bytes, delivery_id: str, secret: str = BENCH_SECRET) -> dict[str, str]:
    """The headers GitHub sends, plus what API Gateway adds in front of them."""
    return {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678",
        "X-Forwarded-For": "192.0.2.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Event": "push",
        "X-GitHub-Hook-ID": "292430182",
        "X-GitHub-Hook-Installation-Target-ID": "79929171",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature-256": github_signature(secret, body),
    }


def rest_api_event(path: str, path_parameters: dict[str, str], headers: dict[str, str], body: str) -> dict[str, Any]:
    """API Gateway's REST API (v1) proxy event for a POST to WEBHOOK_RESOURCE."""
    return {
        "resource": WEBHOOK_RESOURCE,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "2gxmpl",
            "resourcePath": WEBHOOK_RESOURCE,
            "httpMethod": "POST",
            "extendedRequestId": "JJbxmHc1IAMFyxQ=",
            "requestTime": "01/Jan/2025:12:00:00 +0000",
            "path": f"/api{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "api",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1735732800000,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "192.0.2.10", "userAgent": headers.get("User-Agent", "")},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class GithubDeliveries:
    """Fresh GitHub deliveries of one signed body: each call is a new event (its own
    X-GitHub-Delivery), so none is a duplicate; the signature covers the body only."""

    def __init__(self, webhook_id: str = BENCH_WEBHOOK_ID, body: str | None = None) -> None:
        self.body = body if body is not None else github_push_payload()
        self._headers = github_headers(self.body.encode(), "template")
        self._template = rest_api_event(f"/webhook/{webhook_id}", {"webhook_id": webhook_id}, self._headers, self.body)

    def next_event(self) -> dict[str, Any]:
        delivery_id = str(uuid.uuid4())
        headers = {**self._headers, "X-GitHub-Delivery": delivery_id}
        return {
            **self._template,
            "headers": headers,
            "multiValueHeaders": {**self._template["multiValueHeaders"], "X-GitHub-Delivery": [delivery_id]},
        }


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that a handler may read."""

    function_name: str = "spillway-dev"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:spillway-dev"
    log_group_name: str = "/aws/lambda/spillway-dev"
    log_stream_name: str = "2025/01/01/[$LATEST]bench"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000
