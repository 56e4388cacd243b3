"""Errors as RFC 9457 problem details: one shape for every refusal the API gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"


@dataclass
class FieldError:
    """One invalid input: a JSON-pointer-ish location and a reason people can act on."""

    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class Problem(Exception):
    """A refusal the domain raises; the web layer renders it as problem+json or beside a form field."""

    status: int
    title: str
    detail: str = ""
    code: str = "error"  # stable machine code, becomes the type URI's last segment
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    @property
    def type_uri(self) -> str:
        return f"https://eresident.example/problems/{self.code}"

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.to_dict() for e in self.errors]
        body.update(self.extra)
        return body


def invalid(field_name: str, reason: str, *, title: str = "Your request has an invalid field") -> Problem:
    return Problem(422, title, detail=reason, code="invalid-field",
                   errors=[FieldError(field_name, reason)])


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found", code="not-found")


def forbidden(detail: str = "You are not allowed to do this.") -> Problem:
    return Problem(403, "Forbidden", detail=detail, code="forbidden")


def conflict(detail: str, code: str = "conflict") -> Problem:
    return Problem(409, "Conflict", detail=detail, code=code)
