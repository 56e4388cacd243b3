"""The OpenAPI document says what the node really answers: every refusal is an RFC 9457 problem
(`application/problem+json`), not FastAPI's default `HTTPValidationError` JSON."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from eresident.kit.errors import PROBLEM_JSON

PDF_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"description": "A PDF document",
                                                      "content": {"application/pdf": {}}}}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details: why the request was refused. `type` ends with a stable code; "
                   "`errors` names each invalid field and the reason.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "title": "Detail"},
        "instance": {"type": "string", "title": "Instance"},
        "errors": {"type": "array", "title": "Errors",
                   "items": {"$ref": "#/components/schemas/ProblemFieldError"}},
    },
    "additionalProperties": True,
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "required": ["field", "reason"],
    "properties": {"field": {"type": "string", "title": "Field"}, "reason": {"type": "string", "title": "Reason"}},
}
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
REFUSED = "Refused: an RFC 9457 problem whose type names the reason"


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a generated document in place: every 4xx/5xx response, and a `4XX` range on every
    operation, is `application/problem+json` with the Problem schema. Idempotent."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["ProblemFieldError"] = FIELD_ERROR_SCHEMA
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                continue
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[:1] in ("4", "5"):
                    response["content"] = dict(PROBLEM_CONTENT)
                    if code == "422":
                        response["description"] = "Invalid input: the problem's errors name each field"
            responses.setdefault("4XX", {"description": REFUSED, "content": dict(PROBLEM_CONTENT)})
    # FastAPI's validation-error schemas are no longer referenced by any response.
    text = repr(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components and f"#/components/schemas/{name}'" not in text:
            del components[name]
    return schema


def use_problem_responses(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) document refusals as problems."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
