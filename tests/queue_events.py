"""Builders for drain tests: queue messages and Lambda-shaped SQS events, one messageId each."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.envelope import Envelope, utc_timestamp
from chalicelib.queue.message import QueueMessage, encode_queue_message, new_queue_message


def make_envelope(
    webhook_id: str = "redis_test", event_id: str | None = None, age_seconds: float = 0.0, payload: Any = None
) -> Envelope:
    received = datetime.now(UTC) - timedelta(seconds=age_seconds)
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        webhook_id=webhook_id,
        received_at=utc_timestamp(received),
        data_type="json",
        content_type="application/json",
        headers={"content-type": "application/json"},
        payload=payload if payload is not None else {"n": 1},
    )


def make_queue_message(envelope: Envelope, attempts: int = 0, waits: int = 0) -> QueueMessage:
    message = new_queue_message(envelope, envelope["received_at"], "ConnectionError: refused")
    message["redrive"]["attempts"] = attempts
    message["redrive"]["waits"] = waits
    return message


def sqs_event(bodies: list[str], queue_name: str = "spillway-retry") -> dict[str, Any]:
    """Unlike chalice.test's generator, every record gets its own messageId."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"receipt-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue_name}",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def body_of(message: QueueMessage | dict[str, Any]) -> str:
    return encode_queue_message(message)


def decoded(body: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document


def drain_retry_queue(sqs_client: Any, queue_name: str = "spillway-retry", max_rounds: int = 60) -> list[str]:
    """Runs the drain over the retry queue as Lambda would, until the queue holds nothing, not
    even delayed redrives (bounded: max_rounds receives of up to 1 s each). Returns the drain
    outcomes, one per record handled."""
    from chalicelib.queue.drain import DrainRecord, drain_batch

    url = sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"]
    outcomes: list[str] = []
    for _ in range(max_rounds):
        received = sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = received.get("Messages", [])
        if messages:
            report = drain_batch(DrainRecord(message["MessageId"], message["Body"]) for message in messages)
            outcomes += [outcome.value for outcome in report.outcomes.values()]
            for message in messages:
                sqs_client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            continue
        attributes = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        waiting = sum(
            int(attributes.get(name, 0))
            for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                         "ApproximateNumberOfMessagesNotVisible")
        )  # fmt: skip
        if waiting == 0:
            return outcomes
    raise AssertionError(f"the retry queue was not empty after {max_rounds} rounds: {outcomes}")
