"""How webhooks.json says where Redis is and how to reach it: cluster mode, TLS, ACL users and
IAM authentication; mistakes are refused naming the field, and secrets stay out of every message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config.loader import load_config
from chalicelib.config.model import RedisConnection, RedisIam
from chalicelib.errors import ConfigError

IAM = {"cache_name": "orders-cache", "user_id": "relay-iam"}


def load_connection(tmp_path: Path, redis: dict[str, Any]) -> RedisConnection:
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"hook": {"data_type": "json", "redis": {"stream": "events", **redis}}}))
    webhook = load_config(str(path), {}).webhook("hook")
    assert webhook is not None
    return webhook.redis.connection


def refusal(tmp_path: Path, redis: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_connection(tmp_path, redis)
    return caught.value


def test_connection_defaults_to_one_plain_redis_with_certificate_checks_on_for_tls(tmp_path: Path) -> None:
    connection = load_connection(tmp_path, {})
    assert (connection.cluster, connection.tls, connection.ssl_verify, connection.iam) == (False, False, True, None)


def test_cluster_tls_and_acl_user_are_read(tmp_path: Path) -> None:
    # given
    redis = {"host": "cfg.cache.example", "cluster": True, "ssl": True, "ssl_ca_certs": "ca.pem", "username": "relay"}

    # when
    connection = load_connection(tmp_path, {**redis, "password": "pw"})

    # then
    assert connection.cluster and connection.tls
    assert (connection.ssl_ca_certs, connection.username, connection.password) == ("ca.pem", "relay", "pw")


def test_cluster_can_be_named_by_a_rediss_url(tmp_path: Path) -> None:
    connection = load_connection(tmp_path, {"url": "rediss://relay:pw@cfg.cache.example:6379", "cluster": True})
    assert connection.cluster and connection.tls


def test_iam_auth_is_read_with_the_function_region_unless_one_is_given(tmp_path: Path) -> None:
    # given / when
    own_region = load_connection(tmp_path, {"ssl": True, "auth": "iam", "iam": IAM})
    other_region = load_connection(
        tmp_path, {"url": "rediss://c.example:6379", "auth": "iam", "iam": {**IAM, "region": "eu-west-1"}}
    )

    # then
    assert own_region.iam == RedisIam(cache_name="orders-cache", user_id="relay-iam")
    assert own_region.iam.region is None
    assert other_region.iam is not None and other_region.iam.region == "eu-west-1"


@pytest.mark.parametrize(
    ("redis", "field", "problem"),
    [
        ({"cluster": True, "db": 2}, "redis.db", "only database 0"),
        ({"auth": "iam", "iam": IAM}, "redis.auth", "needs TLS"),
        ({"url": "redis://c.example:6379", "auth": "iam", "iam": IAM}, "redis.auth", "needs TLS"),
        ({"ssl": True, "auth": "iam"}, "redis.iam", "required"),
        ({"ssl": True, "auth": "iam", "iam": IAM, "password": "pw"}, "redis.password", "signed token"),
        ({"ssl": True, "auth": "iam", "iam": IAM, "username": "someone"}, "redis.username", "relay-iam"),
        ({"ssl": True, "auth": "iam", "iam": {"user_id": "u"}}, "redis.iam.cache_name", "required"),
        ({"ssl": True, "auth": "iam", "iam": {**IAM, "service": "s3"}}, "redis.iam.service", "memorydb"),
        ({"ssl": True, "iam": IAM}, "redis.iam", "only applies with auth"),
        ({"auth": "token"}, "redis.auth", "iam"),
        ({"ssl_ca_certs": "ca.pem"}, "redis.ssl_ca_certs", "only applies with TLS"),
        ({"url": "redis://c.example:6379", "ssl_verify": False}, "redis.ssl_verify", "only applies with TLS"),
        ({"url": "redis://c.example:6379", "username": "relay"}, "redis.username", "put it in the URL"),
    ],
)
def test_connection_mistakes_are_refused_naming_the_field(
    tmp_path: Path, redis: dict[str, Any], field: str, problem: str
) -> None:
    error = refusal(tmp_path, redis)
    assert (error.webhook_id, error.field) == ("hook", field)
    assert problem in error.problem


def test_iam_refusal_of_a_url_with_a_password_never_shows_the_password(tmp_path: Path) -> None:
    # given an IAM connection whose URL carries a password too
    error = refusal(tmp_path, {"url": "rediss://relay:hunter2@c.example:6379", "auth": "iam", "iam": IAM})

    # then the refusal names the field, not the secret
    assert error.field == "redis.url"
    assert "hunter2" not in str(error)


def test_connection_repr_names_the_mode_and_user_but_no_secret() -> None:
    # given
    by_fields = RedisConnection(host="c.example", password="hunter2", username="relay", ssl=True, cluster=True)
    by_url = RedisConnection(url="rediss://relay:hunter2@c.example:6379")
    by_iam = RedisConnection(host="c.example", ssl=True, iam=RedisIam("orders-cache", "relay-iam"))

    # then
    assert "hunter2" not in repr(by_fields) + repr(by_url)
    assert "cluster=True" in repr(by_fields) and "username='relay'" in repr(by_fields)
    assert "ssl=True" in repr(by_url)
    assert "auth=iam" in repr(by_iam)
