"""Errors as RFC 9457 problem details: one shape for every refusal the API gives.

A refusal's texts are English, as the API answers. Pages show them in the reader's language:
a text without parameters is marked with `i18n.N_()` where it is raised (it is its own msgid); a
text with parameters is a `Message`, an English string that remembers its msgid and parameters.
`translate()` turns either into the page's language when a page renders it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from eresident import i18n
from eresident.i18n import N_

PROBLEM_JSON = "application/problem+json"


class Message(str):
    """A refusal text with named placeholders, e.g.
    ``Message(N_("Your passport expires on %(date)s."), date=expiry)``.

    As a string it is the English the API answers with (the template formatted with the
    parameters as they are: a date in ISO 8601). `translate()` formats the translated template
    instead, with each parameter written for the reader: a date in the page's language, a nested
    `Message` (or a marked word wrapped in one, ``Message(N_("photo"))``) translated in turn, any
    other value (a number, a case number, what someone typed) as it is.
    """

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, **params: Any) -> Message:
        return cls._make(template % params if params else template, template, params)

    @classmethod
    def with_english(cls, english: str, template: str, /, **params: Any) -> Message:
        """A message whose API text stays `english` (wording clients have read for a long time, such
        as pydantic's) while pages show the plainer `template`, translated."""
        return cls._make(english, template, params)

    @classmethod
    def _make(cls, english: str, template: str, params: dict[str, Any]) -> Message:
        message = str.__new__(cls, english)
        message.template = template
        message.params = params
        return message

    def __reduce__(self) -> tuple[Any, ...]:  # errors may be pickled between worker processes
        return (Message._make, (str(self), self.template, self.params))


def translate(text: str) -> str:
    """A refusal text in the current page language (i18n.activate). A text with no catalogue entry
    stays English; a translation that cannot be formatted falls back to the English, never a 500."""
    if not isinstance(text, Message):
        return i18n.gettext(text) if text else text
    if not text.params:
        return i18n.gettext(text.template)
    try:
        return i18n.gettext(text.template) % {name: _for_reader(value) for name, value in text.params.items()}
    except (KeyError, ValueError, TypeError):
        return str(text)


def _for_reader(value: Any) -> Any:
    if isinstance(value, Message):
        return translate(value)
    if isinstance(value, datetime):
        return i18n.local_time(value)
    if isinstance(value, date):
        return i18n.local_date(value)
    return value


def either(choices: list[str]) -> str:
    """'a or b or c' as one message whose parts are translated (each choice a marked text)."""
    joined: str = Message(choices[0])
    for choice in choices[1:]:
        joined = Message(N_("%(first)s or %(second)s"), first=joined, second=Message(choice))
    return joined


# Refusals worded outside the domains, marked here for the catalogues so their pages are translated:
# kit.web.http_problem's titles, the 500 of app.py, the form checks of deps.py. The page tests
# (tests/identity/test_messages_i18n.py) show each in Chinese, so a changed wording is noticed.
FRAME_TEXTS = (
    N_("Not found"), N_("Method not allowed"), N_("Sign in to continue"), N_("Request too large"),
    N_("Unsupported media type"), N_("Request refused"),
    N_("Something went wrong on our side"), N_("Nothing was changed. Try again later."),
    N_("This form is no longer valid"), N_("Reload the page and submit the form again."),
    N_("This form was already submitted"),
    N_("Nothing was changed. Go back to your page to see where things stand."),
)


@dataclass
class FieldError:
    """One invalid input: a JSON-pointer-ish location and a reason people can act on."""

    field: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": str(self.reason)}  # plain English, whatever it carries


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
            "title": str(self.title),
            "status": self.status,
        }
        if self.detail:
            body["detail"] = str(self.detail)
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.to_dict() for e in self.errors]
        body.update(self.extra)
        return body


class Refusals:
    """Checks that do not depend on each other, each free to refuse: all of them run, and `settle()`
    raises one problem holding every field error, so a person corrects a form in one pass. The
    first refusal gives the problem its status, title, code and detail, as if it had been raised
    alone. Use `with refusals.check():` around each independent check."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except Problem as problem:
            self.problems.append(problem)

    def settle(self) -> None:
        if not self.problems:
            return
        first = self.problems[0]
        if len(self.problems) == 1:
            raise first
        errors = [e for p in self.problems for e in (p.errors or [FieldError("", p.detail or p.title)])]
        raise Problem(first.status, first.title, detail=first.detail, code=first.code, errors=errors,
                      extra=first.extra)


def invalid(field_name: str, reason: str, *, title: str = N_("Your request has an invalid field")) -> Problem:
    return Problem(422, title, detail=reason, code="invalid-field",
                   errors=[FieldError(field_name, reason)])


def not_found(what: str) -> Problem:
    """`what` is translated on pages when it is marked (``not_found(N_("Application"))``)."""
    return Problem(404, Message(N_("%(what)s not found"), what=Message(what)), code="not-found")


def forbidden(detail: str = N_("You are not allowed to do this.")) -> Problem:
    return Problem(403, N_("Forbidden"), detail=detail, code="forbidden")


def conflict(detail: str, code: str = "conflict") -> Problem:
    return Problem(409, N_("Conflict"), detail=detail, code=code)
