"""The IAM auth token for ElastiCache and MemoryDB, checked two ways: against AWS's own token
generator (the PyPI package developer-toolkit-elasticache, Amazon's) and against a SigV4
presigned-URL check written here from the algorithm's published steps."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from botocore.credentials import ReadOnlyCredentials
from developer_toolkit_elasticache import generate_iam_auth_token

from chalicelib.delivery.iam_auth import REFRESH_AFTER_SECONDS, IamAuth, IamCredentialProvider, presigned_token

CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
SIGNED_AT = datetime.datetime(2026, 11, 29, 12, 0, 0)


@pytest.fixture
def frozen_signing_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_, **__: SIGNED_AT)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature_is_valid(token: str, secret: str) -> bool:
    """SigV4 for a presigned GET, step by step: canonical request, string to sign, signing key."""
    url = urlsplit("https://" + token)
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature")
    canonical_query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in sorted(query.items())
    )
    canonical_request = "\n".join(
        ["GET", url.path or "/", canonical_query, f"host:{url.netloc}\n", "host", hashlib.sha256(b"").hexdigest()]
    )
    date, region, service, _ = query["X-Amz-Credential"].split("/")[1:]
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    expected = hmac.new(_signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), signature)


@pytest.mark.usefixtures("frozen_signing_clock")
@pytest.mark.parametrize("serverless", [True, False])
def test_token_is_the_one_aws_toolkit_signs_for_the_same_cache_and_user(serverless: bool) -> None:
    # given an ElastiCache cache (serverless, or a replication group) and an IAM-enabled user
    auth = IamAuth(cache_name="Spillway-Cache", user_id="relay-user", region="eu-west-1", serverless=serverless)
    # when Spillway and AWS's own generator sign at the same moment with the same credentials
    ours = presigned_token(auth, CREDENTIALS)
    target = {"serverless_cache_name": "Spillway-Cache"} if serverless else {"replication_group_id": "Spillway-Cache"}
    theirs = generate_iam_auth_token(user_id="relay-user", region="eu-west-1", credentials=_Frozen(), **target)
    # then the tokens are identical, byte for byte
    assert ours == theirs


class _Frozen:
    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return CREDENTIALS


@pytest.mark.usefixtures("frozen_signing_clock")
@pytest.mark.parametrize(
    ("service", "serverless"), [("elasticache", True), ("elasticache", False), ("memorydb", False)]
)
def test_token_is_a_presigned_connect_request_whose_signature_checks_out(service: Any, serverless: bool) -> None:
    # given a cache and a user
    auth = IamAuth(cache_name="my-cache", user_id="app", region="us-east-1", service=service, serverless=serverless)
    # when a token is signed
    token = presigned_token(auth, CREDENTIALS)
    # then it is the cache's host with a connect request, no scheme, valid 15 minutes
    assert token.startswith("my-cache/?")
    query = dict(parse_qsl(urlsplit("https://" + token).query))
    assert query["Action"] == "connect"
    assert query["User"] == "app"
    assert query.get("ResourceType") == ("ServerlessCache" if serverless else None)
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Credential"] == f"AKIDEXAMPLE/20261129/us-east-1/{service}/aws4_request"
    # and its signature is what the SigV4 steps give for that secret, and not for another
    assert signature_is_valid(token, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    assert not signature_is_valid(token, "another-secret")


def test_provider_signs_once_then_again_before_the_token_expires() -> None:
    # given a provider on a clock we move
    moments = [0.0]
    signed: list[int] = []

    def credentials() -> ReadOnlyCredentials:
        signed.append(1)
        return CREDENTIALS

    provider = IamCredentialProvider(
        IamAuth(cache_name="c", user_id="u", region="us-east-1"), credentials=credentials, clock=lambda: moments[0]
    )
    # when connections ask for credentials within the refresh period
    first = provider.get_credentials()
    moments[0] = REFRESH_AFTER_SECONDS - 1
    second = provider.get_credentials()
    # then one token serves them all, with the user id as the username
    assert first == second
    assert first[0] == "u"
    assert len(signed) == 1
    # when the refresh period has passed (still inside the token's 15 minutes)
    moments[0] = REFRESH_AFTER_SECONDS
    provider.get_credentials()
    # then a new token is signed
    assert len(signed) == 2
    # and the token, a password, never shows in its repr
    assert first[1] not in repr(provider)
