"""Webhook senders as providers behave: each event carries a delivery id, and a 503 or a broken
connection is retried (Retry-After honoured, capped small for a soak) within bounds."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# The answers that mean "accepted": the relay has the event (Redis, or the retry queue).
ACCEPTED = (200, 202)
# A transport failure (refused, reset, timed out) has no HTTP status: recorded as 0.
NO_ANSWER = 0


@dataclass(frozen=True)
class SenderPolicy:
    max_attempts: int = 40
    max_seconds: float = 90.0
    # Providers honour Retry-After (the relay says 30 s); a soak of minutes cannot wait that long.
    retry_after_cap_seconds: float = 1.0
    # GitHub gives up on a delivery after 10 s.
    timeout_seconds: float = 10.0


@dataclass
class SentEvent:
    sequence: int
    event_id: str
    first_sent_at: float = 0.0
    answers: list[int] = field(default_factory=list)
    # How long the last try waited for its answer: an inline delivery is quick, a spill takes
    # the inline budget first.
    last_answer_seconds: float = 0.0

    @property
    def accepted(self) -> bool:
        return any(status in ACCEPTED for status in self.answers)

    @property
    def accepted_with(self) -> int | None:
        return next((status for status in self.answers if status in ACCEPTED), None)


def event_id_for(run_id: str, sequence: int) -> str:
    return f"chaos-{run_id}-{sequence:06d}"


def event_payload(run_id: str, sequence: int) -> dict[str, object]:
    return {"chaos": run_id, "sequence": sequence, "note": "x" * 200}


def delivery_headers(event_id: str, sequence: int) -> dict[str, str]:
    """Half the events name their id as GitHub does, half with the generic Idempotency-Key."""
    id_header = "X-GitHub-Delivery" if sequence % 2 else "Idempotency-Key"
    return {"Content-Type": "application/json", id_header: event_id}


def webhook_url(base_url: str, webhook_id: str) -> str:
    """The webhook's URL under a stack's base URL, which may carry a stage path (/api)."""
    return f"{base_url.rstrip('/')}/webhook/{webhook_id}"


class Connection:
    """One keep-alive connection to a webhook URL (http), reopened after any failure."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, float | None]:
        """The status and Retry-After; raises OSError or HTTPException when no answer came."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._connection.request("POST", self.path, body=body, headers=headers)
            response = self._connection.getresponse()
            response.read()
        except BaseException:
            self.close()
            raise
        retry_after = response.getheader("Retry-After")
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, float(retry_after) if retry_after and retry_after.isdigit() else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SenderPool:
    """`senders` threads send the events, paced evenly over `seconds`, each retried as a provider would."""

    def __init__(
        self,
        url: str,
        run_id: str,
        events: list[SentEvent],
        *,
        seconds: float,
        senders: int,
        policy: SenderPolicy,
        seed: int,
    ) -> None:
        self.url = url
        self.run_id = run_id
        self.events = events
        self.seconds = seconds
        self.senders = senders
        self.policy = policy
        self.seed = seed
        self.stopping = threading.Event()
        self._next = 0
        self._lock = threading.Lock()
        self._started_at = 0.0
        self._threads: list[threading.Thread] = []

    @property
    def taken(self) -> int:
        with self._lock:
            return self._next

    def start(self) -> None:
        self._started_at = time.monotonic()
        for index in range(self.senders):
            thread = threading.Thread(target=self._send_until_done, args=(index,), name=f"sender-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def wait(self, timeout: float) -> bool:
        """True once every sender is done."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def abort(self) -> None:
        """Tells every sender to stop after its current request, and waits for them (bounded)."""
        self.stopping.set()
        deadline = time.monotonic() + self.policy.timeout_seconds + 1
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _take(self) -> SentEvent | None:
        with self._lock:
            if self._next >= len(self.events):
                return None
            event = self.events[self._next]
            self._next += 1
            return event

    def _send_until_done(self, index: int) -> None:
        rng = random.Random(f"{self.seed}-sender-{index}")
        connection = Connection(self.url, self.policy.timeout_seconds)
        try:
            while not self.stopping.is_set() and (event := self._take()) is not None:
                due = self._started_at + event.sequence * self.seconds / max(len(self.events), 1)
                self.stopping.wait(max(0.0, due - time.monotonic()))
                self._send(connection, event, rng)
        finally:
            connection.close()

    def _send(self, connection: Connection, event: SentEvent, rng: random.Random) -> None:
        body = json.dumps(event_payload(self.run_id, event.sequence)).encode()
        headers = delivery_headers(event.event_id, event.sequence)
        event.first_sent_at = time.time()
        give_up_at = time.monotonic() + self.policy.max_seconds
        for attempt in range(self.policy.max_attempts):
            asked_at = time.monotonic()
            try:
                status, retry_after = connection.post(body, headers)
            except (OSError, http.client.HTTPException):
                status, retry_after = NO_ANSWER, None
            event.last_answer_seconds = time.monotonic() - asked_at
            event.answers.append(status)
            if status in ACCEPTED or 400 <= status < 500:
                return
            wait = self._wait_before_retry(status, retry_after, attempt, rng)
            if self.stopping.is_set() or time.monotonic() + wait > give_up_at:
                return
            self.stopping.wait(wait)

    def _wait_before_retry(self, status: int, retry_after: float | None, attempt: int, rng: random.Random) -> float:
        if status == NO_ANSWER:
            # Exponential with full jitter, as most providers retry a dead endpoint.
            return rng.uniform(0, min(0.1 * 2**attempt, self.policy.retry_after_cap_seconds))
        cap = self.policy.retry_after_cap_seconds
        return rng.uniform(0.5, 1.0) * min(retry_after if retry_after is not None else cap, cap)
