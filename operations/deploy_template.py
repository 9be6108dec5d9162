"""The CloudFormation that `chalice package` cannot write, as a merge template for one stage.

`chalice package --merge-template` deep-merges dicts and REPLACES lists. This template:
- creates the retry queue and its dead-letter queue with the settings `make bootstrap` gives them
  (operations/queue_bootstrap.py), named after the stage's RETRY_QUEUE_NAME / DEAD_LETTER_QUEUE_NAME;
- points the drain's event source at the retry queue, by overriding the same `Fn::Sub` key Chalice
  writes (a `Fn::GetAtt` beside it would leave two intrinsics in one object, which cfn-lint rejects),
  and turns on ReportBatchItemFailures, which Chalice cannot (aws/chalice#2029);
- passes both queue URLs to both functions (no GetQueueUrl round trip on a cold start);
- makes API Gateway hand every request body to Lambda base64-encoded, so the door sees the exact
  bytes a signature covers, whatever the Content-Type (a list: replaced, as wanted);
- turns each `${VAR}` of webhooks.json that the stage does not set, and ADMIN_TOKEN, into a template
  parameter, so secrets are given at deploy time (`--parameter-overrides`), never committed.

IAM is not here: each function has its own role from .chalice/policy-<stage>-<function>.json
(autogen_policy false), the same for `chalice deploy` and `chalice package`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config.env_substitution import required_by_name
from operations.queue_bootstrap import MAX_RETENTION_SECONDS, VISIBILITY_TIMEOUT_FACTOR, validate_settings
from operations.stage_config import StageSettings

# Logical ids Chalice gives its resources in the SAM template (chalice 1.34).
API_HANDLER_ID = "APIHandler"
DRAIN_ID = "Drain"
DRAIN_EVENT_ID = "DrainSqsEventSource"
REST_API_ID = "RestAPI"
RETRY_QUEUE_ID = "RetryQueue"
DEAD_LETTER_QUEUE_ID = "DeadLetterQueue"

MAX_RECEIVE_COUNT = 5
BINARY_MEDIA_TYPES = ["*/*"]
# SAM's ScalingConfig.MaximumConcurrency accepts 2..1000.
MIN_MAXIMUM_CONCURRENCY = 2
# Parameters whose variable name has one of these are NoEcho (hidden in the console and in
# describe-stacks); a redis URL may carry a password.
SECRET_NAME_PARTS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "AUTH", "CREDENTIAL", "URL")


# Secrets the code reads from its own environment (not through webhooks.json), given to the HTTP
# function only.
HTTP_ONLY_VARIABLES = {"ADMIN_TOKEN": "bearer token for GET /stats (empty: /stats refuses everyone)"}


@dataclass(frozen=True)
class DeployTimeVariable:
    """An environment variable whose value is a template parameter, given at deploy time."""

    name: str
    required: bool
    description: str
    http_only: bool = False

    @property
    def parameter(self) -> str:
        return parameter_name(self.name)


def parameter_name(variable: str) -> str:
    """REDIS_PASSWORD -> RedisPassword (CloudFormation wants alphanumeric names)."""
    return "".join(part.capitalize() for part in variable.split("_") if part)


def deploy_time_variables(stage: StageSettings, webhooks_text: str) -> list[DeployTimeVariable]:
    """The `${VAR}`s of webhooks.json, and ADMIN_TOKEN, that the stage's environment does not set.

    Raises ValueError when two names map to one parameter name."""
    variables = [
        DeployTimeVariable(
            name, required, f"webhooks.json ${{{name}}}" + ("" if required else " (empty: its default applies)")
        )
        for name, required in sorted(required_by_name(webhooks_text).items())
        if name not in stage.environment
    ]
    variables += [
        DeployTimeVariable(name, False, description, http_only=True)
        for name, description in HTTP_ONLY_VARIABLES.items()
        if name not in stage.environment and name not in {variable.name for variable in variables}
    ]
    parameters = [variable.parameter for variable in variables]
    if len(set(parameters)) != len(parameters):
        names = sorted(variable.name for variable in variables)
        raise ValueError(f"environment variables {names} give clashing parameter names {parameters}")
    return variables


def _queue(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    # Retained on stack deletion: the queues hold accepted events no one else has.
    return {
        "Type": "AWS::SQS::Queue",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"QueueName": name, "MessageRetentionPeriod": MAX_RETENTION_SECONDS, **extra},
    }


def _parameter(variable: DeployTimeVariable) -> dict[str, Any]:
    parameter: dict[str, Any] = {"Type": "String", "Description": variable.description}
    if any(part in variable.name.upper() for part in SECRET_NAME_PARTS):
        parameter["NoEcho"] = True
    if not variable.required:
        parameter["Default"] = ""
    return parameter


def merge_template(stage: StageSettings, webhooks_text: str = "{}") -> dict[str, Any]:
    """Raises InvalidQueueSettings when the drain's timeout gives no valid visibility timeout, and
    ValueError when two variable names map to one parameter name."""
    drain = stage.drain
    validate_settings(drain.timeout_seconds, MAX_RECEIVE_COUNT, MAX_RETENTION_SECONDS)
    variables = deploy_time_variables(stage, webhooks_text)

    queue_urls = {
        "RETRY_QUEUE_URL": {"Ref": RETRY_QUEUE_ID},
        "DEAD_LETTER_QUEUE_URL": {"Ref": DEAD_LETTER_QUEUE_ID},
    }
    for_both = {variable.name: {"Ref": variable.parameter} for variable in variables if not variable.http_only}
    for_http = {variable.name: {"Ref": variable.parameter} for variable in variables if variable.http_only}
    event_properties: dict[str, Any] = {
        "Queue": {"Fn::Sub": f"${{{RETRY_QUEUE_ID}.Arn}}"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    if drain.reserved_concurrency is not None and drain.reserved_concurrency >= MIN_MAXIMUM_CONCURRENCY:
        # The SQS poller otherwise invokes past the reserved concurrency; throttled batches go back
        # to the queue and count towards maxReceiveCount without ever being handled.
        event_properties["ScalingConfig"] = {"MaximumConcurrency": drain.reserved_concurrency}

    template: dict[str, Any] = {
        "Resources": {
            DEAD_LETTER_QUEUE_ID: _queue(stage.dead_letter_queue_name, {}),
            RETRY_QUEUE_ID: _queue(
                stage.retry_queue_name,
                {
                    "VisibilityTimeout": drain.timeout_seconds * VISIBILITY_TIMEOUT_FACTOR,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": [DEAD_LETTER_QUEUE_ID, "Arn"]},
                        "maxReceiveCount": MAX_RECEIVE_COUNT,
                    },
                },
            ),
            DRAIN_ID: {
                "Properties": {
                    "Events": {DRAIN_EVENT_ID: {"Properties": event_properties}},
                    "Environment": {
                        "Variables": {
                            # Only here is the event source set up to honour batchItemFailures.
                            "REPORT_BATCH_ITEM_FAILURES": "true",
                            **queue_urls,
                            **for_both,
                        }
                    },
                }
            },
            API_HANDLER_ID: {"Properties": {"Environment": {"Variables": {**queue_urls, **for_both, **for_http}}}},
            REST_API_ID: {
                "Properties": {"DefinitionBody": {"x-amazon-apigateway-binary-media-types": BINARY_MEDIA_TYPES}}
            },
        },
        "Outputs": {
            "RetryQueueUrl": {"Value": {"Ref": RETRY_QUEUE_ID}},
            "DeadLetterQueueUrl": {"Value": {"Ref": DEAD_LETTER_QUEUE_ID}},
        },
    }
    if variables:
        template["Parameters"] = {variable.parameter: _parameter(variable) for variable in variables}
    return template


class PackagedTemplateError(RuntimeError):
    """The merged template does not have the shape this module relies on (another Chalice version?)."""


def check_packaged_template(template: dict[str, Any]) -> None:
    """Fails when the merge template missed Chalice's resources: a renamed logical id would have
    added a second, incomplete resource instead of changing Chalice's."""
    resources = template.get("Resources", {})
    for logical_id in (API_HANDLER_ID, DRAIN_ID, REST_API_ID):
        if "Type" not in resources.get(logical_id, {}):
            raise PackagedTemplateError(f"the packaged template has no resource {logical_id!r} from Chalice")
    events = resources[DRAIN_ID]["Properties"].get("Events", {})
    if list(events) != [DRAIN_EVENT_ID] or events[DRAIN_EVENT_ID].get("Type") != "SQS":
        raise PackagedTemplateError(f"the drain should have one SQS event, {DRAIN_EVENT_ID!r}; it has {sorted(events)}")
    queue = events[DRAIN_EVENT_ID]["Properties"].get("Queue")
    if queue != {"Fn::Sub": f"${{{RETRY_QUEUE_ID}.Arn}}"}:
        raise PackagedTemplateError(f"the drain's event source does not read {RETRY_QUEUE_ID}: {queue!r}")
