"""create_app(settings): one region node — routers, middleware, error handling, the node context."""

from __future__ import annotations

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from eresident.config import Settings
from eresident.deps import csrf_protect
from eresident.kit.clock import Clock
from eresident.kit.context import NodeContext, build_context
from eresident.kit.db import Database
from eresident.kit.errors import Problem
from eresident.kit.openapi import use_problem_responses
from eresident.kit.web import (BodyLimit, NulInUrl, RequestLog, SecurityHeaders, UnhandledErrors, http_problem,
                               problem_response, validation_problem)

log = structlog.get_logger("eresident.app")
STATIC_DIR = __import__("pathlib").Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               database: Database | None = None, context: NodeContext | None = None,
               password_profile: str = "standard") -> FastAPI:
    settings = settings or Settings()
    ctx = context or build_context(settings, clock=clock, database=database,
                                   password_profile=password_profile)
    app = FastAPI(title=f"eresident — {settings.region_name}",
                  description="Overseas electronic residency: the API of one region node. Errors are "
                              "RFC 9457 problem details.",
                  version="0.1.0", dependencies=[Depends(csrf_protect)])
    app.state.ctx = ctx

    from eresident import pages
    from eresident.audit.routes import router as audit_router
    from eresident.federation.routes import router as federation_router
    from eresident.credentials.routes import router as credentials_router
    from eresident.dashboard.pages import router as dashboard_pages
    from eresident.documents.routes import router as documents_router
    from eresident.enterprise.routes import public as enterprise_pages
    from eresident.enterprise.routes import router as enterprise_router
    from eresident.enterprise.pages import router as enterprise_founder_pages
    from eresident.identity.routes import router as identity_router
    from eresident.officials.routes import router as officials_router
    from eresident.sites.routes import router as sites_router
    from eresident.workflow.routes import router as workflow_router
    from eresident.tax.routes import router as tax_router
    from eresident.banking.routes import router as banking_router

    @app.get("/healthz", tags=["node"], summary="Liveness and the node's region")
    def healthz() -> dict:
        return {"status": "ok", "region": settings.region}

    for router in (identity_router, officials_router, sites_router, documents_router, credentials_router,
                   audit_router, federation_router, enterprise_router, enterprise_pages, workflow_router,
                   dashboard_pages, pages.router, enterprise_founder_pages, tax_router, banking_router):
        app.include_router(router)
    from eresident.officials.secondment_routes import pages as secondment_pages
    from eresident.officials.secondment_routes import router as secondment_router
    app.include_router(secondment_router)  # cadre exchange (docs/federation.md)
    app.include_router(secondment_pages)
    from eresident.crosscase.routes import router as crosscase_router
    from eresident.crosscase.pages import router as crosscase_pages
    app.include_router(crosscase_router)  # cross-region cases (docs/federation.md)
    app.include_router(crosscase_pages)
    from eresident.banking.pages import router as bank_pages
    from eresident.tax.pages import router as tax_pages
    app.include_router(tax_pages)  # the founder's tax deadlines and bank accounts
    app.include_router(bank_pages)
    from eresident.officials.admin_pages import router as officials_admin_pages
    from eresident.officials.admin_routes import router as officials_admin_router
    from eresident.workflow.pages import router as workflow_pages
    app.include_router(officials_admin_router)  # administrators: officials, roles, process definitions
    app.include_router(officials_admin_pages)
    app.include_router(workflow_pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    use_problem_responses(app)  # the document says refusals are problem+json, as they are

    def wants_html(request: Request) -> bool:
        return not request.url.path.startswith(("/api/", "/.well-known/", "/status-lists/")) and \
            "text/html" in request.headers.get("accept", "")

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem):
        if wants_html(request):
            return pages.error_page(request, exc)
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError):
        problem = validation_problem(exc)
        return pages.error_page(request, problem) if wants_html(request) else problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        problem = http_problem(exc)
        return pages.error_page(request, problem) if wants_html(request) else problem_response(problem, request)

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception):
        log.error("unhandled", error_type=type(exc).__name__, exc_info=exc)
        problem = Problem(500, "Something went wrong on our side", code="internal",
                          detail="Nothing was changed. Try again later.")
        return pages.error_page(request, problem) if wants_html(request) else problem_response(problem, request)

    app.add_middleware(UnhandledErrors, handler=on_error)  # inside the header middleware
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulInUrl)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    app.add_middleware(RequestLog)
    return app


def app_from_env() -> FastAPI:
    """The entry point uvicorn imports (`eresident.app:app_from_env`, factory mode)."""
    from eresident.kit.logging import configure

    settings = Settings()
    configure(settings.log_level, settings.log_json)
    return create_app(settings)
