"""`make deploy` (scripts/deploy.py: queues, then `chalice deploy`) against moto's server, which serves
IAM, Lambda, API Gateway and SQS on one endpoint.

moto 5.2.5 cannot import Chalice's REST API as it is: ImportRestApi reads `info.description`, which
Chalice's Swagger 2.0 document does not have (KeyError 'description'), and PutRestApi refuses any
document with a `swagger` key. moto's server runs in this process (devstack.moto_sqs, as in the
moto_sqs fixture), so the module patches both for its duration: a missing description defaults to
"", and the `swagger` key is dropped before moto reads `paths` (the same shape in Swagger 2.0 and
OpenAPI 3). Real API Gateway needs neither; nothing outside these tests changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.moto_sqs import MotoSqsServer
from tests.chalice_project import copy_project, run_script, set_stage_variables

pytestmark = pytest.mark.e2e

STAGE = "dev"
HTTP_FUNCTION = "spillway-dev"
DRAIN_FUNCTION = "spillway-dev-drain"
RETRY_QUEUE = "spillway-dev-retry"
DEAD_LETTER_QUEUE = "spillway-dev-dead-letter"


def patch_moto_to_import_chalice_swagger(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.apigateway.models import APIGatewayBackend

    import_rest_api = APIGatewayBackend.import_rest_api
    put_rest_api = APIGatewayBackend.put_rest_api

    def import_with_default_description(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        document = {**api_doc, "info": {"description": "", **api_doc.get("info", {})}}
        return import_rest_api(self, document, fail_on_warnings)

    def put_swagger_2(
        self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool, **kwargs: Any
    ) -> Any:
        document = {key: value for key, value in api_doc.items() if key != "swagger"}
        return put_rest_api(self, function_id, document, fail_on_warnings, **kwargs)

    monkeypatch.setattr(APIGatewayBackend, "import_rest_api", import_with_default_description)
    monkeypatch.setattr(APIGatewayBackend, "put_rest_api", put_swagger_2)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One deploy for the module: given a copy of the project and moto's server (emptied) at
    AWS_ENDPOINT_URL, when `make deploy` runs for dev."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    # a Redis Lambda could reach: make deploy refuses the seed's localhost
    set_stage_variables(project, STAGE, REDIS_HOST="spillway.abc123.use1.cache.amazonaws.com")
    with pytest.MonkeyPatch.context() as monkeypatch, MotoSqsServer(port=0) as server:
        server.reset()
        patch_moto_to_import_chalice_swagger(monkeypatch)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        run = run_script("deploy", "--project-dir", str(project), "--stage", STAGE)
        assert run.returncode == 0, run.stdout + run.stderr
        yield project, clients(server.url)
        server.reset()


def clients(endpoint: str) -> dict[str, Any]:
    import boto3

    return {
        service: boto3.client(service, region_name="us-east-1", endpoint_url=endpoint)
        for service in ("lambda", "apigateway", "sqs", "iam")
    }


def test_deploy_creates_both_functions_sized_by_the_stage(deployed: tuple[Path, dict[str, Any]]) -> None:
    # when
    _, aws = deployed
    functions = {function["FunctionName"]: function for function in aws["lambda"].list_functions()["Functions"]}

    # then
    assert set(functions) == {HTTP_FUNCTION, DRAIN_FUNCTION}
    assert (functions[HTTP_FUNCTION]["Timeout"], functions[HTTP_FUNCTION]["MemorySize"]) == (15, 256)
    assert (functions[DRAIN_FUNCTION]["Timeout"], functions[DRAIN_FUNCTION]["MemorySize"]) == (60, 256)
    assert functions[HTTP_FUNCTION]["Role"] != functions[DRAIN_FUNCTION]["Role"]
    variables = functions[DRAIN_FUNCTION]["Environment"]["Variables"]
    assert variables["RETRY_QUEUE_NAME"] == RETRY_QUEUE
    # chalice deploy cannot turn ReportBatchItemFailures on, so the drain must not rely on it
    assert variables["REPORT_BATCH_ITEM_FAILURES"] == "false"
    concurrency = aws["lambda"].get_function_concurrency(FunctionName=DRAIN_FUNCTION)
    assert concurrency["ReservedConcurrentExecutions"] == 5


def test_deploy_maps_the_stages_retry_queue_to_the_drain_in_batches_of_ten(
    deployed: tuple[Path, dict[str, Any]],
) -> None:
    # when
    _, aws = deployed
    [mapping] = aws["lambda"].list_event_source_mappings()["EventSourceMappings"]

    # then
    assert mapping["EventSourceArn"].endswith(f":sqs:us-east-1:123456789012:{RETRY_QUEUE}")
    assert mapping["FunctionArn"].endswith(f":function:{DRAIN_FUNCTION}")
    assert mapping["BatchSize"] == 10


def test_deploy_creates_the_rest_api_routing_to_the_http_function(deployed: tuple[Path, dict[str, Any]]) -> None:
    # when
    _, aws = deployed
    [api] = aws["apigateway"].get_rest_apis()["items"]
    resources = {item["path"]: item for item in aws["apigateway"].get_resources(restApiId=api["id"])["items"]}

    # then
    assert api["name"] == "spillway"
    webhook = resources["/webhook/{webhook_id}"]["resourceMethods"]["POST"]["methodIntegration"]
    assert webhook["type"] == "aws_proxy"
    assert f":function:{HTTP_FUNCTION}/invocations" in webhook["uri"]
    assert "GET" in resources["/health"]["resourceMethods"]


def test_deploy_bootstraps_the_stages_queues_before_the_mapping(deployed: tuple[Path, dict[str, Any]]) -> None:
    # when
    _, aws = deployed
    url = aws["sqs"].get_queue_url(QueueName=RETRY_QUEUE)["QueueUrl"]
    attributes = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    # then: visibility 6 x the drain's 60 s, and dead letters after 5 receives
    assert attributes["VisibilityTimeout"] == "360"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{DEAD_LETTER_QUEUE}")
    assert int(redrive["maxReceiveCount"]) == 5


def test_deploy_gives_each_role_its_own_policy_file(deployed: tuple[Path, dict[str, Any]]) -> None:
    # given
    project, aws = deployed

    # when
    [policy_name] = aws["iam"].list_role_policies(RoleName=DRAIN_FUNCTION)["PolicyNames"]
    document = aws["iam"].get_role_policy(RoleName=DRAIN_FUNCTION, PolicyName=policy_name)["PolicyDocument"]

    # then
    expected = json.loads((project / ".chalice" / "policy-dev-drain.json").read_text())
    assert document == expected


def test_a_second_deploy_updates_in_place_and_leaves_no_bundled_copy(deployed: tuple[Path, dict[str, Any]]) -> None:
    # given a first deploy
    project, aws = deployed

    # when
    again = run_script("deploy", "--project-dir", str(project), "--stage", STAGE)

    # then
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{RETRY_QUEUE}: already as wanted" in again.stdout
    assert len(aws["lambda"].list_functions()["Functions"]) == 2
    assert len(aws["lambda"].list_event_source_mappings()["EventSourceMappings"]) == 1
    assert len(aws["apigateway"].get_rest_apis()["items"]) == 1
    assert (project / ".chalice" / "deployed" / f"{STAGE}.json").exists()
    assert not (project / "chalicelib" / "webhooks.json").exists()
