"""What every page shares: the app's state, the signed-in user, CSRF checks and rendering."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from contracts import threats
from inspector import audit
from inspector.config import InspectorConfig
from inspector.db import User
from inspector.login import HashingGate
from pipelines.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
CSRF_FIELD = "csrf_token"


@dataclass
class AppState:
    """Built once by `create_app` and shared by every request."""

    settings: Settings
    config: InspectorConfig
    engine: Engine
    sessions: sessionmaker[Session]
    templates: Jinja2Templates
    login_gate: HashingGate


def page_templates() -> Jinja2Templates:
    """The pages' templates; list and item pages loop over the threat categories."""
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.globals["threats"] = threats.THREATS
    return templates


class LoginRequiredError(Exception):
    """The request needs a signed-in user; answered with a redirect to the login page."""


class ForbiddenError(Exception):
    """The signed-in user may not see or do this; answered with 403 and an audit event."""

    def __init__(self, message: str, target: str = "") -> None:
        super().__init__(message)
        self.target = target


class BadFormError(Exception):
    """A form post that fails a check (CSRF, a field); answered with 400."""


def state(request: Request) -> AppState:
    """The app's shared state."""
    app_state: AppState = request.app.state.inspector
    return app_state


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Dependency of every form post: the form's token must match the session's."""
    if "uid" not in request.session and request.url.path != "/login":
        raise LoginRequiredError  # the session ended: sign in again rather than "bad form"
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise BadFormError("the form has expired: reload the page and try again")
    if not hmac.compare_digest(sent, expected):
        raise BadFormError("the form has expired: reload the page and try again")


def current_user(request: Request) -> User:
    """Dependency: the signed-in, active user whose session is still valid."""
    user_id = request.session.get("uid")
    version = request.session.get("ver")
    if not isinstance(user_id, int):
        raise LoginRequiredError
    with state(request).sessions() as session:
        user = session.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        request.session.clear()
        raise LoginRequiredError
    request.state.user = user
    return user


def require_port(request: Request, user: User, port: str, day: date | None = None) -> None:
    """ForbiddenError unless the user may see this port's list."""
    if not user.may_see_port(port):
        raise ForbiddenError(f"You are not assigned to port {port}.", f"{day or ''} {port}".strip())


def require_role(user: User, *roles: str) -> None:
    """ForbiddenError unless the user has one of the roles."""
    if user.role not in roles:
        raise ForbiddenError(f"This page is for {' or '.join(roles)} accounts.")


def log_event(
    request: Request, user: User | None, action: str, target: str = "", detail: str = ""
) -> None:
    """Append one audit event in its own transaction (views; changes audit inside theirs)."""
    with state(request).sessions() as session, session.begin():
        audit.record(session, user, action, target, detail)


def flash(request: Request, message: str) -> None:
    """A one-time message for the next page."""
    request.session["flash"] = message


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the user, the CSRF token and any flash message."""
    message = request.session.pop("flash", None)
    return state(request).templates.TemplateResponse(
        request,
        template,
        {"user": user, "csrf_token": csrf_token(request), "flash": message, **context},
        status_code=status_code,
    )
