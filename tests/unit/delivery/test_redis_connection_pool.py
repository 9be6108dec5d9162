"""The connections the delivery script goes over (delivery/direct_connections.py): bounded, with
a short wait when all are busy; a connection the server closed, or one left mid-reply, is never
reused as it is; a reset closes them all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from chalicelib.config.model import InlineBudget, RedisConnection, RedisTarget
from chalicelib.delivery.circuit_breaker import breaker_for
from chalicelib.delivery.deliver import deliver
from chalicelib.delivery.direct_connections import (
    STALE_CHECK_AFTER_IDLE_SECONDS,
    DirectConnections,
    round_trip,
)
from chalicelib.delivery.redis_clients import MAX_CONNECTIONS_PER_CLIENT, MAX_POOL_WAIT_SECONDS, direct_connections
from chalicelib.delivery.redis_script import DELIVER_SCRIPT, DeliveryOutcome, run_delivery_script
from chalicelib.errors import DestinationUnavailable
from chalicelib.process_state import reset_process_state
from devstack.redis_server import RedisServer
from tests.conftest import STREAM, stream_events
from tests.queue_events import make_envelope

if TYPE_CHECKING:
    from chalicelib.delivery.direct_connections import WireConnection

JSON = {"Content-Type": "application/json"}
CLIENT_NAME = "spillway-test-direct"


@pytest.fixture
def target(redis_server: RedisServer) -> RedisTarget:
    return RedisTarget(RedisConnection(host=redis_server.host, port=redis_server.port), stream=STREAM)


def connections_for(target: RedisTarget, budget: InlineBudget | None = None) -> DirectConnections:
    budget = budget or InlineBudget()
    return direct_connections(target.connection, budget.socket_timeout, budget.connect_timeout)


@pytest.fixture
def every_connection_busy(target: RedisTarget) -> Iterator[list[WireConnection]]:
    """Takes every connection the default inline budget's deliveries use, as busy threads would."""
    connections = connections_for(target)
    held = [connections.borrow()[0] for _ in range(MAX_CONNECTIONS_PER_CLIENT)]
    yield held
    for connection in held:
        connections.give_back(connection)


def test_delivery_that_finds_every_connection_busy_reports_redis_unavailable_within_the_pool_wait(
    redis_db: redis.Redis, target: RedisTarget, every_connection_busy: list[WireConnection]
) -> None:
    # given every connection is taken
    # when
    started = time.monotonic()
    with pytest.raises(DestinationUnavailable, match="No connection available"):
        run_delivery_script(make_envelope(event_id="crowded"), target, InlineBudget())
    waited = time.monotonic() - started

    # then it gave up after the pool wait, opened no connection beyond the bound, and wrote nothing
    assert MAX_POOL_WAIT_SECONDS <= waited < MAX_POOL_WAIT_SECONDS + 0.3
    assert connections_for(target).opened == MAX_CONNECTIONS_PER_CLIENT
    assert stream_events(redis_db) == []


def test_delivery_waiting_for_a_busy_connection_gets_it_as_soon_as_it_is_given_back(
    redis_db: redis.Redis, target: RedisTarget, every_connection_busy: list[WireConnection]
) -> None:
    # given every connection is taken, and one comes back 20 ms later
    connections = connections_for(target)
    returned = every_connection_busy.pop()
    timer = threading.Timer(0.02, connections.give_back, args=(returned,))
    timer.start()

    # when
    outcome = run_delivery_script(make_envelope(event_id="patient"), target, InlineBudget())
    timer.join(timeout=5)

    # then the event went over the returned connection
    assert outcome is DeliveryOutcome.DELIVERED
    assert [event["id"] for event in stream_events(redis_db)] == ["patient"]


def test_webhook_that_finds_every_connection_busy_is_queued_without_waiting_out_its_budget(
    relay_config: dict[str, Any],
    sqs: Any,
    chalice_client: Any,
    redis_server: RedisServer,
) -> None:
    # given every connection of the webhook's Redis is taken
    target = RedisTarget(RedisConnection(host=redis_server.host, port=redis_server.port), stream=STREAM)
    connections = connections_for(target)
    held = [connections.borrow()[0] for _ in range(MAX_CONNECTIONS_PER_CLIENT)]

    # when
    started = time.monotonic()
    response = chalice_client.http.post("/webhook/redis_test", headers={**JSON, "Idempotency-Key": "busy"}, body=b"{}")
    elapsed = time.monotonic() - started
    for connection in held:
        connections.give_back(connection)

    # then the event is safe on the retry queue, answered well within the 1.5 s inline budget
    assert response.status_code == 202
    assert elapsed < 1.0


def test_sequential_deliveries_reuse_one_connection(redis_db: redis.Redis, target: RedisTarget) -> None:
    # given a fresh process
    # when one thread delivers 20 events
    for index in range(20):
        run_delivery_script(make_envelope(event_id=f"one-{index}"), target, InlineBudget())

    # then they all went over the one connection it opened
    assert connections_for(target).opened == 1
    assert len(stream_events(redis_db)) == 20


def test_concurrent_deliveries_stay_within_the_bound_and_all_arrive(redis_db: redis.Redis, target: RedisTarget) -> None:
    # given 24 threads, more than the bound, each delivering 10 events at once
    threads = 24
    errors: list[BaseException] = []

    def deliver_ten(thread_index: int) -> None:
        for index in range(10):
            try:
                run_delivery_script(make_envelope(event_id=f"t{thread_index}-{index}"), target, InlineBudget())
            except BaseException as exc:
                errors.append(exc)

    workers = [threading.Thread(target=deliver_ten, args=(index,)) for index in range(threads)]
    # when
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    # then every event arrived once, over no more connections than the bound
    assert errors == []
    assert not any(worker.is_alive() for worker in workers)
    ids = [event["id"] for event in stream_events(redis_db)]
    assert sorted(ids) == sorted(f"t{thread}-{index}" for thread in range(threads) for index in range(10))
    assert 1 <= connections_for(target).opened <= MAX_CONNECTIONS_PER_CLIENT


def _kill_relay_connections(redis_db: redis.Redis) -> int:
    """Closes, server side, every connection but the test's own (as an idle timeout or a
    failover would)."""
    own_id = redis_db.client_id()
    killed = 0
    for client in redis_db.client_list():
        if int(client["id"]) != own_id:
            redis_db.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


def test_connection_the_server_closed_while_idle_is_replaced_before_the_next_delivery(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given a delivery made, then its connection closed by the server while it sat idle past the check
    budget = InlineBudget()
    run_delivery_script(make_envelope(event_id="before"), target, budget)
    assert _kill_relay_connections(redis_db) == 1
    time.sleep(STALE_CHECK_AFTER_IDLE_SECONDS + 0.1)

    # when the next event comes
    outcome = run_delivery_script(make_envelope(event_id="after"), target, budget)

    # then its first and only try delivered it: the breaker saw no failure
    assert outcome is DeliveryOutcome.DELIVERED
    assert breaker_for(target.connection, budget).consecutive_failures == 0
    assert [event["id"] for event in stream_events(redis_db)] == ["before", "after"]


def test_connection_the_server_closed_while_busy_costs_one_retry_and_the_event_is_delivered_once(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given a delivery made, then its connection closed by the server at once (a failover, CLIENT KILL)
    budget = InlineBudget()
    run_delivery_script(make_envelope(event_id="before"), target, budget)
    assert _kill_relay_connections(redis_db) == 1

    # when the next event comes through the inline path, with its retries
    outcome = deliver(make_envelope(event_id="after"), target, budget)

    # then the retry reconnected and delivered it, once
    assert outcome is DeliveryOutcome.DELIVERED
    assert [event["id"] for event in stream_events(redis_db)] == ["before", "after"]
    assert breaker_for(target.connection, budget).consecutive_failures == 0


def test_connections_the_server_closed_at_once_cost_one_retry_and_never_open_the_breaker(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given four connections in use a moment ago, all closed by the server (a failover, a restart)
    budget = InlineBudget()
    connections = connections_for(target, budget)
    held = [connections.borrow()[0] for _ in range(4)]
    for connection in held:
        round_trip_on(connection)
    for connection in held:
        connections.give_back(connection)
    assert _kill_relay_connections(redis_db) == 4

    # when three events come through the inline path at once after
    outcomes = [deliver(make_envelope(event_id=f"after-{index}"), target, budget) for index in range(3)]

    # then all three were delivered: after the one failed try, the other dead connections were
    # checked before use, and the breaker (2 failures open it) never opened
    assert outcomes == [DeliveryOutcome.DELIVERED] * 3
    assert [event["id"] for event in stream_events(redis_db)] == ["after-0", "after-1", "after-2"]
    assert not breaker_for(target.connection, budget).is_open


def test_after_a_command_fails_the_other_idle_connections_are_checked_before_their_next_use(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given three connections used a moment ago, all closed by the server, and a first command
    # that failed on one of them
    connections = connections_for(target)
    held = [connections.borrow()[0] for _ in range(3)]
    for connection in held:
        round_trip_on(connection)
    for connection in held:
        connections.give_back(connection)
    assert _kill_relay_connections(redis_db) == 3
    with pytest.raises(redis.ConnectionError):
        round_trip(connections, [("PING",)])
    failed_one, _ = connections.borrow()  # busy elsewhere, as a concurrent request's would be

    # when the next command takes another of them, idle for well under the idle check's second
    replies = round_trip(connections, [("ECHO", "next")])
    connections.give_back(failed_one)

    # then it was checked, found closed and replaced before the command went out
    assert replies in ([b"next"], ["next"])


def round_trip_on(connection: WireConnection) -> None:
    connection.send_packed_command(connection.pack_command("PING"))
    connection.read_response()


def test_command_that_times_out_drops_its_connection_and_the_next_one_reconnects(
    redis_db: redis.Redis, redis_server: RedisServer, target: RedisTarget
) -> None:
    # given a connection whose command timed out (Redis hung, then back)
    budget = InlineBudget(socket_timeout=0.2)
    connections = connections_for(target, budget)
    round_trip(connections, [("PING",)])
    redis_server.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            round_trip(connections, [("PING",)])
    finally:
        redis_server.resume()

    # when the next command goes
    replies = round_trip(connections, [("ECHO", "fresh")])

    # then it got its own reply on a new connection, not the late PONG
    assert replies in ([b"fresh"], ["fresh"])
    assert connections.opened == 1


def test_error_reply_comes_back_in_its_place_and_the_replies_after_it_are_read(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given a pipeline of a failing command between two good ones
    connections = connections_for(target)

    # when
    first, failed, last = round_trip(connections, [("ECHO", "a"), ("NOSUCHCOMMAND",), ("ECHO", "b")])
    (after,) = round_trip(connections, [("ECHO", "c")])

    # then each reply is in its place, and the connection is clean for the next command
    assert first in (b"a", "a") and last in (b"b", "b") and after in (b"c", "c")
    assert isinstance(failed, redis.ResponseError)


def test_reset_closes_every_script_connection(redis_db: redis.Redis, target: RedisTarget) -> None:
    # given a delivery made, so one script connection is open
    run_delivery_script(make_envelope(event_id="open"), target, InlineBudget())
    assert len(redis_db.client_list()) == 2

    # when the process state is reset (tests, the local stack after a config change)
    reset_process_state()

    # then the relay holds no connection to Redis any more
    deadline = time.monotonic() + 5
    while len(redis_db.client_list()) > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(redis_db.client_list()) == 1


def test_a_redis_that_lost_the_script_gets_it_loaded_and_the_event_is_delivered_once(
    redis_db: redis.Redis, target: RedisTarget
) -> None:
    # given a delivery made, then the script forgotten (a restarted or failed-over Redis)
    budget = InlineBudget()
    run_delivery_script(make_envelope(event_id="before"), target, budget)
    redis_db.script_flush()

    # when the next event comes
    outcome = run_delivery_script(make_envelope(event_id="after"), target, budget)

    # then the script was loaded again, and the event written once
    assert outcome is DeliveryOutcome.DELIVERED
    assert redis_db.script_exists(DELIVER_SCRIPT.sha) == [True]
    assert [event["id"] for event in stream_events(redis_db)] == ["before", "after"]
