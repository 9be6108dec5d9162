"""Values kept where AWS users keep secrets: `${ssm:/path}` (a SecureString is decrypted),
`${secretsmanager:name}` and `${secretsmanager:name#json_key}` in webhooks.json, and
`WEBHOOKS_CONFIG=ssm:/parameter` holding the whole file.

Read when the configuration loads, in as few calls as the APIs allow: SSM's GetParameters takes
10 names at once; Secrets Manager is read with one GetSecretValue per secret, because
BatchGetSecretValue cannot be granted on single secrets (its IAM action takes no resource), and a
deploy template that grants read on exactly the referenced secrets matters more than a round trip.
boto3 is imported only when a reference exists: a configuration without one calls nothing new.
Errors name the reference, never its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from chalicelib.aws_calls import build_client, call_aws
from chalicelib.errors import SpillwayError
from chalicelib.process_state import ProcessCache

Service = Literal["ssm", "secretsmanager"]
SSM_PREFIX = "ssm:"
# SSM GetParameters accepts at most 10 names per call.
SSM_BATCH_SIZE = 10
# Read at cold start or on a refresh while a request waits: short, as for SQS.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 3.0

_REFERENCE = re.compile(r"\$\{(?P<service>ssm|secretsmanager):(?P<name>[^}#]+)(?:#(?P<key>[^}]+))?\}")


@dataclass(frozen=True)
class SecretReference:
    service: Service
    name: str
    json_key: str | None = None

    def __str__(self) -> str:
        key = "" if self.json_key is None else f"#{self.json_key}"
        return f"${{{self.service}:{self.name}{key}}}"


class UnresolvedReference(SpillwayError):
    """The parameter or secret does not exist, or does not hold what the reference asks for."""

    def __init__(self, reference: SecretReference, problem: str):
        self.reference = reference
        self.problem = problem
        super().__init__(f"{reference} {problem}")


class SecretsUnavailable(SpillwayError):
    """SSM or Secrets Manager could not be asked right now (unreachable, throttled, denied)."""


def split_references(text: str) -> Iterator[tuple[str, SecretReference | None]]:
    """`text` as (literal, the reference after it) pairs; the last pair's reference is None."""
    position = 0
    for match in _REFERENCE.finditer(text):
        yield text[position : match.start()], _reference(match)
        position = match.end()
    yield text[position:], None


def references_in(text: str) -> list[SecretReference]:
    return [_reference(match) for match in _REFERENCE.finditer(text)]


def _reference(match: re.Match[str]) -> SecretReference:
    service: Service = "ssm" if match.group("service") == "ssm" else "secretsmanager"
    return SecretReference(service, match.group("name"), match.group("key"))


def ssm_parameter_name(webhooks_config: str) -> str | None:
    """`ssm:/spillway/webhooks` -> `/spillway/webhooks`; None for a file path."""
    return webhooks_config[len(SSM_PREFIX) :] if webhooks_config.startswith(SSM_PREFIX) else None


_clients: ProcessCache[tuple[str, str | None], Any] = ProcessCache("secret store clients")


def _client(service: Service, region: str | None) -> Any:
    return _clients.get(
        (service, region), lambda key: build_client(key[0], key[1], CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    )


def _get_parameters(region: str | None, names: list[str]) -> Any:
    # The client is built inside the retried call: a missing region is a SecretsUnavailable too.
    return _client("ssm", region).get_parameters(Names=names, WithDecryption=True)


def read_parameters(names: Iterable[str], region: str | None) -> dict[str, str]:
    """Decrypted values by name; a name SSM does not have is absent. Raises SecretsUnavailable."""
    unique = sorted(set(names))
    values: dict[str, str] = {}
    for start in range(0, len(unique), SSM_BATCH_SIZE):
        batch = unique[start : start + SSM_BATCH_SIZE]
        answer = call_aws(partial(_get_parameters, region, batch), f"ssm GetParameters {batch}", SecretsUnavailable)
        values.update({str(item["Name"]): str(item["Value"]) for item in answer.get("Parameters", [])})
    return values


def _read_secret(name: str, region: str | None) -> str | None:
    """The secret's SecretString; None when Secrets Manager has no such secret."""
    from botocore.exceptions import ClientError

    try:
        answer = call_aws(
            lambda: _client("secretsmanager", region).get_secret_value(SecretId=name),
            f"secretsmanager GetSecretValue {name}",
            SecretsUnavailable,
        )
    except SecretsUnavailable as exc:
        cause = exc.__cause__
        if (
            isinstance(cause, ClientError)
            and cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
        ):
            return None
        raise
    text = answer.get("SecretString")
    return None if text is None else str(text)


def resolve(
    references: Iterable[SecretReference], region: str | None
) -> dict[SecretReference, str | UnresolvedReference]:
    """Every reference's value, or why it has none. Raises SecretsUnavailable when a store could
    not be asked (the caller keeps what it had)."""
    wanted = set(references)
    results: dict[SecretReference, str | UnresolvedReference] = {}
    parameters = [reference for reference in wanted if reference.service == "ssm"]
    if parameters:
        values = read_parameters((reference.name for reference in parameters), region)
        for reference in parameters:
            if reference.json_key is not None:
                results[reference] = UnresolvedReference(reference, "takes no #key (only secretsmanager does)")
            elif reference.name in values:
                results[reference] = values[reference.name]
            else:
                results[reference] = UnresolvedReference(reference, "names no parameter of SSM Parameter Store")
    secrets = {reference.name for reference in wanted if reference.service == "secretsmanager"}
    texts = {name: _read_secret(name, region) for name in sorted(secrets)}
    for reference in wanted:
        if reference.service == "secretsmanager":
            results[reference] = _secret_value(reference, texts[reference.name])
    return results


def _secret_value(reference: SecretReference, text: str | None) -> str | UnresolvedReference:
    if text is None:
        return UnresolvedReference(reference, "names no secret of Secrets Manager with a SecretString")
    if reference.json_key is None:
        return text
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return UnresolvedReference(reference, "names a secret that is not a JSON object")
    value = document.get(reference.json_key)
    if value is None:
        return UnresolvedReference(reference, f"names a secret without the key {reference.json_key!r}")
    return value if isinstance(value, str) else json.dumps(value)
