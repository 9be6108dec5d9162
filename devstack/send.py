"""`make send WEBHOOK=<id> BODY=<file or JSON>`: one request signed as the webhook's sender
would sign it, with the secret webhooks.json gives it, and the relay's answer printed.

The webhook comes from the same webhooks.json the relay reads (WEBHOOKS_CONFIG, else the one
beside app.py), with the environment substituted, so `${GITHUB_WEBHOOK_SECRET:-local-dev-secret}`
signs with what the local stack verifies with. Exit status: 0 for a 2xx answer, 1 for any
other answer, 2 when nothing was sent (no such webhook, a broken config, nobody listening).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.config.model import WebhookConfig
from chalicelib.config.settings import get_relay_config
from chalicelib.errors import ConfigError
from devstack.signer import signed_headers
from operations.local_stack_settings import SETTINGS_FILE, read_settings

NOT_SENT = 2
DEFAULT_HOST = "127.0.0.1"
# What `make run` serves on unless PORT says otherwise.
DEFAULT_PORT = "8000"
REQUEST_TIMEOUT_SECONDS = 30
# For a content_types entry with a wildcard (a blob webhook's default, `*/*`).
FALLBACK_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes


class NotSent(Exception):
    """Nothing reached the relay; the message says why and what to do."""


def default_url(environ: Mapping[str, str], settings_path: str = SETTINGS_FILE) -> str:
    """PORT when set; else the URL the running local stack serves on (`make run PORT=9000` in
    another terminal); else what `make run` serves on by default."""
    if environ.get("PORT"):
        return f"http://{DEFAULT_HOST}:{environ['PORT']}"
    stack = read_settings(settings_path)
    if stack is not None:
        return stack.http_url
    return f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def read_body(value: str | None, webhook: WebhookConfig, event_id: str) -> bytes:
    """A file's bytes when the value names a file, `-` for stdin, else the text itself; with
    no value, a small body of the webhook's data type."""
    if value is None or value == "":
        if webhook.data_type == "form":
            return b"hello=world&sent_by=make+send"
        if webhook.data_type == "blob":
            return b"hello world, sent by make send"
        return json.dumps({"id": event_id, "hello": "world", "sent_by": "make send"}).encode()
    if value == "-":
        return sys.stdin.buffer.read()
    if os.path.isfile(value):
        with open(value, "rb") as handle:
            return handle.read()
    return value.encode()


def content_type_for(webhook: WebhookConfig) -> str:
    concrete = [content_type for content_type in webhook.door.content_types if "*" not in content_type]
    return concrete[0] if concrete else FALLBACK_CONTENT_TYPE


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return Answer(response.status, response.reason, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.reason, exc.read())
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise NotSent(
            f"nothing answers at {url} ({reason}): start the local stack with `make run`, or give --url"
        ) from exc


def parse_header(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def parse_arguments(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make send", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("webhook", nargs="?", help="the webhook id in webhooks.json (make send WEBHOOK=...)")
    parser.add_argument("--body", help="a file, '-' for stdin, or the body itself (make send BODY=...)")
    parser.add_argument("--url", default=default_url(environ), help="the relay's base URL (default %(default)s)")
    parser.add_argument("--secret", help="sign with this instead of the webhook's first configured secret")
    parser.add_argument("--event-id", help="the delivery id to send where the provider has one (default: a UUID)")
    parser.add_argument("--content-type", help="default: the webhook's first content type")
    parser.add_argument(
        "--header", type=parse_header, action="append", default=[], help="an extra header, 'Name: value'"
    )
    arguments = parser.parse_args(argv)
    if not arguments.webhook:
        parser.error("which webhook? make send WEBHOOK=<id> (an id of webhooks.json)")
    return arguments


def build_request(arguments: argparse.Namespace, webhook: WebhookConfig) -> tuple[bytes, dict[str, str], str]:
    """The body, the headers and a line saying what is sent (never the secret)."""
    event_id = arguments.event_id or str(uuid.uuid4())
    body = read_body(arguments.body, webhook, event_id)
    headers = {"Content-Type": arguments.content_type or content_type_for(webhook)}
    verify = webhook.door.verify
    if verify is None:
        signing = "unsigned: the webhook has no verify block"
    else:
        secret = arguments.secret if arguments.secret is not None else verify.secrets[0]
        origin = "--secret" if arguments.secret is not None else "its configured secret"
        headers.update(signed_headers(verify, secret, body, timestamp=int(time.time()), message_id=event_id))
        signing = f"signed {verify.provider} with {origin}"
    headers.update(dict(arguments.header))
    return body, headers, f"{len(body)} bytes, {signing}, event id {event_id}"


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    arguments = parse_arguments(argv, environ)
    try:
        config = get_relay_config()
    except ConfigError as exc:
        print(f"send: {exc}", file=sys.stderr)
        return NOT_SENT
    webhook = config.webhook(arguments.webhook)
    if webhook is None:
        configured = ", ".join(sorted(config.webhooks))
        print(f"send: no webhook {arguments.webhook!r} in {config.path}; configured: {configured}", file=sys.stderr)
        return NOT_SENT
    url = f"{arguments.url.rstrip('/')}/webhook/{webhook.webhook_id}"
    body, headers, described = build_request(arguments, webhook)
    print(f"POST {url}  ({described})", flush=True)
    try:
        answer = post(url, body, headers)
    except NotSent as exc:
        print(f"send: {exc}", file=sys.stderr)
        return NOT_SENT
    print(f"HTTP {answer.status} {answer.reason}")
    print(answer.body.decode("utf-8", errors="replace"))
    return 0 if 200 <= answer.status < 300 else 1
