"""Server-rendered pages: the shared parts (templates, form tokens, sign-in cookies, error pages).

Every page works without JavaScript. Forms carry a one-time token; errors show beside the field
and in a summary at the top that names the field and links to it (error_summary.py).
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any, Optional, TypeVar

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError, create_model
from starlette.datastructures import FormData

from eresident import i18n
from eresident.config import REGIONS
from eresident.deps import PRESESSION_COOKIE, SESSION_COOKIE, csrf_binding, session_token
from eresident.error_summary import field_names
from eresident.kit.errors import FieldError, Problem, translate
from eresident.kit.web import validation_problem

TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True, extensions=["jinja2.ext.i18n"]))
# The translation functions read the language render() activated for this request (i18n.activate).
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
    gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True)
def _region_name(code: str) -> str:
    """A region's name in the page's language: its Chinese name on Chinese pages, else English."""
    names = REGIONS.get(code)
    if names is None:
        return code
    return names[1] if i18n.current().code == "zh" else names[0]


TEMPLATES.env.filters.update(
    country=i18n.country,
    countries_in_language=i18n.countries_in_language,
    yesno=lambda value: i18n.gettext("Yes") if value else i18n.gettext("No"),
    local=i18n.local_time,
    date=i18n.local_date,
    number=i18n.number,
    region_name=lambda code: _region_name(code),
    message=translate,  # a refusal's title or detail (kit.errors) in the page's language
    field_names=field_names,  # what the rendered page calls each field, for the error summary (base.html)
    field_id=lambda name: name.replace("/", "-").replace(".", "-"),  # a field's element id: the summary links to it
)
router = APIRouter(include_in_schema=False)


def _ensure_presession(request: Request) -> None:
    """Anonymous forms bind their tokens to a pre-session cookie, made on first render."""
    token, from_cookie = session_token(request)
    bound_to_session = bool(token and from_cookie)
    if not bound_to_session and not request.cookies.get(PRESESSION_COOKIE):
        if not getattr(request.state, "new_presession", None):
            request.state.new_presession = secrets.token_urlsafe(24)


def form_token(request: Request) -> str:
    """A single-use token: one per form, consumed with the change the form makes."""
    _ensure_presession(request)
    return request.app.state.ctx.csrf.form_token(csrf_binding(request))


def language_of(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.LANGUAGE_COOKIE), request.headers.get("accept-language"))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    ctx = request.app.state.ctx
    i18n.activate(language_of(request))
    language = i18n.current()
    # Refusals are English (the API's words); the page shows them in its language (kit.errors.translate).
    errors = [FieldError(e.field, translate(e.reason)) for e in context.pop("errors", None) or []]
    # What the error summary calls a field the page itself does not label (base.html): a msgid, shown
    # translated and escaped like any text.
    labels = {field: translate(label) for field, label in (context.pop("error_labels", None) or {}).items()}
    _ensure_presession(request)
    response = TEMPLATES.TemplateResponse(request, template, {
        "region": ctx.settings, "csrf_token": lambda: form_token(request),
        "csrf_reusable": ctx.csrf.header_token(csrf_binding(request)), "errors": errors, "error_labels": labels,
        "field_errors": {e.field: e.reason for e in errors}, "principal": getattr(request.state, "principal", None),
        "lang": language.code, "dir": language.direction, "languages": i18n.LANGUAGES.values(),
        "region_label": ctx.settings.region_name_zh if language.code == "zh" else ctx.settings.region_name,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context}, status_code=status)
    presession = getattr(request.state, "new_presession", None)
    if presession:
        response.set_cookie(PRESESSION_COOKIE, presession, httponly=True, samesite="lax",
                            secure=ctx.settings.secure_cookies, path="/")
    return response


def set_session_cookie(request: Request, response: Response, token: str, hours: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, httponly=True, samesite="lax",
                        secure=request.app.state.ctx.settings.secure_cookies, path="/")
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def problem_errors(problem: Problem) -> list[FieldError]:
    return problem.errors or [FieldError("", problem.detail or problem.title)]


def validation_errors(exc: ValidationError) -> list[FieldError]:
    return validation_problem(exc).errors


M = TypeVar("M", bound=BaseModel)


def validate_partly(model: type[M], body: dict[str, Any]) -> tuple[M | None, list[FieldError], frozenset[str]]:
    """A form's body as `model`, or, when some fields are invalid, a model of the valid ones (the invalid
    ones None), their errors and their names: the page can run its later checks on what is right and
    show every problem at once, not one stage per attempt. None when even that cannot be built."""
    try:
        return model.model_validate(body), [], frozenset()
    except ValidationError as exc:
        errors = validation_errors(exc)
        failed = frozenset(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
    try:
        valid = {name: value for name, value in body.items() if name not in failed}
        return _lenient(model).model_validate(valid), errors, failed  # type: ignore[return-value]
    except ValidationError:
        return None, errors, failed


@functools.cache
def _lenient(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with every field optional (None), keeping its validators: the valid part of a form."""
    fields: dict[str, Any] = {name: (Optional[info.annotation], None)  # noqa: UP045 - a runtime type
                             for name, info in model.model_fields.items()}
    return create_model(f"Valid{model.__name__}", __base__=model, **fields)


async def form_data(request: Request) -> FormData:
    return await request.form()


Form = Depends(form_data)


def _officials_area(request: Request) -> bool:
    return request.url.path.startswith(("/official", "/agent"))


def error_page(request: Request, problem: Problem) -> Response:
    if problem.status == 401:
        return redirect("/official/login" if _officials_area(request) else "/login")
    signed_in = bool(request.cookies.get(SESSION_COOKIE))
    back = ("/official" if _officials_area(request) else "/my") if signed_in else "/"
    return render(request, "error.html", status=problem.status, problem=problem, back=back,
                  signed_in=signed_in)


@router.get("/language")
def choose_language(request: Request, lang: str = "en", next: str = "/") -> Response:
    """Remember the language a person chose (a year, this browser) and go back to their page."""
    back = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    response = redirect(back)
    if lang in i18n.LANGUAGES:
        response.set_cookie(i18n.LANGUAGE_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax",
                            secure=request.app.state.ctx.settings.secure_cookies, path="/")
    return response


def _include_domain_pages() -> None:
    from eresident.identity.apply_pages import router as application_pages
    from eresident.identity.pages import router as identity_pages
    from eresident.sites.pages import router as site_pages

    router.include_router(identity_pages)
    router.include_router(application_pages)  # after identity_pages: /apply/one-page before /apply/{slug}
    router.include_router(site_pages)


_include_domain_pages()
