"""`make watch`: events the door delivered to a real redis-server are printed, one line each
(or the envelope with --json), and acknowledged in the watch's consumer group."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from chalicelib.config.loader import parse_config
from devstack.redis_cluster import RedisCluster
from devstack.redis_server import RedisServer
from operations import watch
from tests.chalice_project import PROJECT_ROOT
from tests.conftest import STREAM, WriteConfig, stream_events, webhook_settings
from tests.signed_requests import JSON, post, sign_github

GROUP = watch.DEFAULT_GROUP
SECRET = "watch-secret"
# Bounds for waiting on a watch running in a thread or a process.
WAIT_SECONDS = 10.0


@pytest.fixture
def watched_config(write_config: WriteConfig, redis_server: RedisServer, redis_db: redis.Redis) -> dict[str, Any]:
    """redis_test (unsigned) and a GitHub webhook, both writing to the test Redis's one stream."""
    document = {
        "redis_test": webhook_settings(redis_server),
        "github_hook": webhook_settings(redis_server, verify={"provider": "github", "secrets": [SECRET]}),
    }
    write_config(document)
    return document


def deliver_github(chalice_client: Any, payload: dict[str, Any], delivery_id: str) -> None:
    body = json.dumps(payload).encode()
    response = post(chalice_client, "github_hook", body, {**JSON, **sign_github(SECRET, body, 0, delivery_id)})
    assert response.status_code == 200, response.body


def pending_count(client: redis.Redis) -> int:
    return int(client.xpending(STREAM, GROUP)["pending"])


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.02)


class WatchThread:
    """operations.watch.main in a thread, its output in buffers, bounded by --timeout."""

    def __init__(self, arguments: list[str]) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run, args=(arguments,), daemon=True)

    def _run(self, arguments: list[str]) -> None:
        self.status = watch.main(arguments, self.out, self.err)

    def __enter__(self) -> WatchThread:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.thread.join(WAIT_SECONDS + 5)
        assert not self.thread.is_alive(), "watch did not stop at its --timeout"


@pytest.fixture
def group_exists(redis_db: redis.Redis) -> Callable[[], bool]:
    def exists() -> bool:
        try:
            return any(group["name"] == GROUP.encode() for group in redis_db.xinfo_groups(STREAM))
        except redis.ResponseError:
            return False

    return exists


def test_watch_prints_one_line_per_event_and_acknowledges_it(
    watched_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a signed event the door delivered to the stream
    deliver_github(chalice_client, {"action": "opened"}, "gh-delivery-1")
    size = len(redis_db.xrange(STREAM)[0][1][b"event"])

    # when watch reads the stream from its start
    status = watch.main(["--from-start", "--count", "1", "--timeout", str(WAIT_SECONDS)])

    # then one readable line: webhook, event id, verified_by, size, age; and nothing left pending
    out = capsys.readouterr().out
    assert status == watch.DONE
    (line,) = out.splitlines()
    webhook, event_id, verified, shown_size, age = line.split("  ")
    assert (webhook, event_id, verified, shown_size) == (
        "github_hook",
        "gh-delivery-1",
        "verified_by=github",
        f"{size} B",
    )
    assert age.endswith(" s ago") and float(age.removesuffix(" s ago")) >= 0
    assert pending_count(redis_db) == 0
    assert redis_db.xinfo_groups(STREAM)[0]["last-delivered-id"] == redis_db.xrange(STREAM)[0][0]


def test_watch_json_prints_the_envelope_as_delivered(
    watched_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    deliver_github(chalice_client, {"action": "closed"}, "gh-delivery-2")

    # when
    status = watch.main(["--from-start", "--json", "--count", "1", "--timeout", str(WAIT_SECONDS)])

    # then stdout is exactly the envelope, one JSON document per line
    (line,) = capsys.readouterr().out.splitlines()
    assert status == watch.DONE
    assert json.loads(line) == stream_events(redis_db)[0]
    assert json.loads(line)["payload"] == {"action": "closed"}
    assert pending_count(redis_db) == 0


def test_watch_starts_at_new_events_by_default(
    watched_config: dict[str, Any],
    chalice_client: Any,
    redis_db: redis.Redis,
    group_exists: Callable[[], bool],
) -> None:
    # given an event from before the watch started
    response = post(chalice_client, "redis_test", b'{"n": "old"}')
    assert response.status_code == 200

    with WatchThread(["--count", "1", "--timeout", str(WAIT_SECONDS)]) as running:
        wait_until(group_exists, "the watch's group exists")
        # when a new event arrives while it watches
        response = post(chalice_client, "redis_test", b'{"n": "new"}')
        new_id = json.loads(response.body)["event_id"]

    # then only the new one is shown
    assert running.status == watch.DONE
    (line,) = running.out.getvalue().splitlines()
    assert line.startswith(f"redis_test  {new_id}  verified_by=-  ")


def test_an_event_printed_but_never_acknowledged_is_shown_again_by_the_next_watch(
    watched_config: dict[str, Any], chalice_client: Any, redis_db: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a watch that was handed an event and stopped before its XACK
    deliver_github(chalice_client, {"action": "reopened"}, "gh-delivery-3")
    redis_db.xgroup_create(STREAM, GROUP, id="0")
    redis_db.xreadgroup(GROUP, watch.DEFAULT_CONSUMER, {STREAM: ">"})
    assert pending_count(redis_db) == 1

    # when the next watch starts (at new events)
    status = watch.main(["--count", "1", "--timeout", str(WAIT_SECONDS)])

    # then it shows that event first and acknowledges it
    assert status == watch.DONE
    assert "gh-delivery-3" in capsys.readouterr().out
    assert pending_count(redis_db) == 0


def test_watch_keeps_waiting_through_a_redis_outage_and_shows_what_arrives_after(
    watched_config: dict[str, Any],
    chalice_client: Any,
    redis_server: RedisServer,
    redis_db: redis.Redis,
    group_exists: Callable[[], bool],
) -> None:
    with WatchThread(["--count", "1", "--timeout", str(WAIT_SECONDS)]) as running:
        wait_until(group_exists, "the watch's group exists")
        # given Redis goes away while watch waits
        redis_server.stop()
        wait_until(lambda: "Redis unreachable" in running.err.getvalue(), "watch says Redis is unreachable")

        # when it comes back (with its data) and an event arrives
        redis_server.start()
        deliver_github(chalice_client, {"after": "outage"}, "gh-after-outage")

    # then watch said so once each way and shows the event
    assert running.status == watch.DONE
    assert running.err.getvalue().count("Redis unreachable") == 1
    assert "Redis is back" in running.err.getvalue()
    assert "gh-after-outage" in running.out.getvalue()


def test_watch_that_sees_fewer_events_than_counted_exits_1_at_its_timeout(
    watched_config: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # when nothing arrives
    status = watch.main(["--count", "2", "--timeout", "0.2"])

    # then
    assert status == watch.COUNT_NOT_REACHED
    assert "0 of 2 events" in capsys.readouterr().err


def test_streams_are_watched_once_per_connection_and_stream() -> None:
    # given two webhooks on one stream, one on another stream, one channel-only, one elsewhere
    config = parse_config(
        {
            "a": {"data_type": "json", "redis": {"port": 6379, "stream": "events"}},
            "b": {"data_type": "json", "redis": {"port": 6379, "stream": "events", "channel": "c"}},
            "c": {"data_type": "json", "redis": {"port": 6379, "stream": "other"}},
            "d": {"data_type": "json", "redis": {"port": 6379, "channel": "only"}},
            "e": {"data_type": "json", "redis": {"port": 6380, "stream": "events"}},
        },
        "webhooks.json",
        {},
    )

    # when / then
    watched = watch.streams_to_watch(config)
    assert [(item.connection.port, item.stream, item.webhook_ids) for item in watched] == [
        (6379, "events", ("a", "b")),
        (6379, "other", ("c",)),
        (6380, "events", ("e",)),
    ]
    assert [item.webhook_ids for item in watch.streams_to_watch(config, "c")] == [("c",)]


def test_watch_of_a_channel_only_or_unknown_webhook_says_why_and_exits_2(
    write_config: WriteConfig, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    write_config({"pubsub": {"data_type": "json", "redis": {"port": redis_server.port, "channel": "c"}}})

    # when / then
    assert watch.main(["--webhook", "pubsub", "--timeout", "1"]) == watch.UNUSABLE
    assert "'redis.stream': is not set (channel only)" in capsys.readouterr().err
    assert watch.main(["--webhook", "nope", "--timeout", "1"]) == watch.UNUSABLE
    assert "no such webhook; configured: pubsub" in capsys.readouterr().err


@pytest.fixture
def watch_process(watched_config: dict[str, Any]) -> Iterator[subprocess.Popen[str]]:
    """`python -m scripts.watch` as `make watch` runs it, with no bound but Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.watch"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=WAIT_SECONDS)


def test_ctrl_c_stops_make_watch_without_a_traceback(
    watch_process: subprocess.Popen[str], group_exists: Callable[[], bool]
) -> None:
    # given a watch that is waiting for events
    wait_until(group_exists, "the watch's group exists")

    # when Ctrl-C
    watch_process.send_signal(signal.SIGINT)
    _, err = watch_process.communicate(timeout=WAIT_SECONDS)

    # then it exits 0 and says nothing alarming
    assert watch_process.returncode == 0, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[RedisCluster]:
    """A real Redis Cluster, 3 primaries + 3 replicas (~2 s to start), for this module's cluster test."""
    with RedisCluster() as cluster:
        yield cluster


def test_watch_in_cluster_mode_shows_events_of_streams_in_different_slots(
    write_config: WriteConfig,
    local_cluster: RedisCluster,
    sqs: Any,
    chalice_client: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given two cluster webhooks whose streams hash to different slots, one event delivered to each
    streams = ("events_a", "events_b")
    assert key_slot(streams[0].encode()) != key_slot(streams[1].encode())
    host, port = local_cluster.startup_nodes[0]
    write_config(
        {
            webhook_id: {"data_type": "json", "redis": {"cluster": True, "host": host, "port": port, "stream": stream}}
            for webhook_id, stream in zip(("hook_a", "hook_b"), streams, strict=True)
        }
    )
    for webhook_id in ("hook_a", "hook_b"):
        response = chalice_client.http.post(
            f"/webhook/{webhook_id}", headers={**JSON, "Idempotency-Key": f"{webhook_id}-1"}, body=b'{"n": 1}'
        )
        assert response.status_code == 200, response.body

    # when watch reads both streams from their start
    status = watch.main(["--from-start", "--count", "2", "--timeout", str(WAIT_SECONDS)])

    # then both events are shown (one XREADGROUP across the two slots would be refused: CROSSSLOT)
    captured = capsys.readouterr()
    assert status == watch.DONE, captured.err
    assert sorted(line.split("  ")[:2] for line in captured.out.splitlines()) == [
        ["hook_a", "hook_a-1"],
        ["hook_b", "hook_b-1"],
    ]
