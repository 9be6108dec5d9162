"""Provider name -> the check to run, and where that provider puts its delivery id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chalicelib.verification import credentials, generic_hmac, github, shopify, slack, standard_webhooks, stripe
from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.verified import Verified

Verify = Callable[[VerifySettings, bytes, Mapping[str, str], float], Verified]
# Checks the settings only this provider reads when the config loads; raises InvalidSettings.
CheckSettings = Callable[[VerifySettings], None]


@dataclass(frozen=True)
class Provider:
    verify: Verify
    # Where this sender carries its own delivery id, when it does and does not sign it.
    id_header: str | None = None
    id_json_pointer: str | None = None
    timestamped: bool = False
    # The signature covers the delivery id: verify() returns it as Verified.signed_id.
    signs_id: bool = False
    check_settings: CheckSettings | None = None


PROVIDERS: dict[str, Provider] = {
    "github": Provider(github.verify, id_header="x-github-delivery"),
    "stripe": Provider(stripe.verify, id_json_pointer="/id", timestamped=True),
    "slack": Provider(slack.verify, id_json_pointer="/event_id", timestamped=True),
    "shopify": Provider(shopify.verify, id_header="x-shopify-webhook-id"),
    "standard_webhooks": Provider(
        standard_webhooks.verify, timestamped=True, signs_id=True, check_settings=standard_webhooks.check_settings
    ),
    "hmac": Provider(generic_hmac.verify, check_settings=generic_hmac.check_settings),
    "token": Provider(credentials.verify_token),
    "basic": Provider(credentials.verify_basic, check_settings=credentials.check_basic_settings),
}


def signs_delivery_id(settings: VerifySettings) -> bool:
    """True when a verified request's event id is the id its signature covers."""
    if settings.provider == "hmac":
        return generic_hmac.signs_message_id(settings)
    return PROVIDERS[settings.provider].signs_id
