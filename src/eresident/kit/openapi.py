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


# OpenAPI 3 links: what a client (and schemathesis's stateful run) may do next with what an answer
# gives. (source method, path, status) -> [(link name, target method, path, parameters, body)];
# targets are named by operationId, looked up here so a renamed route function cannot leave a stale id.
_ID = "$response.body#/id"
_FORMATION = "/api/v1/formations/{formation_id}"
LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str], dict[str, str] | None]]] = {
    ("post", "/api/v1/names/reservations", "201"): [
        ("ReleaseReservation", "delete", "/api/v1/names/reservations/{reservation_id}", {"reservation_id": _ID}, None),
        ("FormCompanyWithName", "post", "/api/v1/formations", {}, {"name_reservation_id": _ID}),
    ],
    ("post", "/api/v1/formations", "201"): [
        ("ReadFormation", "get", _FORMATION, {"formation_id": _ID}, None),
        ("ChangeFormation", "put", _FORMATION, {"formation_id": _ID}, None),
        ("SubmitFormation", "post", _FORMATION + "/submit", {"formation_id": _ID}, None),
    ],
    ("put", _FORMATION, "200"): [
        ("ReadFormation", "get", _FORMATION, {"formation_id": _ID}, None),
        ("SubmitFormation", "post", _FORMATION + "/submit", {"formation_id": _ID}, None),
    ],
    ("post", _FORMATION + "/submit", "200"): [
        ("ReadFormation", "get", _FORMATION, {"formation_id": _ID}, None),
        ("ReadArticles", "get", _FORMATION + "/articles", {"formation_id": _ID}, None),
        ("ReadSigningInput", "get", _FORMATION + "/signing-input", {"formation_id": _ID}, None),
        ("SignArticles", "post", _FORMATION + "/signatures", {"formation_id": _ID},
         {"document_sha256": "$response.body#/articles_sha256"}),
        ("ReadSignatures", "get", _FORMATION + "/signatures", {"formation_id": _ID}, None),
    ],
    ("post", "/api/v1/documents", "201"): [
        ("ReadDocument", "get", "/api/v1/documents/{document_id}", {"document_id": _ID}, None),
        ("ApplyWithPhoto", "post", "/api/v1/applications", {}, {"photo_document_id": _ID}),
    ],
    ("post", "/api/v1/applications", "201"): [
        ("ReadApplication", "get", "/api/v1/applications/{application_id}", {"application_id": _ID}, None),
        ("BookAppointment", "post", "/api/v1/applications/{application_id}/appointment",
         {"application_id": _ID}, None),
    ],
}

WHOLE_BODY = {"SignArticles"}  # links whose body is the whole request body


def document_links(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the `links` of LINKS to the document's responses (a link whose source or target route is
    missing is left out). Idempotent."""
    paths = schema.get("paths", {})
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, target_method, target_path, parameters, body in links:
            target = paths.get(target_path, {}).get(target_method, {}).get("operationId")
            if target is None:
                continue
            link: dict[str, Any] = {"operationId": target}
            if parameters:
                link["parameters"] = dict(parameters)
            if body is not None:
                link["requestBody"] = dict(body)
                if name in WHOLE_BODY:  # schemathesis merges a link's body into a generated one by default
                    link["x-schemathesis"] = {"merge_body": False}
            response.setdefault("links", {})[name] = link
    return schema


def use_problem_responses(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) document refusals as problems, and add the links
    between operations."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_links(document_problems(generate()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
