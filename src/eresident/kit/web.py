"""The web layer's shared parts: problem+json responses, security headers, request logs, body limits."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eresident.i18n import N_
from eresident.kit.errors import PROBLEM_JSON, FieldError, Problem
from eresident.kit.errors import Message as Translatable  # starlette.types has a Message too
from eresident.kit.units import human_size

log = structlog.get_logger("eresident.web")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def problem_response(problem: Problem, request: Request) -> Response:
    headers = {}
    if problem.status == 429 and "retry_after" in problem.extra:
        headers["Retry-After"] = str(problem.extra["retry_after"])
    return JSONResponse(problem.to_dict(instance=request.url.path), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=headers)


def _loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return "/".join(parts) or "body"


# Pydantic's error types as plain messages for pages (kit.errors.translate); the API keeps pydantic's
# English. A value that is empty gets _REQUIRED whatever rule it failed.
_REQUIRED = N_("Fill in this field.")
_PLAIN: dict[str, str] = {
    "missing": _REQUIRED,
    "string_too_short": N_("Enter at least %(min_length)s characters."),
    "string_too_long": N_("Enter at most %(max_length)s characters."),
    "string_pattern_mismatch": N_("This is not in the expected format."),
    "string_type": N_("Enter text."),
    "too_short": N_("Give at least %(min_length)s entries."),
    "too_long": N_("Give at most %(max_length)s entries."),
    "date_parsing": N_("Enter a real date as year-month-day, for example 1990-03-27."),
    "date_from_datetime_parsing": N_("Enter a real date as year-month-day, for example 1990-03-27."),
    "date_type": N_("Enter a real date as year-month-day, for example 1990-03-27."),
    "date_from_datetime_inexact": N_("Enter a date without a time."),
    "datetime_parsing": N_("Enter a date and time with its UTC offset, for example 2026-12-01T09:00:00Z."),
    "datetime_from_date_parsing": N_("Enter a date and time with its UTC offset, for example 2026-12-01T09:00:00Z."),
    "datetime_type": N_("Enter a date and time with its UTC offset, for example 2026-12-01T09:00:00Z."),
    "uuid_parsing": N_("This is not a valid id."),
    "uuid_type": N_("This is not a valid id."),
    "bool_parsing": N_("Answer yes or no."),
    "bool_type": N_("Answer yes or no."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "int_from_float": N_("Enter a whole number."),
    "float_parsing": N_("Enter a number."),
    "float_type": N_("Enter a number."),
    "decimal_parsing": N_("Enter a number."),
    "decimal_type": N_("Enter a number."),
    "finite_number": N_("Enter a number."),
    "decimal_max_digits": N_("Use at most %(max_digits)s digits."),
    "decimal_max_places": N_("Use at most %(decimal_places)s decimal places."),
    "decimal_whole_digits": N_("Use at most %(whole_digits)s digits before the decimal point."),
    "greater_than": N_("Enter a number greater than %(gt)s."),
    "greater_than_equal": N_("Enter a number of at least %(ge)s."),
    "less_than": N_("Enter a number less than %(lt)s."),
    "less_than_equal": N_("Enter a number of at most %(le)s."),
    "multiple_of": N_("Enter a multiple of %(multiple_of)s."),
    "literal_error": N_("Choose one of: %(expected)s."),
    "enum": N_("Choose one of: %(expected)s."),
    "extra_forbidden": N_("This field is not expected here; remove it."),
    "json_invalid": N_("This is not valid JSON."),
    "list_type": N_("Give a list."),
    "dict_type": N_("Give an object with the expected fields."),
    "model_type": N_("Give an object with the expected fields."),
    "model_attributes_type": N_("Give an object with the expected fields."),
}
_EMPTY_IS_MISSING = {"string_too_short", "string_pattern_mismatch", "too_short", "date_parsing",
                     "date_from_datetime_parsing", "datetime_parsing", "datetime_from_date_parsing",
                     "uuid_parsing", "bool_parsing", "int_parsing", "float_parsing", "decimal_parsing",
                     "literal_error", "enum"}


def _plain(err: Any, english: str) -> str:
    """The reason for one pydantic error: `english` for the API, a translatable plain message for pages.
    Our own validators raise ValueError with a marked text or a kit.errors.Message; it is kept."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "value_error":
        raised = ctx.get("error")
        said = raised.args[0] if isinstance(raised, ValueError) and raised.args else None
        if isinstance(said, Translatable):
            return Translatable.with_english(english, said.template, **said.params)
        if "reason" in ctx and english.startswith("value is not a valid email address"):
            return Translatable.with_english(english, N_("Enter an email address in the right format, such "
                                                         "as name@example.com."))
        return english  # a marked text is its own msgid
    value = err.get("input")
    empty = value is None or (isinstance(value, str | list | dict) and not value)
    if kind in _EMPTY_IS_MISSING and empty:
        return Translatable.with_english(english, _REQUIRED)
    if kind not in _PLAIN:
        return english
    params = {key: ctx[key] for key in ("min_length", "max_length", "max_digits", "decimal_places",
                                        "whole_digits", "gt", "ge", "lt", "le", "multiple_of", "expected")
              if key in ctx}
    try:
        _PLAIN[kind] % params
    except (KeyError, TypeError, ValueError):  # a ctx without what the message names: say it as pydantic does
        return english
    return Translatable.with_english(english, _PLAIN[kind], **params)


def validation_problem(exc: RequestValidationError | ValidationError) -> Problem:
    errors = []
    for err in exc.errors():
        msg = err.get("msg", "is not valid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        errors.append(FieldError(_loc(tuple(err.get("loc", ()))), _plain(err, msg)))
    first = errors[0] if errors else FieldError("body", "is not valid")
    return Problem(422, N_("Your request has invalid fields"), code="invalid-field",
                   detail=Translatable.with_english(f"{first.field}: {first.reason}", "%(field)s: %(reason)s",
                                                    field=first.field, reason=first.reason), errors=errors)


def http_problem(exc: StarletteHTTPException) -> Problem:
    titles = {404: "Not found", 405: "Method not allowed", 401: "Sign in to continue",
              403: "Forbidden", 413: "Request too large", 415: "Unsupported media type"}
    return Problem(exc.status_code, titles.get(exc.status_code, "Request refused"),
                   detail=str(exc.detail) if exc.detail else "", code=f"http-{exc.status_code}")


class SecurityHeaders:
    """Headers every response carries (CSP without inline script, no framing, no referrer leaks)."""

    def __init__(self, app: ASGIApp, *, hsts: bool):
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                existing = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY"),
                         (b"cross-origin-opener-policy", b"same-origin"),
                         (b"permissions-policy", b"camera=(), microphone=(), geolocation=()")]
                if scope["path"].startswith("/docs"):
                    pass  # Swagger UI loads its own script; the API pages keep their default
                else:
                    extra.append((b"content-security-policy", CSP.encode()))
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                headers.extend((k, v) for k, v in extra if k not in existing)
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


# A JSON string escape for NUL: \u0000 after an even number of other backslashes.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _is_utf8_form(body: bytes) -> bool:
    """Whether an urlencoded body decodes to UTF-8 text, raw bytes and %-escapes alike."""
    try:
        unquote_to_bytes(body.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text_problem(content_type: bytes, body: bytes) -> Problem | None:
    """A form that is not UTF-8, or NUL in a JSON or form text field: no field holds one, and
    PostgreSQL cannot even compare text containing NUL (psycopg raises), so refuse it here."""
    nul = Problem(400, "A field contains a NUL character", code="invalid-character",
                  detail="Remove the NUL character (U+0000) from the text.")
    if content_type == b"application/x-www-form-urlencoded":
        if not _is_utf8_form(body):
            return Problem(400, "The form is not valid UTF-8", code="invalid-encoding",
                           detail="Send the form's fields as UTF-8 text.")
        if b"\x00" in unquote_to_bytes(body):
            return nul
    elif content_type.endswith(b"json") and (b"\x00" in body or _JSON_NUL.search(body)):
        return nul
    return None


class BodyLimit:
    """Refuse bodies over the limit with a 413 problem, whether declared or streamed; and with a
    400, form bodies that are not UTF-8 (Starlette would read their bytes as Latin-1 and store the
    mojibake) and NUL characters in JSON or form text (see _text_problem).

    The body is read here, up to the limit, and handed on: a framework that parses a
    body turns any error raised while receiving it into a 400, so the check cannot live
    inside receive()."""

    def __init__(self, app: ASGIApp, *, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"").split(b";")[0].strip().lower()
        if (problem := _text_problem(content_type, body)) is not None:
            await self._refuse(send, problem)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, problem: Problem | None = None) -> None:
        problem = problem or Problem(413, "Request too large", code="body-too-large",
                                     detail=f"Requests may be at most {human_size(self.max_bytes)}.")
        payload = json.dumps(problem.to_dict()).encode()
        await send({"type": "http.response.start", "status": problem.status,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class NulInUrl:
    """Refuse a NUL character in the path or the query with a 400 problem. No identifier holds
    one, and PostgreSQL cannot even compare a text value containing it (psycopg raises)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope.get("path", "")
                                        or b"%00" in scope.get("query_string", b"")
                                        or b"\x00" in scope.get("query_string", b"")):
            problem = Problem(400, "The address contains a NUL character", code="invalid-character",
                              detail="Remove %00 from the address.")
            payload = json.dumps(problem.to_dict(instance=scope.get("path", "").replace("\x00", ""))).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, receive, send)


class UnhandledErrors:
    """Turn an unexpected exception into the node's 500 page or problem here, inside the security
    headers, rather than in Starlette's outermost error middleware, which no header reaches."""

    def __init__(self, app: ASGIApp, *, handler):
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await self.handler(Request(scope), exc)
            await response(scope, receive, send)


class RequestLog:
    """One log line per request: method, route path, status, time. Never the query or the body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            log.info("request", request_id=request_id, method=scope["method"],
                     route=getattr(route, "path", None) or "unmatched", status=status,
                     ms=round((time.perf_counter() - started) * 1000, 1))
