"""Recording an outcome or a waiver for an item of a port's list (form posts)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from inspector import clearances, lists, records
from inspector.db import User
from inspector.routes.lists import Port, _ranked, item_context
from inspector.web import (
    BadFormError,
    current_user,
    flash,
    log_event,
    render,
    require_port,
    require_role,
    verify_csrf,
)

router = APIRouter()


def _item(
    request: Request, user: User, day: date, port: str, *, declaration_id: str, item_no: int
) -> records.ListItem:
    require_role(user, "inspector", "supervisor")
    require_port(request, user, port, day)
    row = lists.list_row(_ranked(request, day), port, declaration_id, item_no)
    if row is None:
        raise BadFormError(f"{declaration_id} item {item_no} is not on the {port} list of {day}.")
    return records.ListItem.from_row(row)


def _item_url(day: date, port: str, declaration_id: str, item_no: int) -> str:
    query = urlencode({"declaration_id": declaration_id, "item_no": item_no})
    return f"/lists/{day}/{port}/item?{query}"


def _refused(
    request: Request,
    user: User,
    item: records.ListItem,
    error: ValueError,
    form: dict[str, str],
) -> Response:
    log_event(request, user, "record_refused", item.target, str(error))
    context = item_context(
        request,
        user,
        item.list_date,
        item.port_of_discharge,
        declaration_id=item.declaration_id,
        item_no=item.item_no,
    )
    context.update(error=str(error), form=form)
    return render(request, "item.html", context, user=user, status_code=400)


def _back_to_item(request: Request, item: records.ListItem, message: str) -> Response:
    """Flash `message` and send the browser back to the item's page (post/redirect/get)."""
    flash(request, message)
    url = _item_url(item.list_date, item.port_of_discharge, item.declaration_id, item.item_no)
    return RedirectResponse(url, status_code=303)


@router.post("/lists/{day}/{port}/outcome", dependencies=[Depends(verify_csrf)])
def post_outcome(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    declaration_id: Annotated[str, Form(max_length=64)],
    item_no: Annotated[int, Form(ge=1)],
    result: Annotated[str, Form()],
    idempotency_key: Annotated[str, Form()],
    finding_category: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    """Record what the inspection found; a repeated post with the same key records once."""
    item = _item(request, user, day, port, declaration_id=declaration_id, item_no=item_no)
    try:
        _, created = records.save_outcome(
            request.app.state.inspector.sessions,
            user,
            item,
            result=result,
            category=finding_category or None,
            notes=notes,
            key=idempotency_key,
        )
    except records.RecordError as error:
        form = {"result": result, "finding_category": finding_category, "notes": notes}
        return _refused(request, user, item, error, form)
    return _back_to_item(
        request, item, "Outcome recorded." if created else "Outcome was already recorded."
    )


@router.post("/lists/{day}/{port}/waiver", dependencies=[Depends(verify_csrf)])
def post_waiver(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    declaration_id: Annotated[str, Form(max_length=64)],
    item_no: Annotated[int, Form(ge=1)],
    idempotency_key: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Waive a selected item; refused without a stated reason."""
    item = _item(request, user, day, port, declaration_id=declaration_id, item_no=item_no)
    try:
        _, created = records.save_waiver(
            request.app.state.inspector.sessions, user, item, reason=reason, key=idempotency_key
        )
    except records.RecordError as error:
        return _refused(request, user, item, error, {"reason": reason})
    return _back_to_item(
        request, item, "Waiver recorded." if created else "Waiver was already recorded."
    )


@router.post("/lists/{day}/{port}/clear", dependencies=[Depends(verify_csrf)])
def post_clear(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    declaration_id: Annotated[str, Form(max_length=64)],
    item_no: Annotated[int, Form(ge=1)],
    match: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Clear one of the item's watch-list matches as false: the same party and list entry are
    not held again until either changes."""
    item = _item(request, user, day, port, declaration_id=declaration_id, item_no=item_no)
    app = request.app.state.inspector
    staging = lists.StagingView(app.settings.zone("staging"), user.visible_ports)
    detail = lists.declaration(staging, day, declaration_id, item_no)
    if detail is None:
        raise BadFormError(f"{declaration_id} item {item_no} is not in staging for {day}.")
    row = lists.list_row(_ranked(request, day), port, declaration_id, item_no) or {}
    night = row.get("watchlist_hits") or []
    matches = clearances.item_matches(app.settings, detail, night)
    chosen = [m for m in matches if m.key == match]
    try:
        if not chosen:
            raise clearances.ClearanceError("match: this item has no such watch-list match now")
        _, created = clearances.clear(app.sessions, app.settings, user, chosen[0], reason)
    except clearances.ClearanceError as error:
        return _refused(request, user, item, error, {"clear_reason": reason})
    return _back_to_item(
        request, item, "Match cleared as false." if created else "Match was already cleared."
    )


@router.post("/lists/{day}/{port}/withdraw-clearance", dependencies=[Depends(verify_csrf)])
def post_withdraw_clearance(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    declaration_id: Annotated[str, Form(max_length=64)],
    item_no: Annotated[int, Form(ge=1)],
    clearance_id: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Withdraw a clearance: the match holds again from the next night."""
    item = _item(request, user, day, port, declaration_id=declaration_id, item_no=item_no)
    app = request.app.state.inspector
    try:
        clearances.withdraw(app.sessions, app.settings, user, clearance_id, reason)
    except clearances.ClearanceError as error:
        return _refused(request, user, item, error, {"withdraw_reason": reason})
    return _back_to_item(request, item, "Clearance withdrawn.")
