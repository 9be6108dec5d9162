"""TLS, ACL users and IAM authentication, end to end: the door delivers through a real TLS
handshake (a terminator with a throwaway CA in front of the test redis-server) to a real ACL user,
spills when it cannot connect, and no password or token reaches a log line or the deep check."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
import redis

from chalicelib.delivery.iam_auth import IamAuth, IamAuthUnavailable, presigned_token
from devstack.redis_server import RedisServer
from devstack.tls_terminator import TlsTerminator
from tests.conftest import ADMIN_TOKEN, STREAM, WriteConfig, stream_events, webhook_settings

JSON = {"Content-Type": "application/json"}
ACL_USER = "relay"
ACL_PASSWORD = "correct-horse-battery-staple"
IAM_CACHE = "orders-cache"
IAM_USER = "relay-iam"
SIGNED_AT = datetime.datetime(2026, 11, 29, 12, 0, 0)


@pytest.fixture
def tls(redis_db: redis.Redis, redis_server: RedisServer) -> Iterator[TlsTerminator]:
    with TlsTerminator(redis_server.host, redis_server.port) as terminator:
        yield terminator


@pytest.fixture
def acl_user(redis_db: redis.Redis) -> Callable[[str, str], None]:
    """Creates ACL users on the test Redis (it outlives the test: they are deleted after)."""
    created: list[str] = []

    def create(name: str, password: str) -> None:
        redis_db.execute_command("ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all")
        created.append(name)

    yield create
    for name in created:
        redis_db.execute_command("ACL", "DELUSER", name)


def tls_webhook(redis_server: RedisServer, terminator: TlsTerminator, **connection: Any) -> dict[str, Any]:
    return webhook_settings(
        redis_server,
        redis={"host": terminator.host, "port": terminator.port, "ssl": True, "stream": STREAM, **connection},
    )


def post(chalice_client: Any, key: str) -> Any:
    return chalice_client.http.post("/webhook/hook", headers={**JSON, "Idempotency-Key": key}, body=b'{"n": 1}')


def deep_redis_check(chalice_client: Any) -> dict[str, Any]:
    response = chalice_client.http.get("/health?deep=1", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    checks = json.loads(response.body)["checks"]
    return next(check for name, check in checks.items() if name.startswith("redis:"))


def test_webhook_over_tls_with_the_servers_ca_delivers(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    sqs: Any, chalice_client: Any,
) -> None:  # fmt: skip
    # given a webhook that trusts the terminator's CA
    write_config({"hook": tls_webhook(redis_server, tls, ssl_ca_certs=tls.ca_file)})

    # when
    response = post(chalice_client, "tls-1")

    # then it went through the TLS endpoint into the stream
    assert response.status_code == 200, response.body
    assert [event["id"] for event in stream_events(redis_db)] == ["tls-1"]


def test_webhook_given_a_rediss_url_delivers_over_tls(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    sqs: Any, chalice_client: Any,
) -> None:  # fmt: skip
    # given
    url = f"rediss://{tls.host}:{tls.port}/0"
    write_config(
        {"hook": webhook_settings(redis_server, redis={"url": url, "ssl_ca_certs": tls.ca_file, "stream": STREAM})}
    )

    # when
    response = post(chalice_client, "tls-url-1")

    # then
    assert response.status_code == 200, response.body
    assert [event["id"] for event in stream_events(redis_db)] == ["tls-url-1"]


@pytest.mark.usefixtures("admin_token")
def test_webhook_over_tls_without_trusting_the_ca_spills_and_deep_health_names_the_certificate_error(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    sqs: Any, chalice_client: Any,
) -> None:  # fmt: skip
    # given a webhook on the TLS endpoint that does not name its CA: certificate checks are on by default
    write_config({"hook": tls_webhook(redis_server, tls)})

    # when
    response = post(chalice_client, "untrusted-1")
    check = deep_redis_check(chalice_client)

    # then the event waits on the retry queue, nothing was written, and the check says why
    assert response.status_code == 202, response.body
    assert stream_events(redis_db) == []
    assert check["ok"] is False
    assert "CERTIFICATE_VERIFY_FAILED" in check["error"]
    assert check["tls"] is True


def test_webhook_over_tls_with_verification_turned_off_delivers(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    sqs: Any, chalice_client: Any,
) -> None:  # fmt: skip
    # given the unsafe opt-out, for a test endpoint
    write_config({"hook": tls_webhook(redis_server, tls, ssl_verify=False)})

    # when / then
    assert post(chalice_client, "unverified-1").status_code == 200
    assert [event["id"] for event in stream_events(redis_db)] == ["unverified-1"]


@pytest.mark.usefixtures("admin_token")
def test_webhook_with_an_acl_user_and_its_password_delivers(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis,
    acl_user: Callable[[str, str], None], sqs: Any, chalice_client: Any,
) -> None:  # fmt: skip
    # given an ACL user, and a webhook signing in as it
    acl_user(ACL_USER, ACL_PASSWORD)
    redis_hook = {"host": redis_server.host, "port": redis_server.port, "stream": STREAM}
    write_config(
        {"hook": webhook_settings(redis_server, redis={**redis_hook, "username": ACL_USER, "password": ACL_PASSWORD})}
    )

    # when
    response = post(chalice_client, "acl-1")

    # then the event is in the stream, written by a connection signed in as that user
    assert response.status_code == 200, response.body
    assert [event["id"] for event in stream_events(redis_db)] == ["acl-1"]
    assert ACL_USER in {client["user"] for client in redis_db.client_list()}
    assert deep_redis_check(chalice_client)["auth"] == "acl"


@pytest.mark.usefixtures("admin_token")
def test_webhook_with_a_wrong_acl_password_spills_and_never_shows_the_password(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis,
    acl_user: Callable[[str, str], None], sqs: Any, chalice_client: Any, relay_log: Callable[[], list[Any]],
) -> None:  # fmt: skip
    # given the ACL user, and a webhook with a wrong password for it
    acl_user(ACL_USER, ACL_PASSWORD)
    wrong = "wrong-password-do-not-log"
    redis_hook = {"host": redis_server.host, "port": redis_server.port, "stream": STREAM}
    write_config(
        {"hook": webhook_settings(redis_server, redis={**redis_hook, "username": ACL_USER, "password": wrong})}
    )

    # when
    response = post(chalice_client, "acl-wrong-1")
    check = deep_redis_check(chalice_client)

    # then the event waits on the retry queue; the check and the log say why, without the password
    assert response.status_code == 202, response.body
    assert stream_events(redis_db) == []
    assert check["ok"] is False and "AuthenticationError" in check["error"]
    said = json.dumps(relay_log()) + json.dumps(check) + response.body.decode()
    assert wrong not in said


@pytest.fixture
def iam_token(monkeypatch: pytest.MonkeyPatch, sqs: Any) -> str:
    """The token the relay's provider will sign: botocore's clock frozen, and the credentials in
    the environment (the function role's, on Lambda; moto's fake ones while `sqs` mocks AWS)."""
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *_, **__: SIGNED_AT)
    credentials = botocore.session.get_session().get_credentials()
    return presigned_token(IamAuth(IAM_CACHE, IAM_USER, "us-east-1", serverless=True), credentials)


@pytest.mark.usefixtures("admin_token")
def test_webhook_with_iam_auth_over_tls_signs_in_with_a_token_for_its_cache_and_user(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    acl_user: Callable[[str, str], None], iam_token: str, sqs: Any, chalice_client: Any,
    relay_log: Callable[[], list[Any]],
) -> None:  # fmt: skip
    # given a Redis user named for the IAM user whose password is the token signed for it, in
    # the function's region (AWS_DEFAULT_REGION here), as ElastiCache checks it
    acl_user(IAM_USER, iam_token)
    iam = {"cache_name": IAM_CACHE, "user_id": IAM_USER, "serverless": True}
    write_config({"hook": tls_webhook(redis_server, tls, ssl_ca_certs=tls.ca_file, auth="iam", iam=iam)})

    # when
    response = post(chalice_client, "iam-1")
    check = deep_redis_check(chalice_client)

    # then the provider's token opened the connection, and no log line or check shows it
    assert response.status_code == 200, response.body
    assert [event["id"] for event in stream_events(redis_db)] == ["iam-1"]
    assert IAM_USER in {client["user"] for client in redis_db.client_list()}
    assert (check["ok"], check["auth"]) == (True, "iam")
    assert iam_token not in json.dumps(relay_log()) + json.dumps(check)


def test_webhook_with_iam_auth_and_no_credentials_to_sign_with_spills_and_never_answers_5xx(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, tls: TlsTerminator,
    sqs: Any, chalice_client: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # given an IAM webhook on a function whose role gives it no credentials
    def no_credentials() -> Any:
        raise IamAuthUnavailable("no AWS credentials to sign an IAM auth token with")

    monkeypatch.setattr("chalicelib.delivery.iam_auth._default_credentials", no_credentials)
    iam = {"cache_name": IAM_CACHE, "user_id": IAM_USER, "serverless": True}
    write_config({"hook": tls_webhook(redis_server, tls, ssl_ca_certs=tls.ca_file, auth="iam", iam=iam)})

    # when two events arrive
    answers = [post(chalice_client, f"iam-none-{n}") for n in range(2)]

    # then both wait on the retry queue (Redis out of reach), none is a 500, none slipped in unauthenticated
    assert [answer.status_code for answer in answers] == [202, 202]
    assert stream_events(redis_db) == []
