"""The FastAPI application: built from settings by `create_app`, served by `cargo-risk serve`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from inspector.config import InspectorConfig
from inspector.db import make_engine, session_factory
from inspector.login import HashingGate
from inspector.migrate import upgrade
from inspector.routes import lists, records, reports, session, supervisor
from inspector.web import (
    STATIC,
    AppState,
    BadFormError,
    ForbiddenError,
    LoginRequiredError,
    log_event,
    page_templates,
    render,
)
from pipelines.settings import Settings

# Only method, route template, status and time: no user names, no ids, no addresses.
access_log = logging.getLogger("inspector.access")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(settings: Settings, config: InspectorConfig | None = None) -> FastAPI:
    """The inspector app over the home folder of `settings`; migrates its database first."""
    config = config or InspectorConfig.from_settings(settings)
    engine = make_engine(config.database_url)
    upgrade(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="cargo-risk inspector",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.inspector = AppState(
        settings=settings,
        config=config,
        engine=engine,
        sessions=session_factory(engine),
        templates=page_templates(),
        login_gate=HashingGate(config.login_slots, config.login_queue),
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret(),
        session_cookie="cargo_risk_session",
        max_age=config.session_hours * 3600,
        same_site="lax",
        https_only=config.cookie_secure,
    )

    @app.middleware("http")
    async def headers_and_access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        route = request.scope.get("route")
        access_log.info(
            "%s %s %d %.1fms",
            request.method,
            getattr(route, "path", "-"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    _add_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (session, lists, records, supervisor, reports):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequiredError)
    async def login_required(request: Request, _error: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/lists"  # a form posted after the session ended cannot be replayed
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, error: Exception) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        target = error.target if isinstance(error, ForbiddenError) else ""
        await run_in_threadpool(
            log_event, request, user, "access_denied", target or request.url.path
        )
        return render(request, "error.html", {"message": str(error)}, user=user, status_code=403)

    @app.exception_handler(BadFormError)
    async def bad_form(request: Request, error: Exception) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        return render(request, "error.html", {"message": str(error)}, user=user, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: Exception) -> HTMLResponse:
        fields = []
        if isinstance(error, RequestValidationError):
            for problem in error.errors():
                where = ".".join(str(p) for p in problem.get("loc", ())[1:]) or "request"
                fields.append(f"{where}: {problem.get('msg', 'invalid')}")
        user = getattr(request.state, "user", None)
        message = "; ".join(fields) or "invalid request"
        return render(request, "error.html", {"message": message}, user=user, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: Exception) -> HTMLResponse:
        status = error.status_code if isinstance(error, StarletteHTTPException) else 500
        message = "Page not found." if status == 404 else str(getattr(error, "detail", "Error"))
        user = getattr(request.state, "user", None)
        return render(request, "error.html", {"message": message}, user=user, status_code=status)
