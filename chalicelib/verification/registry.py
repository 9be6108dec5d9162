"""Provider name -> the check to run, and where that provider puts its delivery id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.verification import credentials, generic_hmac, github, shopify, slack, standard_webhooks, stripe
from chalicelib.verification.settings import VerifySettings

Verify = Callable[[VerifySettings, bytes, Mapping[str, str], float], None]


@dataclass(frozen=True)
class Provider:
    verify: Verify
    # Where this sender carries its own delivery id, when it does.
    id_header: str | None = None
    id_json_pointer: str | None = None
    timestamped: bool = False


PROVIDERS: dict[str, Provider] = {
    "github": Provider(github.verify, id_header="x-github-delivery"),
    "stripe": Provider(stripe.verify, id_json_pointer="/id", timestamped=True),
    "slack": Provider(slack.verify, id_json_pointer="/event_id", timestamped=True),
    "shopify": Provider(shopify.verify, id_header="x-shopify-webhook-id"),
    "standard_webhooks": Provider(standard_webhooks.verify, id_header="webhook-id", timestamped=True),
    "hmac": Provider(generic_hmac.verify),
    "token": Provider(credentials.verify_token),
    "basic": Provider(credentials.verify_basic),
}
