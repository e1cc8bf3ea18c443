"""The OpenAPI document says what the service really answers: every error is problem+json.

FastAPI documents its validation errors as `application/json` with its own schema, knows nothing
of the 401/404/413 the request guard answers before a route runs, and leaves a problem response
declared without a schema unchecked. `describe_problems` rewrites the generated document once:
each error response gets the `Problem` schema (422: `ValidationProblem`, with its `errors`),
protected routes get their 401 (and 404 for another workspace's token), routes taking a body
their 413 and 400. A fuzzer (schemathesis, in CI) then holds every answer to this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mooring.service.problems import PROBLEM_JSON

__all__ = ["describe_problems"]

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A stable URN: urn:mooring:problem:<slug>."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
_VALIDATION_PROBLEM = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["location", "message"],
                        "properties": {
                            "location": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                }
            },
        },
    ]
}
_DEFAULTS = {
    "400": "The request could not be read (a malformed Content-Length or body stream).",
    "401": "Missing or invalid bearer token.",
    "404": "Not found (also a token for another workspace: ids cannot be probed).",
    "413": "The request body is larger than the service accepts; it was not read.",
    "422": "The request is not valid; `errors` names each field and rule.",
}


def _problem_content(schema: str) -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def describe_problems(app: FastAPI) -> None:
    """Rewrite `app`'s OpenAPI document as above; done once, when it is first asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = _PROBLEM
        schemas["ValidationProblem"] = _VALIDATION_PROBLEM
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                _describe(path, operation)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _describe(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = set()
    if path.startswith(("/internal/", "/v1/workspaces/")):
        wanted.add("401")
    if path.startswith("/v1/workspaces/"):
        wanted.add("404")
    if "requestBody" in operation:
        wanted |= {"400", "413", "422"}
    if operation.get("parameters"):
        wanted.add("422")
    for status in wanted:
        responses.setdefault(status, {"description": _DEFAULTS[status]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            schema = "ValidationProblem" if status == "422" else "Problem"
            response["content"] = _problem_content(schema)
            if status == "422":
                response["description"] = _DEFAULTS["422"]
