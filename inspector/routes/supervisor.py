"""The supervisor's view of outcomes and waivers, and the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from inspector import audit
from inspector.db import Outcome, User, Waiver
from inspector.quarantine import quarantine_day, quarantine_days
from inspector.web import current_user, log_event, render, require_role, state
from pipelines.layout import quarantine_declarations

router = APIRouter()
PAGE = 200


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor(
    request: Request,
    user: Annotated[User, Depends(current_user)],
    day: date | None = None,
    port: Annotated[str, Query(max_length=5)] = "",
) -> HTMLResponse:
    """Outcomes and waivers recorded in the app, newest first, with counts per port."""
    require_role(user, "supervisor", "admin")
    outcomes_query = select(Outcome).order_by(Outcome.id.desc()).limit(PAGE)
    waivers_query = select(Waiver).order_by(Waiver.id.desc()).limit(PAGE)
    counts_query = select(Outcome.port_of_discharge, Outcome.result, func.count()).group_by(
        Outcome.port_of_discharge, Outcome.result
    )
    if day is not None:
        outcomes_query = outcomes_query.where(Outcome.list_date == day)
        waivers_query = waivers_query.where(Waiver.list_date == day)
        counts_query = counts_query.where(Outcome.list_date == day)
    if port:
        outcomes_query = outcomes_query.where(Outcome.port_of_discharge == port)
        waivers_query = waivers_query.where(Waiver.port_of_discharge == port)
        counts_query = counts_query.where(Outcome.port_of_discharge == port)
    with state(request).sessions() as session:
        outcomes = session.scalars(outcomes_query).all()
        waivers = session.scalars(waivers_query).all()
        counts: dict[str, dict[str, int]] = {}
        for port_code, result, count in session.execute(counts_query):
            counts.setdefault(port_code, {})[result] = count
    log_event(request, user, "view_supervisor", f"{day or ''} {port}".strip())
    return render(
        request,
        "supervisor.html",
        {"outcomes": outcomes, "waivers": waivers, "counts": counts, "day": day, "port": port},
        user=user,
    )


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(
    request: Request, user: Annotated[User, Depends(current_user)], day: date | None = None
) -> HTMLResponse:
    """A night's rejected rows by reason: the data team's view (and admins'), all ports."""
    require_role(user, "data", "admin")
    folder = quarantine_declarations(state(request).settings)
    days = quarantine_days(folder)
    chosen = day or (days[0] if days else None)
    found = None if chosen is None else quarantine_day(folder, chosen)
    log_event(request, user, "view_quarantine", str(chosen or ""))
    return render(request, "quarantine.html", {"days": days, "q": found}, user=user)


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    user: Annotated[User, Depends(current_user)],
    username: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The newest audit events: who did what, when."""
    require_role(user, "supervisor", "admin")
    with state(request).sessions() as session:
        events = audit.recent(session, username=username or None, action=action or None)
    log_event(request, user, "view_audit", username or action)
    return render(
        request, "audit.html", {"events": events, "username": username, "action": action}, user=user
    )
