"""A stand-in for `awslocal` (the aws CLI aimed at LocalStack), enough for the commands of
devstack/localstack/create-queues.sh, so that a test runs the hook unchanged against moto's server
without installing the aws CLI (155 MB with the botocore it bundles).

    awslocal SERVICE OPERATION [--parameter VALUE...] [--query EXPRESSION] [--output text|json]

As the CLI reads them: operation and parameters are boto3's names in kebab case; a map or
structure parameter takes JSON, a list parameter the values after it; `--query` is JMESPath;
`s3api` is S3. The endpoint comes from AWS_ENDPOINT_URL, as awslocal takes it. A service error
exits 255 with the CLI's message, an option the operation does not have exits 252.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
import jmespath
from botocore import xform_name
from botocore.exceptions import ClientError

CLI_SERVICE_NAMES = {"s3api": "s3"}
SERVICE_ERROR_STATUS = 255
USAGE_ERROR_STATUS = 252


def pascal_case(kebab: str) -> str:
    return "".join(part.capitalize() for part in kebab.split("-"))


def parse_options(shape_members: dict[str, Any], options: list[str]) -> tuple[dict[str, Any], str | None, str]:
    """(boto3 parameters, query, output format); raises KeyError for an unknown option."""
    parameters: dict[str, Any] = {}
    query: str | None = None
    output = "json"
    position = 0
    while position < len(options):
        option = options[position].removeprefix("--")
        position += 1
        values: list[str] = []
        while position < len(options) and not options[position].startswith("--"):
            values.append(options[position])
            position += 1
        if option == "query":
            query = values[0]
        elif option == "output":
            output = values[0]
        else:
            name = pascal_case(option)
            kind = shape_members[name].type_name
            parameters[name] = (
                values if kind == "list" else json.loads(values[0]) if kind in ("map", "structure") else values[0]
            )
    return parameters, query, output


def render(result: Any, output: str) -> str:
    if output == "text" and not isinstance(result, (dict, list)):
        return "" if result is None else str(result)
    return json.dumps(result, indent=4, default=str)


def main(argv: list[str]) -> int:
    service, operation, *options = argv
    client = boto3.client(CLI_SERVICE_NAMES.get(service, service))
    operation_model = client.meta.service_model.operation_model(pascal_case(operation))
    members = dict(operation_model.input_shape.members) if operation_model.input_shape else {}
    try:
        parameters, query, output = parse_options(members, options)
    except KeyError as exc:
        print(f"aws: error: unknown option for {service} {operation}: {exc}", file=sys.stderr)
        return USAGE_ERROR_STATUS
    try:
        response = getattr(client, xform_name(operation_model.name))(**parameters)
    except ClientError as exc:
        print(
            f"\nAn error occurred ({exc.response['Error'].get('Code')}) when calling the {operation_model.name} "
            f"operation: {exc.response['Error'].get('Message')}",
            file=sys.stderr,
        )
        return SERVICE_ERROR_STATUS
    response.pop("ResponseMetadata", None)
    result = jmespath.search(query, response) if query else response
    if result not in (None, {}):
        print(render(result, output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
