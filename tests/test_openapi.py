"""The committed OpenAPI documents are the HTTP contract; this fails when the code drifts."""

import json
from pathlib import Path

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def generator():
    return load_script("deploy/local/openapi.py", "openapi_gen")


def test_every_service_has_a_committed_openapi_document_equal_to_its_code() -> None:
    gen = generator()
    drift = [
        service
        for service, package in gen.SERVICES.items()
        if (gen.TARGET / f"{service}.json").read_text() != gen.render(gen.document(package))
    ]
    assert not drift, f"HTTP API changed for {drift}: run `make openapi` and commit deploy/openapi/"


def test_errors_are_documented_as_problem_details_and_routes_carry_their_auth() -> None:
    spec = json.loads((ROOT / "deploy/openapi/billing-gate.json").read_text())
    usage = spec["paths"]["/v1/workspaces/{workspace_id}/usage"]["get"]
    assert "application/problem+json" in usage["responses"]["401"]["content"]
    assert usage["security"] == [{"GatewayJWT": []}]
    reserve = spec["paths"]["/internal/v1/workspaces/{workspace_id}/reservations"]["post"]
    assert "application/problem+json" in reserve["responses"]["402"]["content"]
    assert reserve["security"] == [{"ServiceToken": []}]


def test_every_documented_error_is_a_problem_and_422_lists_its_errors() -> None:
    for path in (ROOT / "deploy/openapi").glob("*.json"):
        spec = json.loads(path.read_text())
        schemas = spec["components"]["schemas"]
        assert "HTTPValidationError" not in schemas, path.name
        assert schemas["ValidationProblem"]["allOf"][1]["required"] == ["errors"]
        for route, operations in spec["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                for status, response in responses.items():
                    if status.startswith(("4", "5")):
                        assert list(response["content"]) == ["application/problem+json"], (
                            path.name, route, method, status,
                        )  # fmt: skip
                if "requestBody" in operation:
                    assert {"400", "413", "422"} <= set(responses), (path.name, route, method)
                if route.startswith(("/internal/", "/v1/workspaces/")):
                    assert "401" in responses, (path.name, route, method)
