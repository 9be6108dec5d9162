"""The CloudFormation that `chalice package` cannot write, as a merge template for one stage.

`chalice package --merge-template` deep-merges dicts and REPLACES lists. This template:
- creates the retry queue and its dead-letter queue with the settings `make bootstrap` gives them
  (operations/queue_bootstrap.py), named after the stage's RETRY_QUEUE_NAME / DEAD_LETTER_QUEUE_NAME;
- points the drain's event source at the retry queue, by overriding the same `Fn::Sub` key Chalice
  writes (a `Fn::GetAtt` beside it would leave two intrinsics in one object, which cfn-lint rejects),
  and turns on ReportBatchItemFailures, which Chalice cannot (aws/chalice#2029);
- passes both queue URLs to both functions (no GetQueueUrl round trip on a cold start);
- creates the claim check's bucket for large spilled events (LARGE_PAYLOAD_BUCKET, for both
  functions): private, encrypted, objects expiring after EXPIRATION_DAYS (41), and grants the
  HTTP function s3:PutObject and the drain s3:GetObject and s3:DeleteObject on its objects only
  (a policy of its own attached to each Chalice role: the bucket's name is known only once
  CloudFormation creates it, so the static policy files cannot name it);
- makes API Gateway hand every request body to Lambda base64-encoded, so the door sees the exact
  bytes a signature covers, whatever the Content-Type (a list: replaced, as wanted);
- turns each `${VAR}` of webhooks.json that the stage does not set, and ADMIN_TOKEN, into a template
  parameter, so secrets are given at deploy time (`--parameter-overrides`), never committed;
- grants both functions read on exactly the SSM parameters and Secrets Manager secrets that
  webhooks.json references (`${ssm:...}`, `${secretsmanager:...}`) or WEBHOOKS_CONFIG names
  (`ssm:...`), in a policy of its own attached to Chalice's roles (a `Policies` list on the
  roles would replace Chalice's own).

The rest of IAM is not here: each function has its own role from
.chalice/policy-<stage>-<function>.json (autogen_policy false), the same for `chalice deploy` and
`chalice package`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.config.env_substitution import defaults_by_name, required_by_name
from chalicelib.config.message_size import SQS_MAX_MESSAGE_BYTES
from chalicelib.config.secret_references import SecretReference, references_in, ssm_parameter_name
from chalicelib.config.settings import Settings
from operations.claim_check_bucket import (
    ABORT_INCOMPLETE_UPLOAD_DAYS,
    EXPIRATION_DAYS,
    LIFECYCLE_RULE_ID,
    PUBLIC_ACCESS_BLOCK,
    SSE_ALGORITHM,
)
from operations.queue_bootstrap import MAX_RETENTION_SECONDS, VISIBILITY_TIMEOUT_FACTOR, validate_settings
from operations.stage_config import StageSettings

# Logical ids Chalice gives its resources in the SAM template (chalice 1.34).
API_HANDLER_ID = "APIHandler"
DRAIN_ID = "Drain"
DRAIN_EVENT_ID = "DrainSqsEventSource"
REST_API_ID = "RestAPI"
RETRY_QUEUE_ID = "RetryQueue"
DEAD_LETTER_QUEUE_ID = "DeadLetterQueue"
# The roles Chalice makes from .chalice/policy-<stage>-<function>.json (autogen_policy false); the
# claim-check policies attach to them.
API_HANDLER_ROLE_ID = "ApiHandlerRole"
DRAIN_ROLE_ID = "DrainRole"
LARGE_PAYLOAD_BUCKET_ID = "LargePayloadBucket"
API_HANDLER_CLAIM_CHECK_POLICY_ID = "ApiHandlerClaimCheckPolicy"
DRAIN_CLAIM_CHECK_POLICY_ID = "DrainClaimCheckPolicy"
SECRETS_POLICY_ID = "ReadReferencedSecrets"
REDIS_IAM_POLICY_ID = "ConnectToRedisWithIam"

MAX_RECEIVE_COUNT = 5
# The event source's setting that makes Lambda read a handler's `batchItemFailures`.
BATCH_ITEM_FAILURES_RESPONSE_TYPE = "ReportBatchItemFailures"
BINARY_MEDIA_TYPES = ["*/*"]
# SAM's ScalingConfig.MaximumConcurrency accepts 2..1000.
MIN_MAXIMUM_CONCURRENCY = 2
# Parameters whose variable name has one of these are NoEcho (hidden in the console and in
# describe-stacks); a redis URL may carry a password.
SECRET_NAME_PARTS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "AUTH", "CREDENTIAL", "URL")


# Secrets the code reads from its own environment (not through webhooks.json), given to the HTTP
# function only.
HTTP_ONLY_VARIABLES = {"ADMIN_TOKEN": "bearer token for GET /stats and /health?deep=1 (empty: /stats refuses everyone)"}


@dataclass(frozen=True)
class DeployTimeVariable:
    """An environment variable whose value is a template parameter, given at deploy time."""

    name: str
    required: bool
    description: str
    http_only: bool = False
    # webhooks.json's `${NAME:-default}`, when it gives one.
    default: str | None = None

    @property
    def parameter(self) -> str:
        return parameter_name(self.name)

    @property
    def secret(self) -> bool:
        return any(part in self.name.upper() for part in SECRET_NAME_PARTS)

    @property
    def must_be_passed(self) -> bool:
        """No default, or a secret whose default is written in webhooks.json for anyone to read (the
        local example's GitHub secret): the template gives such a parameter no default either."""
        return self.required or (self.secret and bool(self.default))


def parameter_name(variable: str) -> str:
    """REDIS_PASSWORD -> RedisPassword (CloudFormation wants alphanumeric names)."""
    return "".join(part.capitalize() for part in variable.split("_") if part)


def deploy_time_variables(stage: StageSettings, webhooks_text: str) -> list[DeployTimeVariable]:
    """The `${VAR}`s of webhooks.json, and ADMIN_TOKEN, that the stage's environment does not set.

    Raises ValueError when two names map to one parameter name."""
    defaults = defaults_by_name(webhooks_text)
    variables = [
        DeployTimeVariable(
            name,
            required,
            f"webhooks.json ${{{name}}}" + ("" if required else " (empty: its default applies)"),
            default=defaults.get(name),
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
        "Properties": {
            "QueueName": name,
            "MessageRetentionPeriod": MAX_RETENTION_SECONDS,
            # As bootstrap sets it: without it a queue takes only 262,144 bytes.
            "MaximumMessageSize": SQS_MAX_MESSAGE_BYTES,
            **extra,
        },
    }


def _claim_check_bucket() -> dict[str, Any]:
    """The settings operations/claim_check_bucket.py gives a bootstrapped bucket, in CloudFormation's
    words. Retained on stack deletion like the queues: it holds accepted events no one else has."""
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_ALGORITHM}}
                ]
            },
            "PublicAccessBlockConfiguration": PUBLIC_ACCESS_BLOCK,
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": LIFECYCLE_RULE_ID,
                        "Status": "Enabled",
                        "ExpirationInDays": EXPIRATION_DAYS,
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_DAYS},
                    }
                ]
            },
        },
    }


def _claim_check_policy(role_id: str, sid: str, actions: list[str]) -> dict[str, Any]:
    """Least privilege: these actions on the bucket's objects, nothing on the bucket itself."""
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": sid,
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": sid,
                        "Effect": "Allow",
                        "Action": actions,
                        "Resource": {"Fn::Sub": f"${{{LARGE_PAYLOAD_BUCKET_ID}.Arn}}/*"},
                    }
                ],
            },
        },
    }


def _parameter(variable: DeployTimeVariable) -> dict[str, Any]:
    parameter: dict[str, Any] = {"Type": "String", "Description": variable.description}
    if variable.secret:
        parameter["NoEcho"] = True
    if not variable.must_be_passed:
        parameter["Default"] = ""
    return parameter


def referenced_secrets(stage: StageSettings, webhooks_text: str) -> list[SecretReference]:
    """What the functions read from SSM and Secrets Manager: webhooks.json's references, and the
    parameter WEBHOOKS_CONFIG names when it is `ssm:/name`."""
    references = set(references_in(webhooks_text))
    for function in (stage.api_handler, stage.drain):
        parameter = ssm_parameter_name(function.environment.get("WEBHOOKS_CONFIG", ""))
        if parameter is not None:
            references.add(SecretReference("ssm", parameter))
    return sorted(references, key=lambda reference: (reference.service, reference.name))


def _secret_arn(reference: SecretReference) -> Any:
    if reference.name.startswith("arn:"):
        return reference.name
    if reference.service == "ssm":
        # `/spillway/key` -> parameter/spillway/key; a name without a leading slash -> parameter/name.
        resource = "parameter/" + reference.name.lstrip("/")
    else:
        # Secrets Manager appends 6 random characters to a secret's ARN; AWS's documented pattern
        # for granting one secret by name is `-??????`.
        resource = f"secret:{reference.name}-??????"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{reference.service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def secrets_policy(references: list[SecretReference]) -> dict[str, Any] | None:
    """Read on exactly these parameters and secrets, for both functions; None when there are none.

    No kms:Decrypt: SecureStrings and secrets encrypted with the AWS managed keys (aws/ssm,
    aws/secretsmanager) are decrypted for any principal of the account allowed to read them. A
    customer managed key needs its own grant (docs: deploy)."""
    statements = []
    parameters = sorted({reference.name for reference in references if reference.service == "ssm"})
    secrets = sorted({reference.name for reference in references if reference.service == "secretsmanager"})
    if parameters:
        statements.append(
            {
                "Sid": "ReadReferencedParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameters"],
                "Resource": [_secret_arn(SecretReference("ssm", name)) for name in parameters],
            }
        )
    if secrets:
        statements.append(
            {
                "Sid": "ReadReferencedSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [_secret_arn(SecretReference("secretsmanager", name)) for name in secrets],
            }
        )
    if not statements:
        return None
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "ReadReferencedSecrets",
            "Roles": [{"Ref": API_HANDLER_ROLE_ID}, {"Ref": DRAIN_ROLE_ID}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _iam_connect_resources(webhook_id: str, iam: dict[str, Any]) -> tuple[str, list[Any]]:
    """The Connect action and the ARNs of the cache and the user one webhook's IAM auth needs
    (ElastiCache and MemoryDB user guides, "Authenticating with IAM")."""
    names = {key: iam.get(key) for key in ("cache_name", "user_id", "region")}
    for key, value in names.items():
        if isinstance(value, str) and "${" in value:
            # An ARN is fixed when the stack is made; a name read at run time cannot be granted here.
            raise ValueError(
                f"webhook {webhook_id!r}: redis.iam.{key} uses an environment variable, so its "
                "Connect permission cannot be written into the template; write the name itself"
            )
    service = iam.get("service", "elasticache")
    region = names["region"] or "${AWS::Region}"
    prefix = f"arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}"
    cache_name = str(names["cache_name"]).lower()
    user_id = str(names["user_id"]).lower()
    if service == "memorydb":
        return "memorydb:Connect", [
            {"Fn::Sub": f"{prefix}:cluster/{cache_name}"},
            {"Fn::Sub": f"{prefix}:user/{user_id}"},
        ]
    kind = "serverlesscache" if iam.get("serverless") else "replicationgroup"
    return "elasticache:Connect", [
        {"Fn::Sub": f"{prefix}:{kind}:{cache_name}"},
        {"Fn::Sub": f"{prefix}:user:{user_id}"},
    ]


def redis_iam_policy(webhooks_text: str) -> dict[str, Any] | None:
    """Connect on exactly the caches and users of webhooks with `redis.auth: "iam"`, for both
    functions; None when no webhook uses IAM auth (or the text is no JSON object: the loader
    reports that, not the template)."""
    try:
        document = json.loads(webhooks_text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    grants: dict[str, list[Any]] = {}
    for webhook_id, webhook in sorted(document.items()):
        redis = webhook.get("redis") if isinstance(webhook, dict) else None
        if not isinstance(redis, dict) or redis.get("auth") != "iam" or not isinstance(redis.get("iam"), dict):
            continue
        action, resources = _iam_connect_resources(webhook_id, redis["iam"])
        granted = grants.setdefault(action, [])
        granted.extend(resource for resource in resources if resource not in granted)
    if not grants:
        return None
    statements = [
        {
            "Sid": action.split(":")[0].capitalize() + "IamAuth",
            "Effect": "Allow",
            "Action": [action],
            "Resource": resources,
        }
        for action, resources in sorted(grants.items())
    ]
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": REDIS_IAM_POLICY_ID,
            "Roles": [{"Ref": API_HANDLER_ROLE_ID}, {"Ref": DRAIN_ROLE_ID}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


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
    # Set on both functions: it raises max_body_bytes to what Lambda can receive, and the drain's
    # configuration must accept every event the door took.
    queue_urls["LARGE_PAYLOAD_BUCKET"] = {"Ref": LARGE_PAYLOAD_BUCKET_ID}
    for_both = {variable.name: {"Ref": variable.parameter} for variable in variables if not variable.http_only}
    for_http = {variable.name: {"Ref": variable.parameter} for variable in variables if variable.http_only}
    event_properties: dict[str, Any] = {
        "Queue": {"Fn::Sub": f"${{{RETRY_QUEUE_ID}.Arn}}"},
        "FunctionResponseTypes": [BATCH_ITEM_FAILURES_RESPONSE_TYPE],
    }
    if drain.reserved_concurrency is not None and drain.reserved_concurrency >= MIN_MAXIMUM_CONCURRENCY:
        # The SQS poller otherwise invokes past the reserved concurrency; throttled batches go back
        # to the queue and count towards maxReceiveCount without ever being handled.
        event_properties["ScalingConfig"] = {"MaximumConcurrency": drain.reserved_concurrency}

    template: dict[str, Any] = {
        "Resources": {
            DEAD_LETTER_QUEUE_ID: _queue(stage.dead_letter_queue_name, {}),
            LARGE_PAYLOAD_BUCKET_ID: _claim_check_bucket(),
            API_HANDLER_CLAIM_CHECK_POLICY_ID: _claim_check_policy(
                API_HANDLER_ROLE_ID, "ClaimCheckLargeSpilledEvents", ["s3:PutObject"]
            ),
            DRAIN_CLAIM_CHECK_POLICY_ID: _claim_check_policy(
                DRAIN_ROLE_ID, "FetchAndDeleteClaimCheckedEvents", ["s3:GetObject", "s3:DeleteObject"]
            ),
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
            "LargePayloadBucket": {"Value": {"Ref": LARGE_PAYLOAD_BUCKET_ID}},
        },
    }
    if variables:
        template["Parameters"] = {variable.parameter: _parameter(variable) for variable in variables}
    policy = secrets_policy(referenced_secrets(stage, webhooks_text))
    if policy is not None:
        template["Resources"][SECRETS_POLICY_ID] = policy
    connect = redis_iam_policy(webhooks_text)
    if connect is not None:
        template["Resources"][REDIS_IAM_POLICY_ID] = connect
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
    _check_batch_reports_are_honoured(resources[DRAIN_ID]["Properties"], events[DRAIN_EVENT_ID]["Properties"])


def _check_batch_reports_are_honoured(drain: dict[str, Any], event: dict[str, Any]) -> None:
    """A drain that reports single failed records to an event source that ignores the report loses
    them: Lambda deletes the whole batch. The other mismatch (the source honours reports, the drain
    sends none and fails the batch instead) only redelivers the batch, so it passes."""
    setting = drain.get("Environment", {}).get("Variables", {}).get("REPORT_BATCH_ITEM_FAILURES")
    reports = (
        isinstance(setting, str)
        and Settings.from_environ({"REPORT_BATCH_ITEM_FAILURES": setting}).report_batch_item_failures
    )
    if reports and BATCH_ITEM_FAILURES_RESPONSE_TYPE not in event.get("FunctionResponseTypes", []):
        raise PackagedTemplateError(
            f"the drain has REPORT_BATCH_ITEM_FAILURES={setting!r} but its event source {DRAIN_EVENT_ID!r} lacks "
            "FunctionResponseTypes [ReportBatchItemFailures]: Lambda would delete the records the drain reports "
            "as failed"
        )
