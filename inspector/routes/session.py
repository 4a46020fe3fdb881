"""Signing in and out."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inspector import audit
from inspector.db import User
from inspector.login import GateFullError, sign_in
from inspector.web import CSRF_FIELD, current_user, render, state, verify_csrf

router = APIRouter()
BUSY_RETRY_SECONDS = 5


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect would let a link send a fresh login elsewhere.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/lists"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/lists") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", dependencies=[Depends(verify_csrf)])
async def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/lists",
) -> Response:
    """Check the password; on success start a fresh session (new CSRF token, no fixation).

    Asynchronous on purpose: the check runs in the sign-in gate's own threads, so a flood of
    sign-ins never occupies the threads that serve signed-in users' pages.
    """
    app = state(request)
    check = partial(
        sign_in,
        app.sessions,
        app.config.hasher(),
        app.config.throttle,
        username=username.strip().lower()[:64],
        password=password,
        address=request.client.host if request.client else "unknown",
    )
    try:
        result = await app.login_gate.run(check)
    except GateFullError:
        return _login_refused(
            request,
            next,
            "Signing in is busy: try again in a few seconds.",
            503,
            BUSY_RETRY_SECONDS,
        )
    if result.user is None:
        if result.refused is None:
            return _login_refused(request, next, "Wrong user name or password.", 401)
        minutes = app.config.throttle.minutes
        message = f"Too many failed sign-ins: try again in {minutes} minutes."
        return _login_refused(request, next, message, 429, minutes * 60)
    user = result.user
    request.session.clear()
    request.session.update(
        {"uid": user.id, "ver": user.session_version, CSRF_FIELD: secrets.token_urlsafe(32)}
    )
    return RedirectResponse(_safe_next(next), status_code=303)


def _login_refused(
    request: Request, next: str, error: str, status: int, retry_after: int | None = None
) -> HTMLResponse:
    page = render(
        request, "login.html", {"next": _safe_next(next), "error": error}, status_code=status
    )
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
    """End every session of this user (a copied cookie stops working too)."""
    with state(request).sessions() as session, session.begin():
        stored = session.get(User, user.id)
        if stored is not None:
            stored.session_version += 1
        audit.record(session, user, "logout")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
