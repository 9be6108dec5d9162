"""Provider name -> the check to run, and where that provider puts its delivery id.

A provider's module is imported the first time a webhook uses it (`checks()`): a config names
one or two of these schemes, and importing all of them at load cost every cold start of the
function (bench B5). Each loader below imports its module inside the function, so mypy still
checks every check against Verify and CheckSettings, and a config loaded later (an SSM refresh)
that names a new provider imports it then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from chalicelib.process_state import ProcessCache
from chalicelib.verification.settings import VerifySettings
from chalicelib.verification.verified import Verified

Verify = Callable[[VerifySettings, bytes, Mapping[str, str], float], Verified]
# Checks the settings only this provider reads when the config loads; raises InvalidSettings.
CheckSettings = Callable[[VerifySettings], None]


# NamedTuples, not frozen dataclasses: as immutable, but Python builds a frozen dataclass's
# methods at import, ~0.25 ms a class on every cold start (bench B5).
class Checks(NamedTuple):
    """What a provider's own module does."""

    verify: Verify
    check_settings: CheckSettings | None = None


class Provider(NamedTuple):
    """One verification scheme: how to load its check, and what it knows of delivery ids."""

    # Imports the provider's module and returns its checks: call checks(name), which keeps them.
    load: Callable[[], Checks]
    # Where this sender carries its own delivery id, when it does and does not sign it.
    id_header: str | None = None
    id_json_pointer: str | None = None
    timestamped: bool = False
    # The signature covers the delivery id: verify() returns it as Verified.signed_id.
    signs_id: bool = False


def _github() -> Checks:
    from chalicelib.verification import github

    return Checks(github.verify)


def _stripe() -> Checks:
    from chalicelib.verification import stripe

    return Checks(stripe.verify)


def _slack() -> Checks:
    from chalicelib.verification import slack

    return Checks(slack.verify)


def _shopify() -> Checks:
    from chalicelib.verification import shopify

    return Checks(shopify.verify)


def _standard_webhooks() -> Checks:
    from chalicelib.verification import standard_webhooks

    return Checks(standard_webhooks.verify, standard_webhooks.check_settings)


def _hmac() -> Checks:
    from chalicelib.verification import generic_hmac

    return Checks(generic_hmac.verify, generic_hmac.check_settings)


def _token() -> Checks:
    from chalicelib.verification import credentials

    return Checks(credentials.verify_token)


def _basic() -> Checks:
    from chalicelib.verification import credentials

    return Checks(credentials.verify_basic, credentials.check_basic_settings)


PROVIDERS: dict[str, Provider] = {
    "github": Provider(_github, id_header="x-github-delivery"),
    "stripe": Provider(_stripe, id_json_pointer="/id", timestamped=True),
    "slack": Provider(_slack, id_json_pointer="/event_id", timestamped=True),
    "shopify": Provider(_shopify, id_header="x-shopify-webhook-id"),
    "standard_webhooks": Provider(_standard_webhooks, timestamped=True, signs_id=True),
    "hmac": Provider(_hmac),
    "token": Provider(_token),
    "basic": Provider(_basic),
}


def _load(provider: str) -> Checks:
    return PROVIDERS[provider].load()


_CHECKS: ProcessCache[str, Checks] = ProcessCache("verification checks")


def checks(provider: str) -> Checks:
    """The provider's checks, its module imported on first use. KeyError for an unknown name
    (the loader accepts only PROVIDERS' names)."""
    return _CHECKS.get(provider, _load)


def signs_delivery_id(settings: VerifySettings) -> bool:
    """True when a verified request's event id is the id its signature covers."""
    if settings.provider == "hmac":
        from chalicelib.verification.generic_hmac import signs_message_id

        return signs_message_id(settings)
    return PROVIDERS[settings.provider].signs_id
