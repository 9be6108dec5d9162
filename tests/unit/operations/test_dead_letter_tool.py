"""The dead-letter tool: list, show, replay and purge, against moto's SQS and the real Redis."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from chalicelib.envelope import Envelope, utc_timestamp
from chalicelib.process_state import reset_process_state
from chalicelib.queue.dead_letter import DeadLetter, DeadLetterInfo, DeadLetterReason
from chalicelib.queue.drain import DrainOutcome, DrainRecord, drain_batch
from chalicelib.queue.message import decode_queue_message, encode_queue_message, new_queue_message
from devstack.ports import free_port, wait_for_port
from operations.dead_letter_messages import ScanLimits
from operations.dead_letters import main
from operations.queue_bootstrap import QueueUrls, bootstrap_queues
from tests.chalice_project import PROJECT_ROOT as PROJECT_ROOT_PATH
from tests.conftest import DEAD_LETTER_QUEUE, RETRY_QUEUE, drain_messages, stream_events

PROJECT_ROOT = str(PROJECT_ROOT_PATH)
# No long polling in tests: moto really waits WaitTimeSeconds on an empty queue.
FAST = ScanLimits(wait_seconds=0, max_seconds=10.0)


@dataclass
class Queues:
    client: Any
    urls: QueueUrls


@dataclass
class Run:
    code: int
    out: str
    err: str
    prompts: list[str] = field(default_factory=list)


@pytest.fixture
def queues() -> Iterator[Queues]:
    """moto's SQS with both queues as the bootstrap makes them: the DLQ is the redrive target."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("sqs", region_name="us-east-1")
        urls = bootstrap_queues(client, RETRY_QUEUE, DEAD_LETTER_QUEUE)
        reset_process_state()  # the relay's own client is built inside the mock, like the tool's
        yield Queues(client, urls)
        reset_process_state()


def dlq(queues: Queues, *argv: str, answer: str | Callable[[str], str] = "", limits: ScanLimits = FAST) -> Run:
    """Runs the dead-letter tool in-process with the moto client; `answer` is what the operator types."""
    out, err = io.StringIO(), io.StringIO()
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return answer(prompt) if callable(answer) else answer

    code = main(list(argv), client=queues.client, ask=ask, out=out, err=err, environ={}, limits=limits)
    return Run(code, out.getvalue(), err.getvalue(), prompts)


def make_envelope(
    webhook_id: str = "redis_test", event_id: str | None = None, age: timedelta = timedelta()
) -> Envelope:
    return Envelope(
        id=event_id or f"evt-{uuid.uuid4().hex[:12]}",
        webhook_id=webhook_id,
        received_at=utc_timestamp(datetime.now(UTC) - age),
        data_type="json",
        content_type="application/json",
        headers={"content-type": "application/json"},
        payload={"order": 42},
    )


def dead_letter_body(
    envelope: Envelope | None,
    reason: DeadLetterReason = "exhausted",
    attempts: int = 5,
    last_error: str = "ResponseError: WRONGTYPE Operation against a key holding the wrong kind of value",
    raw_body: str | None = None,
) -> str:
    """The document the drain writes (chalicelib.queue.dead_letter's types keep the shape honest)."""
    redrive = None
    if envelope is not None:
        redrive = new_queue_message(envelope, envelope["received_at"], last_error)["redrive"]
        redrive["attempts"] = attempts
    info = DeadLetterInfo(
        reason=reason,
        detail=f"Redis refused it {attempts} times" if reason == "exhausted" else "not a Spillway queue message",
        webhook_id=envelope["webhook_id"] if envelope else None,
        event_id=envelope["id"] if envelope else None,
        attempts=attempts if envelope else 0,
        age_seconds=12.5,
        last_error=last_error if envelope else "",
        dead_lettered_at=utc_timestamp(datetime.now(UTC)),
        source_message_id=str(uuid.uuid4()),
    )
    return encode_queue_message(
        dict(DeadLetter(envelope=envelope, redrive=redrive, dead_letter=info, raw_body=raw_body))
    )


def put_dead_letter(queues: Queues, body: str) -> str:
    return str(queues.client.send_message(QueueUrl=queues.urls.dead_letter_queue_url, MessageBody=body)["MessageId"])


def move_by_sqs(queues: Queues, body: str) -> None:
    """A retry-queue message received maxReceiveCount (5) times and never deleted: SQS moves it."""
    queues.client.send_message(QueueUrl=queues.urls.retry_queue_url, MessageBody=body)
    for _ in range(6):
        queues.client.receive_message(QueueUrl=queues.urls.retry_queue_url, VisibilityTimeout=0)


def bodies(queues: Queues, queue_name: str) -> list[str]:
    return [message["Body"] for message in drain_messages(queues.client, queue_name)]


def on_dead_letter_queue(queues: Queues) -> set[str]:
    """Event ids (or raw bodies, for what is not JSON) now visible on the DLQ."""
    seen = set()
    for body in bodies(queues, DEAD_LETTER_QUEUE):
        try:
            document = json.loads(body)
            seen.add(document["envelope"]["id"] if document.get("envelope") else document["raw_body"])
        except ValueError:
            seen.add(body)
    return seen


# --- list ----------------------------------------------------------------------------------


def test_list_shows_message_id_event_id_webhook_reason_attempts_and_last_error(queues: Queues) -> None:
    # given
    envelope = make_envelope(event_id="evt-list-1")
    message_id = put_dead_letter(queues, dead_letter_body(envelope, attempts=5, last_error="ResponseError: WRONGTYPE"))

    # when
    run = dlq(queues, "list")

    # then
    assert run.code == 0
    row = next(line for line in run.out.splitlines() if message_id in line)
    for column in ("evt-list-1", "redis_test", "exhausted", " 5 ", "ResponseError: WRONGTYPE"):
        assert column in row
    assert "1 message(s) on spillway-dead-letter" in run.out


def test_list_truncates_a_long_last_error_to_one_short_line(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(), last_error="ResponseError:\n" + "x" * 500))

    # when
    run = dlq(queues, "list")

    # then
    row = run.out.splitlines()[1]
    assert row.endswith("...")
    assert "x" * 100 not in row


def test_list_leaves_every_message_visible_on_the_queue(queues: Queues) -> None:
    # given
    ids = {put_dead_letter(queues, dead_letter_body(make_envelope())) for _ in range(12)}

    # when
    dlq(queues, "list")

    # then: all of them can be received again at once, so none is still hidden by the listing
    assert {message["MessageId"] for message in drain_messages(queues.client, DEAD_LETTER_QUEUE)} == ids


def test_list_filters_by_webhook(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope("redis_test", "evt-mine")))
    put_dead_letter(queues, dead_letter_body(make_envelope("form_hook", "evt-other")))

    # when
    run = dlq(queues, "list", "--webhook", "redis_test")

    # then
    assert "evt-mine" in run.out
    assert "evt-other" not in run.out


def test_list_stops_at_the_limit_and_says_more_may_remain(queues: Queues) -> None:
    # given
    for _ in range(15):
        put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    run = dlq(queues, "list", "--limit", "3")

    # then
    assert "3 message(s) on" in run.out
    assert "more may remain" in run.out
    assert len(drain_messages(queues.client, DEAD_LETTER_QUEUE)) == 15


def test_list_shows_each_message_once_when_sqs_hands_it_out_again(queues: Queues) -> None:
    # given: a visibility timeout of 0, so every receive returns the same messages again
    for _ in range(3):
        put_dead_letter(queues, dead_letter_body(make_envelope()))
    limits = ScanLimits(wait_seconds=0, list_visibility_seconds=0, max_seconds=10.0)

    # when
    run = dlq(queues, "--json", "list", limits=limits)

    # then
    rows = json.loads(run.out)
    assert len(rows) == len({row["message_id"] for row in rows}) == 3


def test_list_json_gives_one_object_per_message_with_the_flag_before_or_after_the_command(queues: Queues) -> None:
    # given
    envelope = make_envelope(event_id="evt-json")
    message_id = put_dead_letter(queues, dead_letter_body(envelope, attempts=4, last_error="boom"))

    # when
    before, after = dlq(queues, "--json", "list"), dlq(queues, "list", "--json")

    # then
    assert [row["message_id"] for row in json.loads(before.out)] == [message_id]
    [row] = json.loads(after.out)
    assert row["message_id"] == message_id
    assert (row["event_id"], row["webhook_id"], row["reason"]) == ("evt-json", "redis_test", "exhausted")
    assert row["attempts"] == 4
    assert row["last_error"] == "boom"
    assert row["replayable"] is True


def test_list_shows_a_queue_message_sqs_moved_after_max_receive_count(queues: Queues) -> None:
    # given: a plain queue message (no dead_letter block), moved by SQS's redrive policy
    envelope = make_envelope(event_id="evt-moved")
    move_by_sqs(queues, encode_queue_message(new_queue_message(envelope, envelope["received_at"], "drain timed out")))

    # when
    [row] = json.loads(dlq(queues, "list", "--json").out)

    # then
    assert (row["event_id"], row["reason"], row["attempts"]) == ("evt-moved", "max_receive_count", 0)
    assert row["last_error"] == "drain timed out"
    assert row["replayable"] is True


def test_list_shows_bodies_that_are_not_json_as_unreadable(queues: Queues) -> None:
    # given: something that is not ours at all, moved by SQS, and a JSON body that is not ours
    move_by_sqs(queues, "<xml>not json</xml>")
    put_dead_letter(queues, json.dumps({"hello": "world"}))

    # when
    rows = json.loads(dlq(queues, "list", "--json").out)

    # then
    assert sorted(row["reason"] for row in rows) == ["unreadable", "unreadable"]
    assert sorted(row["detail"] for row in rows) == ["JSON, but not a Spillway message", "body is not JSON"]
    assert not any(row["replayable"] for row in rows)
    assert "unreadable" in dlq(queues, "list").out


def test_list_reads_the_dead_letters_the_drain_itself_writes(queues: Queues, relay_config: dict[str, Any]) -> None:
    # given: the real drain dead-letters a body that is not JSON, an unconfigured webhook and an old event
    old = make_envelope(event_id="evt-old", age=timedelta(days=2))  # the seed's max age is 1 day
    stranger = make_envelope(webhook_id="nobody", event_id="evt-stranger")
    records = [
        DrainRecord("m-junk", "definitely not json"),
        DrainRecord("m-old", encode_queue_message(new_queue_message(old, old["received_at"], "refused"))),
        DrainRecord("m-stranger", encode_queue_message(new_queue_message(stranger, stranger["received_at"], ""))),
    ]
    report = drain_batch(records)
    assert set(report.outcomes.values()) == {DrainOutcome.DEAD_LETTERED}

    # when
    rows = {row["event_id"]: row for row in json.loads(dlq(queues, "list", "--json").out)}

    # then
    assert rows["evt-old"]["reason"] == "expired"
    assert rows["evt-stranger"]["reason"] == "poison"
    assert rows["evt-stranger"]["replayable"] is True  # it has an envelope: replayable once configured
    assert rows[None]["reason"] == "poison"
    assert rows[None]["replayable"] is False


# --- show ----------------------------------------------------------------------------------


def test_show_prints_the_whole_document_found_by_event_id_or_by_message_id(queues: Queues) -> None:
    # given
    body = dead_letter_body(make_envelope(event_id="evt-show"))
    message_id = put_dead_letter(queues, body)
    put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    by_event, by_message = dlq(queues, "show", "evt-show"), dlq(queues, "show", message_id)

    # then
    assert by_event.code == by_message.code == 0
    assert json.loads(by_event.out) == json.loads(by_message.out) == json.loads(body)
    assert "\n  " in by_event.out  # pretty-printed
    assert len(drain_messages(queues.client, DEAD_LETTER_QUEUE)) == 2


def test_show_of_an_unknown_id_says_so_and_exits_1(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    run = dlq(queues, "show", "evt-nowhere")

    # then
    assert run.code == 1
    assert "evt-nowhere" in run.err


# --- replay --------------------------------------------------------------------------------


def test_replay_sends_a_fresh_queue_message_with_attempts_reset_and_removes_the_dead_letter(queues: Queues) -> None:
    # given
    envelope = make_envelope(event_id="evt-replay")
    put_dead_letter(queues, dead_letter_body(envelope, attempts=5, last_error="ResponseError: OOM"))

    # when
    run = dlq(queues, "replay", "--all")

    # then
    assert run.code == 0
    assert "replayed 1/1" in run.out
    [body] = bodies(queues, RETRY_QUEUE)
    message = decode_queue_message(body)
    assert message["envelope"] == envelope
    assert (message["redrive"]["attempts"], message["redrive"]["waits"]) == (0, 0)
    assert "ResponseError: OOM" in message["redrive"]["last_error"]
    assert bodies(queues, DEAD_LETTER_QUEUE) == []


def test_replay_keeps_numbers_a_double_would_change(queues: Queues) -> None:
    # given a dead letter whose payload holds numbers no double holds (the door keeps them)
    envelope = make_envelope(event_id="evt-exact")
    body = dead_letter_body(envelope).replace('{"order":42}', '{"a":0.10000000000000000555,"b":1E-400,"c":1E+400}')
    assert "1E+400" in body
    put_dead_letter(queues, body)

    # when
    assert dlq(queues, "replay", "--all").code == 0

    # then the fresh queue message carries them as sent (never 0.1, 0.0 or Infinity)
    [replayed] = bodies(queues, RETRY_QUEUE)
    assert '"payload":{"a":0.10000000000000000555,"b":1E-400,"c":1E+400}' in replayed


def test_replayed_event_is_delivered_to_redis_by_the_drain(
    queues: Queues, relay_config: dict[str, Any], redis_db: redis.Redis
) -> None:
    # given: an event the drain gave up on, replayed to the retry queue
    envelope = make_envelope(event_id="evt-delivered")
    put_dead_letter(queues, dead_letter_body(envelope))
    assert dlq(queues, "replay", "--id", "evt-delivered").code == 0

    # when: the drain gets the retry queue's message
    [message] = drain_messages(queues.client, RETRY_QUEUE)
    report = drain_batch([DrainRecord(message["MessageId"], message["Body"])])

    # then
    assert report.outcomes == {message["MessageId"]: DrainOutcome.DELIVERED}
    assert [event["id"] for event in stream_events(redis_db)] == ["evt-delivered"]
    assert stream_events(redis_db)[0] == envelope


def test_replay_shows_progress_for_each_message(queues: Queues) -> None:
    # given
    for _ in range(3):
        put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    run = dlq(queues, "replay", "--all")

    # then
    assert [line.split(":")[0] for line in run.out.splitlines() if line.startswith("replayed ")][:3] == [
        "replayed 1/3",
        "replayed 2/3",
        "replayed 3/3",
    ]
    assert len(bodies(queues, RETRY_QUEUE)) == 3


def test_replay_dry_run_changes_nothing_and_says_what_it_would_do(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-dry")))
    put_dead_letter(queues, "not json")

    # when
    run = dlq(queues, "replay", "--all", "--dry-run")

    # then
    assert run.code == 0
    assert "would replay 1/1: event evt-dry" in run.out
    assert "would replay 1, would skip 1; nothing was changed" in run.out
    assert bodies(queues, RETRY_QUEUE) == []
    assert on_dead_letter_queue(queues) == {"evt-dry", "not json"}


def test_replay_by_id_replays_only_those_events(queues: Queues) -> None:
    # given
    for event_id in ("evt-a", "evt-b", "evt-c"):
        put_dead_letter(queues, dead_letter_body(make_envelope(event_id=event_id)))

    # when
    run = dlq(queues, "replay", "--id", "evt-a", "evt-c")

    # then
    assert run.code == 0
    assert sorted(decode_queue_message(body)["envelope"]["id"] for body in bodies(queues, RETRY_QUEUE)) == [
        "evt-a",
        "evt-c",
    ]
    assert on_dead_letter_queue(queues) == {"evt-b"}


def test_replay_by_message_id_works_like_by_event_id(queues: Queues) -> None:
    # given
    message_id = put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-by-message")))

    # when
    run = dlq(queues, "replay", "--id", message_id)

    # then
    assert run.code == 0
    assert on_dead_letter_queue(queues) == set()


def test_replay_by_webhook_replays_only_that_webhooks_events(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope("redis_test", "evt-mine")))
    put_dead_letter(queues, dead_letter_body(make_envelope("form_hook", "evt-other")))

    # when
    dlq(queues, "replay", "--webhook", "redis_test")

    # then
    assert [decode_queue_message(body)["envelope"]["id"] for body in bodies(queues, RETRY_QUEUE)] == ["evt-mine"]
    assert on_dead_letter_queue(queues) == {"evt-other"}


def test_replay_of_a_message_sqs_moved_puts_it_back_with_attempts_reset(queues: Queues) -> None:
    # given
    envelope = make_envelope(event_id="evt-moved")
    stuck = new_queue_message(envelope, envelope["received_at"], "drain timed out")
    stuck["redrive"]["attempts"], stuck["redrive"]["waits"] = 3, 7
    move_by_sqs(queues, encode_queue_message(stuck))

    # when
    dlq(queues, "replay", "--all")

    # then
    [body] = bodies(queues, RETRY_QUEUE)
    assert decode_queue_message(body)["redrive"]["attempts"] == 0
    assert decode_queue_message(body)["redrive"]["waits"] == 0
    assert on_dead_letter_queue(queues) == set()


def test_replay_skips_poison_without_envelope_and_bodies_that_are_not_json(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(None, reason="poison", raw_body="{broken"))
    move_by_sqs(queues, "plain text")
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-good")))

    # when
    run = dlq(queues, "replay", "--all")

    # then: only the event with an envelope went back; the others stay, reported
    assert run.code == 0
    assert run.out.count("skipped message") == 2
    assert "replayed 1, skipped 2, failed 0" in run.out
    assert [decode_queue_message(body)["envelope"]["id"] for body in bodies(queues, RETRY_QUEUE)] == ["evt-good"]
    assert on_dead_letter_queue(queues) == {"{broken", "plain text"}


def test_replay_of_an_expired_event_says_it_gets_max_age_again_from_the_replay(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(age=timedelta(days=2)), reason="expired"))

    # when
    run = dlq(queues, "replay", "--all")

    # then
    assert "a replay gives them retry.max_age_seconds again, counted from now" in run.out
    [body] = bodies(queues, RETRY_QUEUE)
    replayed_at = datetime.fromisoformat(
        decode_queue_message(body)["redrive"]["first_failed_at"].replace("Z", "+00:00")
    )
    assert datetime.now(UTC) - replayed_at < timedelta(minutes=1)


def test_replay_skips_an_event_whose_marker_may_be_gone_before_the_copy_is_delivered(queues: Queues) -> None:
    # given an event that arrived 16 days ago (replayed before, so still on the DLQ): the shipped
    # webhook's marker lasts max_age (1 day) + 14 days + 1 day, and a copy may wait 1 more day
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-ancient", age=timedelta(days=16))))
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-recent", age=timedelta(days=3))))

    # when
    run = dlq(queues, "replay", "--all")

    # then the old one stays on the DLQ, and the operator is told why and how to override
    assert run.code == 0
    [line] = [line for line in run.out.splitlines() if "evt-ancient" in line]
    assert line.startswith("skipped event evt-ancient")
    assert "redis.idempotency_ttl_seconds (1382400 s)" in line
    assert "retry.max_age_seconds (86400 s)" in line
    assert "--force" in line
    assert "replayed 1, skipped 1, failed 0" in run.out
    assert [decode_queue_message(body)["envelope"]["id"] for body in bodies(queues, RETRY_QUEUE)] == ["evt-recent"]
    assert on_dead_letter_queue(queues) == {"evt-ancient"}


def test_replay_with_force_replays_an_event_whose_marker_may_be_gone(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-ancient", age=timedelta(days=16))))

    # when
    run = dlq(queues, "replay", "--all", "--force")

    # then
    assert "replayed 1, skipped 0, failed 0" in run.out
    assert [decode_queue_message(body)["envelope"]["id"] for body in bodies(queues, RETRY_QUEUE)] == ["evt-ancient"]
    assert on_dead_letter_queue(queues) == set()


def test_replay_reads_each_webhooks_marker_ttl_from_the_config(queues: Queues, tmp_path: Any) -> None:
    # given a webhook with the shortest marker TTL the loader takes (max_age + 14 days), and an
    # event old enough for that marker to be gone within the copy's max_age
    config = tmp_path / "webhooks.json"
    config.write_text(
        json.dumps(
            {
                "redis_test": {
                    "data_type": "json",
                    "redis": {"stream": "events", "idempotency_ttl_seconds": 3_600 + 1_209_600},
                    "retry": {"max_age_seconds": 3_600},
                }
            }
        )
    )
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-14d", age=timedelta(days=14))))

    # when
    dry = dlq(queues, "replay", "--all", "--dry-run", "--config", str(config))
    shipped = dlq(queues, "replay", "--all", "--dry-run")

    # then only the short TTL makes it unsafe
    assert "skipped event evt-14d" in dry.out
    assert "would replay 0, would skip 1" in dry.out
    assert "would replay 1, would skip 0" in shipped.out


def claim_checked_dead_letter_body(event_id: str, age: timedelta) -> str:
    """A large event's letter: the pointer to its object in the bucket instead of its envelope."""
    received_at = utc_timestamp(datetime.now(UTC) - age)
    pointer = {
        "bucket": "large-payloads",
        "key": f"redis_test/{uuid.uuid4().hex}.json",
        "sha256": "0" * 64,
        "size": 4_000_000,
        "webhook_id": "redis_test",
        "event_id": event_id,
        "received_at": received_at,
    }
    letter = json.loads(dead_letter_body(make_envelope(event_id=event_id, age=age)))
    letter.pop("envelope")
    return encode_queue_message({**letter, "claim_check": pointer})


def test_replay_skips_a_large_event_whose_object_may_expire_before_the_copy_is_delivered(
    queues: Queues, tmp_path: Any
) -> None:
    # given a marker that lasts 60 days (so only the object limits a replay), a copy that may wait
    # 13 days, and large events whose objects the bucket deletes 41 days after the spill
    config = tmp_path / "webhooks.json"
    config.write_text(
        json.dumps(
            {
                "redis_test": {
                    "data_type": "json",
                    "redis": {"stream": "events", "idempotency_ttl_seconds": 60 * 86_400},
                    "retry": {"max_age_seconds": 13 * 86_400},
                }
            }
        )
    )
    put_dead_letter(queues, claim_checked_dead_letter_body("evt-large-old", timedelta(days=29)))
    put_dead_letter(queues, claim_checked_dead_letter_body("evt-large-recent", timedelta(days=27)))

    # when
    run = dlq(queues, "replay", "--all", "--config", str(config))
    forced = dlq(queues, "replay", "--all", "--force", "--config", str(config))

    # then the one whose object could be gone by day 29 + 13 stays, and the operator is told why
    [line] = [line for line in run.out.splitlines() if "evt-large-old" in line]
    assert line.startswith("skipped event evt-large-old"), run.out
    assert "s3://large-payloads expires 41 days after the spill" in line
    assert "--force" in line
    assert "replayed 1, skipped 1, failed 0" in run.out
    # and --force replays it anyway
    assert "replayed 1, skipped 0, failed 0" in forced.out
    replayed = [decode_queue_message(body)["claim_check"]["event_id"] for body in bodies(queues, RETRY_QUEUE)]
    assert sorted(replayed) == ["evt-large-old", "evt-large-recent"]


def test_replay_with_an_unreadable_config_says_so_and_assumes_the_defaults(queues: Queues, tmp_path: Any) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-ancient", age=timedelta(days=16))))

    # when
    run = dlq(queues, "replay", "--all", "--config", str(tmp_path / "missing.json"))

    # then
    assert "assuming the default marker TTL" in run.out
    assert "skipped event evt-ancient" in run.out


def test_replay_of_an_id_not_on_the_queue_says_so_and_exits_1(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-here")))

    # when
    run = dlq(queues, "replay", "--id", "evt-here", "evt-gone")

    # then
    assert run.code == 1
    assert "not found on the dead-letter queue: evt-gone" in run.out
    assert len(bodies(queues, RETRY_QUEUE)) == 1


def test_replay_needs_all_webhook_or_id(queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    # when
    with pytest.raises(SystemExit) as usage_error:
        dlq(queues, "replay")

    # then
    assert usage_error.value.code == 2
    assert "one of the arguments --all --webhook --id is required" in capsys.readouterr().err


# --- purge ---------------------------------------------------------------------------------


def raise_eof(prompt: str) -> str:
    raise EOFError


@pytest.mark.parametrize("answer", ["", "n", "no", "whatever", raise_eof], ids=["enter", "n", "no", "other", "eof"])
def test_purge_without_confirmation_keeps_everything(queues: Queues, answer: str | Callable[[str], str]) -> None:
    # given
    for _ in range(3):
        put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    run = dlq(queues, "purge", answer=answer)

    # then
    assert run.code == 1
    assert run.prompts == ["Delete 3 message(s) from spillway-dead-letter (every message)? [y/N] "]
    assert "aborted: nothing was deleted" in run.out
    assert len(drain_messages(queues.client, DEAD_LETTER_QUEUE)) == 3


@pytest.mark.parametrize("answer", ["y", "Y", "yes"])
def test_purge_confirmed_with_y_deletes_everything(queues: Queues, answer: str) -> None:
    # given: more than one batch of 10, of every kind
    for _ in range(11):
        put_dead_letter(queues, dead_letter_body(make_envelope()))
    put_dead_letter(queues, "not json")

    # when
    run = dlq(queues, "purge", answer=answer)

    # then
    assert run.code == 0
    assert "deleted 12/12" in run.out
    assert drain_messages(queues.client, DEAD_LETTER_QUEUE) == []


def test_purge_with_yes_flag_deletes_without_asking(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope()))

    # when
    run = dlq(queues, "purge", "--yes")

    # then
    assert run.code == 0
    assert run.prompts == []
    assert drain_messages(queues.client, DEAD_LETTER_QUEUE) == []


def test_purge_by_webhook_deletes_only_that_webhooks_messages(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope("redis_test", "evt-mine")))
    put_dead_letter(queues, dead_letter_body(make_envelope("form_hook", "evt-other")))
    put_dead_letter(queues, "not json")

    # when
    run = dlq(queues, "purge", "--webhook", "redis_test", answer="y")

    # then
    assert "(webhook redis_test)" in run.prompts[0]
    assert on_dead_letter_queue(queues) == {"evt-other", "not json"}


def test_purge_by_id_deletes_only_those_messages(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-a")))
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-b")))
    junk_id = put_dead_letter(queues, "not json")

    # when
    run = dlq(queues, "purge", "--id", "evt-a", junk_id, "--yes")

    # then
    assert "deleted 2/2" in run.out
    assert on_dead_letter_queue(queues) == {"evt-b"}


def test_purge_with_nothing_matching_asks_nothing(queues: Queues) -> None:
    # given
    put_dead_letter(queues, dead_letter_body(make_envelope(event_id="evt-keep")))

    # when
    run = dlq(queues, "purge", "--webhook", "nobody")

    # then
    assert run.code == 0
    assert run.prompts == []
    assert "nothing to purge" in run.out
    assert on_dead_letter_queue(queues) == {"evt-keep"}


# --- errors and the script -----------------------------------------------------------------


def test_a_missing_dead_letter_queue_is_an_error_that_names_the_bootstrap(queues: Queues) -> None:
    # when
    run = dlq(queues, "--dead-letter-queue", "no-such-queue", "list")

    # then
    assert run.code == 1
    assert "no-such-queue" in run.err
    assert "make bootstrap" in run.err


def test_queue_names_default_to_the_relays_environment_variables(queues: Queues) -> None:
    # given: queues under other names, named only by the environment
    other = bootstrap_queues(queues.client, "other-retry", "other-dead")
    queues.client.send_message(
        QueueUrl=other.dead_letter_queue_url, MessageBody=dead_letter_body(make_envelope(event_id="evt-env"))
    )
    environ = {"RETRY_QUEUE_NAME": "other-retry", "DEAD_LETTER_QUEUE_NAME": "other-dead"}
    out = io.StringIO()

    # when
    code = main(["replay", "--all"], client=queues.client, out=out, err=io.StringIO(), environ=environ, limits=FAST)

    # then
    assert code == 0
    [message] = drain_messages(queues.client, "other-retry")
    assert decode_queue_message(message["Body"])["envelope"]["id"] == "evt-env"


def test_dlq_runs_as_a_module_from_the_repository_root() -> None:
    # when
    run = subprocess.run(
        [sys.executable, "-m", "scripts.dlq", "--help"],
        check=False,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # then
    assert run.returncode == 0, run.stderr
    for command in ("list", "show", "replay", "purge"):
        assert command in run.stdout


@pytest.mark.e2e
def test_dlq_script_lists_from_the_endpoint_named_by_aws_endpoint_url(tmp_path: Any) -> None:
    # given: moto's server with bootstrapped queues and one dead letter
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        assert wait_for_port("127.0.0.1", port)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
        urls = bootstrap_queues(client, RETRY_QUEUE, DEAD_LETTER_QUEUE)
        client.send_message(
            QueueUrl=urls.dead_letter_queue_url, MessageBody=dead_letter_body(make_envelope(event_id="evt-e2e"))
        )
        environ = {**os.environ, "AWS_ENDPOINT_URL": endpoint}

        # when
        run = subprocess.run(
            [sys.executable, "-m", "scripts.dlq", "--region", "us-east-1", "list"],
            check=False,
            cwd=PROJECT_ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )

        # then
        assert run.returncode == 0, run.stderr
        assert "evt-e2e" in run.stdout
    finally:
        server.stop()
