"""Read a Spillway stream with a consumer group (redis-py).

Each envelope is handled, then acknowledged (XACK); an entry a crashed worker took and never
acknowledged is claimed back (XAUTOCLAIM) once it has been idle for a minute. Several copies
of this worker with different CONSUMER names share the work. Run it next to `make run`:

    REDIS_URL=redis://127.0.0.1:6379/0 python docs/examples/consumer.py

It runs until Ctrl-C; with EXIT_WHEN_IDLE=1 it stops once nothing new arrives for 2 s.
"""

import json
import os

import redis

STREAM = os.environ.get("STREAM", "webhook_events")  # the webhook's redis.stream
GROUP = "billing"  # one group per application; each group sees every event
CONSUMER = os.environ.get("CONSUMER", "worker-1")  # unique within the group
STUCK_AFTER_MS = 60_000  # claim entries another consumer has held this long
# A blocking read must end before the socket timeout (redis-py 8 defaults to 5 s and would
# raise TimeoutError while the stream is quiet).
BLOCK_MS = 2_000
SOCKET_TIMEOUT_S = 10

client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=SOCKET_TIMEOUT_S)

try:
    # id="0": a new group starts with the entries already in the stream, so none is missed.
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
except redis.ResponseError as exc:
    if "BUSYGROUP" not in str(exc):  # the group exists already: carry on where it is
        raise


def handle(envelope):
    # Delivery is at least once for a consumer group: make this idempotent on
    # (webhook_id, id), e.g. with a unique key in your database.
    print(f"{envelope['webhook_id']} {envelope['id']} {json.dumps(envelope['payload'])}", flush=True)


def process(entries):
    for entry_id, fields in entries:
        if fields:  # None: the entry was trimmed from the stream (MAXLEN) while pending
            handle(json.loads(fields[b"event"]))
        client.xack(STREAM, GROUP, entry_id)


# 1. Entries this consumer took before a restart and never acknowledged.
for _stream, entries in client.xreadgroup(GROUP, CONSUMER, {STREAM: "0"}):
    process(entries)

# 2. Entries another consumer took and left (it crashed): claim them once they are stuck.
start = "0-0"
while True:
    # Redis 7 adds a third element (ids deleted meanwhile); Redis 6.2 answers two.
    start, claimed = client.xautoclaim(STREAM, GROUP, CONSUMER, STUCK_AFTER_MS, start_id=start)[:2]
    process(claimed)
    if start in (b"0-0", "0-0"):
        break

# 3. New entries, as they arrive.
while True:
    batches = client.xreadgroup(GROUP, CONSUMER, {STREAM: ">"}, count=100, block=BLOCK_MS)
    if not batches and os.environ.get("EXIT_WHEN_IDLE"):
        break
    for _stream, entries in batches:
        process(entries)
