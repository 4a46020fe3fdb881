"""The nights' run reports, as the pipeline wrote them: for the data team, supervisors and admins.

Read only, and only the report's own files (`reports/runs/date=D/`): the HTML page, its plots, the
Markdown and JSON forms and the Airflow log. Inspectors do not see them: a report covers every
port.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from inspector.db import User
from inspector.web import ForbiddenError, current_user, log_event, render, require_role, state
from pipelines.layout import partition_days, run_report_dir, run_reports

router = APIRouter()

REPORT_READERS = ("data", "supervisor", "admin")
FILES = {
    "report.html": "text/html; charset=utf-8",
    "report.md": "text/markdown; charset=utf-8",
    "report.json": "application/json",
    "airflow.log": "text/plain; charset=utf-8",
}
PLOT = re.compile(r"[a-z_]{1,32}\.png")
REPORT_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'"
)
"""The report page carries its style inline (it is also opened as a file); it has no script."""


@router.get("/reports", response_class=HTMLResponse)
def report_index(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
    """The nights with a run report, newest first."""
    require_role(user, *REPORT_READERS)
    settings = state(request).settings
    nights = [
        (day, [name for name in FILES if (run_report_dir(settings, day) / name).is_file()])
        for day in sorted(partition_days(run_reports(settings)), reverse=True)
    ]
    log_event(request, user, "view_reports")
    return render(request, "reports.html", {"nights": nights}, user=user)


@router.get("/reports/{day}/{name}")
def report_file(
    request: Request, user: Annotated[User, Depends(current_user)], day: date, name: str
) -> Response:
    """One of the night's report files."""
    require_role(user, *REPORT_READERS)
    if name not in FILES:
        raise ForbiddenError("Only the run report's own files are served here.")
    path = run_report_dir(state(request).settings, day) / name
    if not path.is_file():
        return render(
            request, "error.html", {"message": f"No {name} for {day}."}, user=user, status_code=404
        )
    log_event(request, user, "view_run_report", f"{day} {name}")
    headers = {"Content-Security-Policy": REPORT_CSP} if name == "report.html" else {}
    return FileResponse(path, media_type=FILES[name], headers=headers)


@router.get("/reports/{day}/plots/{name}")
def report_plot(
    request: Request, user: Annotated[User, Depends(current_user)], day: date, name: str
) -> Response:
    """A plot of the night's HTML report."""
    require_role(user, *REPORT_READERS)
    from pipelines.report_html import PLOTS_DIR

    path = run_report_dir(state(request).settings, day) / PLOTS_DIR / name
    if not PLOT.fullmatch(name) or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, media_type="image/png")
