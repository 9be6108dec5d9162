"""IAM authentication for ElastiCache and MemoryDB: the Redis password is a SigV4-presigned
request, made here with botocore and handed to redis-py through its CredentialProvider.

The token (AWS ElastiCache User Guide, "Authenticating with IAM"): a GET of
`https://<cache name>/?Action=connect&User=<user id>` (plus `ResourceType=ServerlessCache` for a
serverless cache), presigned with SigV4 for the service `elasticache` (or `memorydb`) in the
cache's region, valid 15 minutes, sent without its `https://`. A connection authenticated with it
stays open past the expiry (ElastiCache ends it after 12 hours); new connections need a fresh
token, so the provider signs a new one well before the old one ends.

botocore is imported only when a webhook uses `auth: "iam"`: a password-only configuration pays
nothing at cold start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import redis.exceptions as redis_errors
from redis.credentials import CredentialProvider

IamService = Literal["elasticache", "memorydb"]
TOKEN_LIFETIME_SECONDS = 900
# Sign anew once a token is this old: a connection opened at the end of its life still has
# minutes left, and Lambda's clock and AWS's may differ by a little.
REFRESH_AFTER_SECONDS = 600
URL_SCHEME = "https://"


@dataclass(frozen=True)
class IamAuth:
    """Which cache and user a token is for. `cache_name` is the serverless cache's name, the
    replication group id (node-based ElastiCache) or the MemoryDB cluster name."""

    cache_name: str
    user_id: str
    region: str
    service: IamService = "elasticache"
    serverless: bool = False


def presigned_token(auth: IamAuth, credentials: Any) -> str:
    """The IAM auth token for `auth`, signed with botocore `credentials` (frozen or refreshable).
    ElastiCache keeps cache names and user ids lower-case and checks the signature against them."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    query = {"Action": "connect", "User": auth.user_id.lower()}
    if auth.serverless:
        query["ResourceType"] = "ServerlessCache"
    request = AWSRequest(method="GET", url=f"{URL_SCHEME}{auth.cache_name.lower()}/?{urlencode(query)}")
    SigV4QueryAuth(credentials, auth.service, auth.region, expires=TOKEN_LIFETIME_SECONDS).add_auth(request)
    return str(request.url).removeprefix(URL_SCHEME)


class IamAuthUnavailable(RuntimeError):
    """No AWS credentials to sign with (the function's role is missing, or nothing is configured)."""


def _default_credentials() -> Any:
    import botocore.session

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise IamAuthUnavailable("no AWS credentials to sign an IAM auth token with")
    return credentials


class IamCredentialProvider(CredentialProvider):
    """redis-py asks it for (username, password) on every new connection; it signs a token at most
    once per REFRESH_AFTER_SECONDS and hands out the cached one in between."""

    def __init__(
        self,
        auth: IamAuth,
        credentials: Callable[[], Any] = _default_credentials,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.auth = auth
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._signed_at = 0.0

    def get_credentials(self) -> tuple[str, str]:
        """Raises redis.ConnectionError when no token can be signed: redis-py then drops the
        half-opened connection (it cleans up only after its own errors), and to the relay it is
        Redis out of reach, a wait, never an error escaping to the sender."""
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._signed_at >= REFRESH_AFTER_SECONDS:
                try:
                    self._token = presigned_token(self.auth, self._credentials())
                except Exception as exc:
                    raise redis_errors.ConnectionError(
                        f"no IAM auth token for {self.auth.cache_name}: {type(exc).__name__}: {exc}"
                    ) from exc
                self._signed_at = now
            return self.auth.user_id, self._token

    def __repr__(self) -> str:
        # The token is a password: never in a log line.
        return f"IamCredentialProvider(cache={self.auth.cache_name!r}, user={self.auth.user_id!r})"
