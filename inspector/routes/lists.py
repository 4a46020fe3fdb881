"""Lists by port, one port's ranked list (filters, CSV and XLSX export) and an item's detail."""

from __future__ import annotations

import io
import secrets
from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.outcomes import FINDING_CATEGORIES, RESULTS
from contracts.ranked_list import LIST_SELECTION_REASONS, RANKED_LIST
from inspector import clearances, lists
from inspector.db import Outcome, User, Waiver
from inspector.explain import display_fields, explain_rank
from inspector.records import item_records
from inspector.web import (
    BadFormError,
    current_user,
    log_event,
    render,
    require_port,
    state,
)
from pipelines.csv_safe import safe_csv_text
from pipelines.layout import run_reports
from pipelines.publish import to_csv_frame

router = APIRouter()
MAX_ROWS_SHOWN = 500
PORT_PATTERN = r"^[A-Z]{2}[A-Z2-9]{3}$"
Port = Annotated[str, PathParam(pattern=PORT_PATTERN)]


def _filters(
    lane: str = "selected",
    reason: str = "",
    min_risk: Annotated[float, Query(ge=0, le=1)] = 0.0,
    q: Annotated[str, Query(max_length=64)] = "",
    hits: bool = False,
) -> lists.ListFilters:
    try:
        return lists.ListFilters(
            lane=lane, reason=reason, min_risk=min_risk, query=q, hits_only=hits
        )
    except ValueError as error:
        raise BadFormError(str(error)) from error


def _ranked(request: Request, day: date) -> pl.DataFrame:
    ranked = lists.load_list(state(request).settings.zone("lists"), day)
    if ranked is None:
        raise BadFormError(f"No list was published for {day}.")
    return ranked


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    """The lists page is the start page."""
    return RedirectResponse("/lists", status_code=303)


@router.get("/lists", response_class=HTMLResponse)
def lists_by_port(
    request: Request, user: Annotated[User, Depends(current_user)], day: date | None = None
) -> HTMLResponse:
    """The newest (or the chosen) day's lists, one line per port the user may see."""
    dates = lists.list_dates(state(request).settings.zone("lists"))
    day = day or (dates[0] if dates else None)
    ports: list[dict[str, Any]] = []
    ranked = lists.load_list(state(request).settings.zone("lists"), day) if day else None
    visible = None if user.role != "inspector" else user.port_list
    history = lists.list_history(state(request).settings.zone("lists"), day, visible) if day else []
    if ranked is not None:
        ports = lists.port_overview(ranked, visible)
    log_event(request, user, "view_lists", str(day or ""))
    return render(
        request,
        "lists.html",
        {"day": day, "dates": dates[:30], "ports": ports, "history": history},
        user=user,
    )


@router.get("/lists/{day}/{port}", response_class=HTMLResponse)
def port_list(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    filters: Annotated[lists.ListFilters, Depends(_filters)],
) -> HTMLResponse:
    """One port's ranked list: rank, scores, lane, reasons, hits and what was recorded."""
    require_port(request, user, port, day)
    rows = lists.port_list(_ranked(request, day), port, filters)
    with state(request).sessions() as session:
        recorded = lists_recorded(session, day, port)
    log_event(request, user, "view_list", f"{day} {port}", _describe(filters))
    return render(
        request,
        "port_list.html",
        {
            "day": day,
            "port": port,
            "rows": rows.head(MAX_ROWS_SHOWN).to_dicts(),
            "total": rows.height,
            "max_rows": MAX_ROWS_SHOWN,
            "filters": filters,
            "lane_choices": lists.LANE_CHOICES,
            "reasons": LIST_SELECTION_REASONS,
            "recorded": recorded,
            "query_string": request.url.query,
        },
        user=user,
    )


def lists_recorded(session: Session, day: date, port: str) -> dict[tuple[str, int], str]:
    """(declaration_id, item_no) -> 'outcome' / 'waived' for the items of one list."""
    marks: dict[tuple[str, int], str] = {}
    for model, mark in ((Waiver, "waived"), (Outcome, "outcome")):
        keys = session.execute(
            select(model.declaration_id, model.item_no).where(
                model.list_date == day, model.port_of_discharge == port
            )
        )
        for declaration_id, item_no in keys:
            marks[(declaration_id, item_no)] = mark
    return marks


def _describe(filters: lists.ListFilters) -> str:
    return (
        f"lane={filters.lane} reason={filters.reason} min_risk={filters.min_risk} "
        f"q={filters.query} hits={filters.hits_only}"
    )


@router.get("/lists/{day}/{port}/export.{fmt}")
def export_list(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    fmt: str,
    filters: Annotated[lists.ListFilters, Depends(_filters)],
) -> Response:
    """The filtered list as CSV or XLSX, in the ranked-list contract's columns."""
    if fmt not in ("csv", "xlsx"):
        raise BadFormError("export format must be csv or xlsx")
    require_port(request, user, port, day)
    rows = to_csv_frame(lists.port_list(_ranked(request, day), port, filters))
    log_event(request, user, f"export_{fmt}", f"{day} {port}", _describe(filters))
    name = f"ranked_list_{port}_{day}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(safe_csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(
        _xlsx(rows),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )


def _xlsx(rows: pl.DataFrame) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("ranked_list")
    sheet.append(RANKED_LIST.names)
    for row in rows.select(RANKED_LIST.names).iter_rows():
        sheet.append([_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(sheet: Any, value: object) -> Any:
    # Text is stored as text: a value starting with "=" must never become a live formula.
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def item_context(
    request: Request, user: User, day: date, port: str, *, declaration_id: str, item_no: int
) -> dict[str, Any]:
    """Everything the item page shows: list row, declaration, history, findings, records."""
    require_port(request, user, port, day)
    row = lists.list_row(_ranked(request, day), port, declaration_id, item_no)
    if row is None:
        raise BadFormError(f"{declaration_id} item {item_no} is not on the {port} list of {day}.")
    # Only the ports the user may see: history and findings must not show another port's.
    staging = lists.StagingView(state(request).settings.zone("staging"), user.visible_ports)
    detail = lists.declaration(staging, day, declaration_id, item_no)
    ranked = _ranked(request, day)
    why = explain_rank(
        ranked.filter(pl.col("port_of_discharge") == port),
        row,
        lists.rule_holds(run_reports(state(request).settings), day),
    )
    history = similar = None
    if detail is not None:
        history = lists.party_history(staging, day, detail["shipper_id"], detail["consignee_id"])
        similar = lists.similar_findings(
            staging, day, detail["hs_code"], detail["shipper_id"], detail["consignee_id"]
        )
    matches: list[clearances.Match] = []
    with state(request).sessions() as session:
        outcomes, waivers = item_records(session, declaration_id, item_no)
        cleared = clearances.active_for_parties(session, detail) if detail is not None else []
    # Screening the item again costs the index load: only for items with a hit or a clearance.
    if detail is not None and (row.get("watchlist_hits") or cleared):
        night = row.get("watchlist_hits") or []
        matches = clearances.item_matches(state(request).settings, detail, night)
    return {
        "matches": matches,
        "clearances": cleared,
        "day": day,
        "port": port,
        "row": row,
        "detail": detail,
        "fields": None if detail is None else display_fields(detail),
        "why": why,
        "history": history,
        "similar": similar,
        "outcomes": outcomes,
        "waivers": waivers,
        "results": RESULTS,
        "categories": FINDING_CATEGORIES,
        "may_record": user.role in ("inspector", "supervisor"),
        # A fresh key per rendered form: posting the same form twice records once.
        "outcome_key": secrets.token_urlsafe(16),
        "waiver_key": secrets.token_urlsafe(16),
        "may_clear": user.role in ("inspector", "supervisor"),
        "error": None,
        "form": {},
    }


@router.get("/lists/{day}/{port}/item", response_class=HTMLResponse)
def item_page(
    request: Request,
    *,
    user: Annotated[User, Depends(current_user)],
    day: date,
    port: Port,
    declaration_id: Annotated[str, Query(min_length=1, max_length=64)],
    item_no: Annotated[int, Query(ge=1)],
) -> HTMLResponse:
    """A declaration item: all fields, parties' history, reasons, similar findings, forms."""
    context = item_context(request, user, day, port, declaration_id=declaration_id, item_no=item_no)
    log_event(request, user, "view_item", f"{day} {port} {declaration_id}#{item_no}")
    return render(request, "item.html", context, user=user)
