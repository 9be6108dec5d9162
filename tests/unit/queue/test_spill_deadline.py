"""The door's spill keeps within the HTTP function's timeout: its policy's bounds, checked by
arithmetic and by counting tries (no timed test: a try fails at once here)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws_calls import aws_retrying_before
from chalicelib.config import declarations
from chalicelib.config.model import InlineBudget
from chalicelib.delivery.deliver import inline_seconds_at_most
from chalicelib.queue import claim_check, sqs
from chalicelib.queue.spill import SPILL_BUDGET_SECONDS, request_seconds_needed
from tests.chalice_project import PROJECT_ROOT


def http_function_timeouts() -> list[int]:
    """Of each deployed stage (the local stage runs no Lambda)."""
    stages = json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())["stages"]
    functions = [stage.get("lambda_functions", {}).get("api_handler") for stage in stages.values()]
    return [int(function["lambda_timeout"]) for function in functions if function]


def test_a_first_try_of_the_upload_and_of_the_send_always_fits_the_spill_budget() -> None:
    # then neither a slow S3 nor a slow SQS alone can cut the spill short of its first tries
    assert claim_check.ATTEMPT_SECONDS + sqs.ATTEMPT_SECONDS <= SPILL_BUDGET_SECONDS


def test_the_spill_after_the_default_inline_path_ends_within_the_http_functions_timeout() -> None:
    # given the longest the door's inline path takes with the default settings
    inline = inline_seconds_at_most(InlineBudget())
    assert inline == declarations.INLINE_BUDGET_SECONDS.default

    timeouts = http_function_timeouts()
    assert timeouts

    # then every stage's HTTP function still has time to answer 202 or 503 (the deploy guard's rule)
    for timeout in timeouts:
        assert request_seconds_needed(inline) <= timeout


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "PutObject")


@pytest.mark.parametrize(
    ("seconds_left", "tries"),
    [
        pytest.param(SPILL_BUDGET_SECONDS, 2, id="room for a second try"),
        pytest.param(claim_check.ATTEMPT_SECONDS, 1, id="no room for a second try"),
    ],
)
def test_a_call_with_a_deadline_tries_again_only_if_the_next_try_could_end_in_time(
    seconds_left: float, tries: int
) -> None:
    # given a call that is throttled at once, every time
    calls: list[int] = []

    def operation() -> Any:
        calls.append(1)
        raise throttled()

    # when it runs under the spill's policy with this much time left
    policy = aws_retrying_before(time.monotonic() + seconds_left, claim_check.ATTEMPT_SECONDS).copy(
        sleep=lambda _: None
    )
    with pytest.raises(ClientError):
        policy(operation)

    # then
    assert len(calls) == tries
