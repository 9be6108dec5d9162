"""A PUBLISH Redis refuses inside the delivery script (an ACL user without channel rights) leaves
nothing behind: the event is neither marked as delivered nor added to the stream again and again."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from devstack.redis_server import RedisServer
from tests.conftest import CHANNEL, STREAM, WriteConfig, stream_events, webhook_settings
from tests.queue_events import body_of, make_envelope, make_queue_message

USER = "no-channels"
PASSWORD = "publish-is-refused"


@pytest.fixture
def user_without_channel_rights(redis_db: redis.Redis) -> Iterator[None]:
    # Every key and command, but no pub/sub channel: PUBLISH answers NOPERM.
    redis_db.execute_command("ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~*", "resetchannels", "+@all")
    try:
        yield
    finally:
        redis_db.execute_command("ACL", "DELUSER", USER)


def settings(redis_server: RedisServer, with_stream: bool) -> dict[str, Any]:
    webhook = webhook_settings(redis_server)
    webhook["redis"] = {
        "host": redis_server.host,
        "port": redis_server.port,
        "username": USER,
        "password": PASSWORD,
        "channel": CHANNEL,
        **({"stream": STREAM} if with_stream else {}),
    }
    return webhook


def post(chalice_client: Any, event_id: str) -> Any:
    headers = {"Content-Type": "application/json", "X-GitHub-Delivery": event_id}
    return chalice_client.http.post("/webhook/hook", headers=headers, body=b'{"n": 1}')


@pytest.mark.usefixtures("user_without_channel_rights")
def test_channel_only_event_whose_publish_is_refused_is_queued_unmarked_and_redriven_not_counted_delivered(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a channel-only webhook whose Redis user may not publish
    write_config({"hook": settings(redis_server, with_stream=False)})

    # when the door tries it
    response = post(chalice_client, "evt-refused")

    # then it spills, and no marker claims it was delivered
    assert response.status_code == 202
    assert not redis_db.exists("spillway:delivered:hook:evt-refused")

    # when the drain tries the queued copy
    envelope = make_envelope(webhook_id="hook", event_id="evt-refused")
    report = drain_batch([DrainRecord("m-1", body_of(make_queue_message(envelope)))], rng=random.Random(1))

    # then it is redriven as a refusal, not taken for a duplicate
    assert list(report.outcomes.values()) == [DrainOutcome.REDRIVEN]
    assert not redis_db.exists("spillway:delivered:hook:evt-refused")


@pytest.mark.usefixtures("user_without_channel_rights")
def test_stream_and_channel_event_whose_publish_is_refused_is_never_added_to_the_stream(
    write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis, sqs: Any, chalice_client: Any
) -> None:
    # given a stream and a channel, and a Redis user that may write the stream but not publish
    write_config({"hook": settings(redis_server, with_stream=True)})

    # when the door and then the drain, twice, try the event
    assert post(chalice_client, "evt-thrice").status_code == 202
    envelope = make_envelope(webhook_id="hook", event_id="evt-thrice")
    for attempt in range(2):
        drain_batch([DrainRecord(f"m-{attempt}", body_of(make_queue_message(envelope)))], rng=random.Random(1))

    # then the stream holds no copy (each try's XADD was undone) and nothing is marked
    assert stream_events(redis_db) == []
    assert not redis_db.exists("spillway:delivered:hook:evt-thrice")
