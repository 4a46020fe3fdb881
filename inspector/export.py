"""The one path from the app to the pipeline: export new outcomes (and waivers) to landing.

Grain of `landing/outcomes/app_outcomes_<n>.csv`: one inspection of one declaration item (the
outcomes contract). Grain of `landing/waivers/app_waivers_<n>.csv`: one waived selection of one
list item, kept for the record in its own folder, since the outcomes import reads every file in
`landing/outcomes/`.
Each export marks the rows it wrote with its number `n` inside one transaction, so a row is
exported once; the files are written atomically before that transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from contracts.outcomes import OUTCOMES
from inspector import audit
from inspector.config import InspectorConfig
from inspector.db import ExportRun, Outcome, Waiver, make_engine, session_factory, transaction
from inspector.migrate import upgrade
from pipelines.csv_safe import write_safe_csv
from pipelines.settings import Settings

WAIVER_COLUMNS = (
    "list_date",
    "port_of_discharge",
    "declaration_id",
    "item_no",
    "lane",
    "selection_reason",
    "reason",
    "waived_by",
    "waived_at",
)


@dataclass(frozen=True)
class AppExport:
    """What one export wrote: its number and files (None when that kind had nothing new)."""

    n: int
    outcomes: Path | None
    waivers: Path | None
    outcome_rows: int
    waiver_rows: int


def _outcome_frame(rows: list[Outcome]) -> pl.DataFrame:
    data = {
        "declaration_id": [r.declaration_id for r in rows],
        "item_no": [str(r.item_no) for r in rows],
        "inspected_at": [r.inspected_at.isoformat() for r in rows],
        "selection_reason": [r.selection_reason for r in rows],
        "result": [r.result for r in rows],
        "finding_category": [r.finding_category or "" for r in rows],
        "inspector_id": [r.inspector_id for r in rows],
        "notes": [r.notes or "" for r in rows],
    }
    return pl.DataFrame(
        {name: data[name] for name in OUTCOMES.names},
        schema=dict.fromkeys(OUTCOMES.names, pl.String()),
    )


def _waiver_frame(rows: list[Waiver]) -> pl.DataFrame:
    data = {
        "list_date": [r.list_date.isoformat() for r in rows],
        "port_of_discharge": [r.port_of_discharge for r in rows],
        "declaration_id": [r.declaration_id for r in rows],
        "item_no": [str(r.item_no) for r in rows],
        "lane": [r.lane for r in rows],
        "selection_reason": [r.selection_reason for r in rows],
        "reason": [r.reason for r in rows],
        "waived_by": [r.waived_by for r in rows],
        "waived_at": [r.waived_at.isoformat() for r in rows],
    }
    return pl.DataFrame(data, schema=dict.fromkeys(WAIVER_COLUMNS, pl.String()))


def export_records(
    factory: sessionmaker[Session], landing_outcomes: Path, landing_waivers: Path
) -> AppExport | None:
    """Write outcomes and waivers not yet exported; None when there is nothing new."""
    with transaction(factory) as session:
        # Claim the rows first: the UPDATE takes SQLite's write lock, and on PostgreSQL the
        # row locks make a concurrent export wait and then find nothing left to claim.
        claim = -1
        session.execute(update(Outcome).where(Outcome.export_n.is_(None)).values(export_n=claim))
        session.execute(update(Waiver).where(Waiver.export_n.is_(None)).values(export_n=claim))
        outcomes = list(
            session.scalars(select(Outcome).where(Outcome.export_n == claim).order_by(Outcome.id))
        )
        waivers = list(
            session.scalars(select(Waiver).where(Waiver.export_n == claim).order_by(Waiver.id))
        )
        if not outcomes and not waivers:
            return None
        n = (session.scalar(select(func.max(ExportRun.n))) or 0) + 1
        outcome_file = waiver_file = None
        if outcomes:
            outcome_file = write_safe_csv(
                _outcome_frame(outcomes), landing_outcomes / f"app_outcomes_{n}.csv"
            )
        if waivers:
            waiver_file = write_safe_csv(
                _waiver_frame(waivers), landing_waivers / f"app_waivers_{n}.csv"
            )
        session.execute(update(Outcome).where(Outcome.export_n == claim).values(export_n=n))
        session.execute(update(Waiver).where(Waiver.export_n == claim).values(export_n=n))
        session.add(
            ExportRun(
                n=n,
                outcomes=len(outcomes),
                waivers=len(waivers),
                outcomes_file=str(outcome_file) if outcome_file else None,
                waivers_file=str(waiver_file) if waiver_file else None,
            )
        )
        audit.record(
            session,
            None,
            "export_records",
            f"export {n}",
            f"{len(outcomes)} outcomes, {len(waivers)} waivers",
        )
    return AppExport(n, outcome_file, waiver_file, len(outcomes), len(waivers))


def export_app_records(
    settings: Settings, config: InspectorConfig | None = None
) -> AppExport | None:
    """Export from the app's database into `<home>/landing/outcomes/` and `landing/waivers/`."""
    config = config or InspectorConfig.from_settings(settings)
    engine = make_engine(config.database_url)
    try:
        upgrade(engine)
        landing = settings.zone("landing")
        return export_records(session_factory(engine), landing / "outcomes", landing / "waivers")
    finally:
        engine.dispose()


def export_outcomes(settings: Settings, config: InspectorConfig | None = None) -> Path | None:
    """The outcomes CSV written by a new export, or None when no outcome was new.

    Waivers recorded since the last export go to `landing/waivers/app_waivers_<n>.csv`.
    """
    exported = export_app_records(settings, config)
    return exported.outcomes if exported else None


def export_stage(settings: Settings, day: date) -> dict[str, str | None]:
    """The nightly `export_app_outcomes` stage (pipelines/stages.py): the export, as a summary.

    Not tied to `day`: it exports whatever is new. It lives here, not in pipelines/, because the
    app is a floor above the pipelines (the stage table names it as text and imports it late).
    """
    written = export_outcomes(settings)
    return {"written": str(written) if written else None}
