"""What `make package` and `make deploy` refuse before building anything: a stage whose webhooks
would publish to a Redis that Lambda cannot have (none, or its own loopback), one where a
webhook's request (inline path, spill, answer) could outlast the HTTP function, and, for
`make deploy`, one whose policy files do not let the functions read the parameters and secrets
webhooks.json references (`make package` grants those in its template).

The Redis address is read from the bundled webhooks.json as each function will read it: with the
stage's environment substituted. A `${VAR}` the stage does not set counts as unset (its default,
else empty): on `make deploy` nothing else will set it, and on `make package` a template
parameter left empty gives the same. `${ssm:...}` and `${secretsmanager:...}` are read only on
AWS, so an address held there is not judged here. The other refusals live beside the code they
guard: REPORT_BATCH_ITEM_FAILURES in packaging.py and deploy_template.py, a missing webhooks.json
in packaging.bundled_webhooks_config.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chalicelib.config import declarations as declared
from chalicelib.config.env_substitution import MissingVariable, required_by_name, substitute
from chalicelib.config.fields import FieldBlock
from chalicelib.config.loader import read_inline_budget
from chalicelib.config.model import InlineBudget
from chalicelib.config.secret_references import SecretReference, references_in
from chalicelib.config.settings import WEBHOOKS_CONFIG_NAME
from chalicelib.delivery.deliver import inline_seconds_at_most
from chalicelib.errors import ConfigError, SpillwayError
from chalicelib.queue.spill import ANSWER_MARGIN_SECONDS, SPILL_BUDGET_SECONDS, request_seconds_needed
from operations.deploy_template import referenced_secrets
from operations.stage_config import FunctionSettings, StageSettings

# The action each store's reads need (chalicelib/config/secret_references.py).
READ_ACTIONS = {"ssm": "ssm:GetParameters", "secretsmanager": "secretsmanager:GetSecretValue"}


class UnreachableRedis(SpillwayError):
    """A webhook's Redis address is empty or loopback for the stage; the message says what to set."""


class OverlongRequests(SpillwayError):
    """A webhook's inline budget, with the spill after it, can outlast the HTTP function's timeout."""


class UngrantedSecrets(SpillwayError):
    """A function's policy file does not grant read on a referenced parameter or secret; the
    message holds the statement to add."""


def is_local_host(host: str) -> bool:
    """Empty, `localhost` (and `*.localhost`), 127.0.0.0/8, ::1 or 0.0.0.0: nothing Lambda can reach."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _substituted(text: str, environ: Mapping[str, str]) -> str:
    """`text` as the function will see it; an unset variable without a default makes it empty."""
    try:
        return substitute(text, environ)
    except MissingVariable:
        return ""


def _redis_address(redis: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(field, what it is written as, the host it names); None when only AWS can tell."""
    field = declared.REDIS_URL.name if declared.REDIS_URL.name in redis else declared.REDIS_HOST.name
    written = str(redis.get(field, declared.REDIS_HOST.default))
    if references_in(written):
        return None
    value = _substituted(written, environ)
    if field == declared.REDIS_HOST.name:
        return field, written, value
    parts = urlsplit(value)
    # A unix socket is on the machine itself: Lambda's has no Redis.
    return field, written, "" if parts.scheme == "unix" else parts.hostname or ""


def refuse_unreachable_redis(stage: StageSettings, webhooks_text: str) -> None:
    """Raises UnreachableRedis naming every webhook whose Redis is empty or loopback for a function
    of the stage, and the variables to set."""
    document = json.loads(webhooks_text)
    problems: list[str] = []
    variables: set[str] = set()
    for webhook_id, settings in document.items():
        redis = settings.get("redis") if isinstance(settings, dict) else None
        if not isinstance(redis, dict):
            continue  # the loader names that error; the deploy would show it in /health
        for function in (stage.api_handler, stage.drain):
            address = _redis_address(redis, function.environment)
            if address is None or not is_local_host(address[2]):
                continue
            field, written, host = address
            named = sorted(required_by_name(written))
            variables.update(named)
            source = f"{written!r} with {', '.join(named)} unset for the stage" if named else repr(written)
            problems.append(f"webhook {webhook_id!r}: redis.{field} {source} gives {host or 'no host'!r}")
            break
    if not problems:
        return
    example = ", ".join(f'"{name}": "<your Redis host>"' for name in sorted(variables)) or (
        '"host": "<your Redis host>" in webhooks.json'
    )
    raise UnreachableRedis(
        f"stage {stage.stage!r} would publish to a Redis Lambda cannot reach (empty or loopback): "
        + "; ".join(problems)
        + f". Set the address for the stage in .chalice/config.json, stages.{stage.stage}.environment_variables "
        f"({example}), or write it in webhooks.json; a URL that carries a password may come from "
        '"${secretsmanager:name#key}" instead. An ElastiCache endpoint also needs the stage\'s subnet_ids '
        "and security_group_ids"
    )


def _inline_budget(webhook_id: str, settings: Mapping[str, Any], environ: Mapping[str, str]) -> InlineBudget | None:
    """The webhook's inline block as the function's loader reads it, with the function's
    environment substituted; None when it cannot be read (the loader names that error at load)."""
    inline = settings.get(declared.INLINE.name, {})
    if not isinstance(inline, dict):
        return None
    substituted = {
        name: _substituted(value, environ) if isinstance(value, str) else value for name, value in inline.items()
    }
    try:
        return read_inline_budget(FieldBlock(substituted, WEBHOOKS_CONFIG_NAME, webhook_id, f"{declared.INLINE.name}."))
    except ConfigError:
        return None


def refuse_overlong_requests(stage: StageSettings, webhooks_text: str) -> None:
    """Raises OverlongRequests naming every webhook whose inline path (its budget, or one try's
    connect and socket timeouts when longer), the spill after it (up to SPILL_BUDGET_SECONDS) and
    the answer would outlast the HTTP function's timeout: Lambda would stop the function
    mid-spill, and the sender get API Gateway's 502 instead of a 202 or 503. A value given as a
    stack parameter is judged by its default: only the parameter's value at deploy time can tell."""
    document = json.loads(webhooks_text)
    timeout = stage.api_handler.timeout_seconds
    problems: list[str] = []
    for webhook_id, settings in document.items():
        if not isinstance(settings, dict):
            continue
        budget = _inline_budget(webhook_id, settings, stage.api_handler.environment)
        if budget is None:
            continue
        inline = inline_seconds_at_most(budget)
        if request_seconds_needed(inline) <= timeout:
            continue
        problems.append(
            f"webhook {webhook_id!r}: {inline:g} s inline (inline.budget_seconds {budget.budget_seconds:g}, or one "
            f"try's connect_timeout + socket_timeout {budget.connect_timeout + budget.socket_timeout:g}) + the "
            f"spill's {SPILL_BUDGET_SECONDS:g} s + {ANSWER_MARGIN_SECONDS:g} s to answer = "
            f"{request_seconds_needed(inline):g} s"
        )
    if problems:
        raise OverlongRequests(
            f"stage {stage.stage!r}: the HTTP function's timeout is {timeout} s, too short for "
            + "; ".join(problems)
            + ". Lower the webhook's inline timeouts in webhooks.json, or raise lambda_timeout for the "
            f"api_handler in stages.{stage.stage} of .chalice/config.json (API Gateway's integration timeout, "
            "29 s by default, is the ceiling)"
        )


def _resource_part(arn: str) -> tuple[str, str]:
    """`arn:*:ssm:*:*:parameter/x` -> ("ssm", "parameter/x")."""
    parts = arn.split(":", 5)
    return (parts[2], parts[5]) if len(parts) == 6 else ("", arn)


def _policy_arn(reference: SecretReference) -> str:
    """The wildcard form the policy files use (any partition, region and account)."""
    if reference.service == "ssm":
        return "arn:*:ssm:*:*:parameter/" + reference.name.lstrip("/")
    return f"arn:*:secretsmanager:*:*:secret:{reference.name}-??????"


def _grants(statements: list[dict[str, Any]], reference: SecretReference) -> bool:
    action = READ_ACTIONS[reference.service]
    # What AWS will match: the secret's ARN ends in 6 random characters.
    service, wanted = _resource_part(_policy_arn(reference).replace("??????", "AbCdEf"))
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if statement.get("Effect") != "Allow" or not any(fnmatch.fnmatchcase(action, name) for name in actions):
            continue
        for resource in resources:
            granted_service, granted = _resource_part(resource)
            if resource == "*" or (
                fnmatch.fnmatchcase(service, granted_service) and fnmatch.fnmatchcase(wanted, granted)
            ):
                return True
    return False


def _policy_statements(project_dir: str, function: FunctionSettings) -> list[dict[str, Any]]:
    if function.iam_policy_file is None:
        return []
    with open(os.path.join(project_dir, ".chalice", function.iam_policy_file), encoding="utf-8") as file:
        statements: list[dict[str, Any]] = json.load(file).get("Statement", [])
    return statements


def refuse_ungranted_secrets(project_dir: str, stage: StageSettings, webhooks_text: str) -> None:
    """Raises UngrantedSecrets when `chalice deploy` would give a function a role that cannot read
    a parameter or secret its configuration needs (every webhook would answer 503)."""
    references = referenced_secrets(stage, webhooks_text)
    if not references:
        return
    missing: dict[str, list[SecretReference]] = {}
    for function in (stage.api_handler, stage.drain):
        statements = _policy_statements(project_dir, function)
        lacking = [reference for reference in references if not _grants(statements, reference)]
        if lacking:
            missing[function.iam_policy_file or f"the policy Chalice generates for {function.name}"] = lacking
    if not missing:
        return
    lacking = sorted({reference for group in missing.values() for reference in group}, key=str)
    statements = [
        {
            "Effect": "Allow",
            "Action": [READ_ACTIONS[service]],
            "Resource": sorted({_policy_arn(r) for r in lacking if r.service == service}),
        }
        for service in ("ssm", "secretsmanager")
        if any(reference.service == service for reference in lacking)
    ]
    raise UngrantedSecrets(
        f"stage {stage.stage!r}: webhooks.json reads {', '.join(str(reference) for reference in lacking)}, but "
        f"{' and '.join(sorted(missing))} grant no read on it (every webhook would answer 503). Add to the "
        f"Statement list of each policy file in .chalice/ (autogen_policy false): {json.dumps(statements)}; "
        "or deploy with `make package`, whose template grants exactly these"
    )
