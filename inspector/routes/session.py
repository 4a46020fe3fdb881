"""Signing in and out."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from inspector import audit
from inspector.auth import authenticate
from inspector.db import User
from inspector.web import CSRF_FIELD, current_user, render, state, verify_csrf

router = APIRouter()
# Guessing passwords online: after this many failures a name waits out the window.
THROTTLE_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)


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
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/lists",
) -> Response:
    """Check the password; on success start a fresh session (new CSRF token, no fixation)."""
    username = username.strip().lower()[:64]
    with state(request).sessions() as session, session.begin():
        if audit.recent_failures(session, username, THROTTLE_WINDOW) >= THROTTLE_FAILURES:
            audit.record(session, None, "login_throttled", username=username)
            throttled, user = True, None
        else:
            throttled = False
            user = authenticate(session, username, password, state(request).config.hasher())
            if user is None:
                audit.record(session, None, "login_failed", username=username)
            else:
                audit.record(session, user, "login")
    if user is None:
        error = (
            f"Too many failed sign-ins: try again in {THROTTLE_WINDOW.seconds // 60} minutes."
            if throttled
            else "Wrong user name or password."
        )
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": error},
            status_code=429 if throttled else 401,
        )
    request.session.clear()
    request.session.update(
        {"uid": user.id, "ver": user.session_version, CSRF_FIELD: secrets.token_urlsafe(32)}
    )
    return RedirectResponse(_safe_next(next), status_code=303)


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
