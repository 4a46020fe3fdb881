"""Intraday: files landed during the day through the same path as a call to the service, and the
service's own rows handed to the night.

`assess_landed` reads every declaration file waiting in the landing zone that it has not assessed
yet (by SHA-256, kept in the assessments database), assesses its valid rows with the `Assessor`
and records the rejected ones, as the service does for a call. It does not move or ingest the
file: the night still ingests it, so raw stays the one immutable record of what arrived.

`land_assessed` writes the rows the service accepted on a day to the landing zone as one JSON
Lines file (`declarations/assessed-<day>.jsonl`, replaced whole), so the night's list includes
declarations that only reached the service. Each row is stored with its first answer; the night
scores it again with the night's own history and model (see decision 0024 for why the night
does not reuse the stored score).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.reading import MalformedFileError, read_raw
from pipelines.assess.engine import AssessmentError, Assessor
from pipelines.assess.store import AssessmentStore, Caller
from pipelines.ingest import landing_files
from pipelines.io import file_sha256, write_text
from pipelines.settings import Settings

log = logging.getLogger(__name__)

INTRADAY = Caller(token_id="intraday", system="intraday")
CHUNK_ROWS = 1000
LANDED_PREFIX = "assessed-"


def assess_landed(settings: Settings, assessor: Assessor | None = None) -> dict[str, Any]:
    """Assess every landing file not assessed before; a small summary for XCom."""
    from pipelines import layout

    store = (
        assessor.store
        if assessor is not None
        else AssessmentStore(layout.assessments_database(settings))
    )
    files = [
        p
        for p in landing_files(settings)
        if not p.name.startswith(LANDED_PREFIX) and not store.file_assessed(file_sha256(p))
    ]
    summary: dict[str, Any] = {"files": 0, "rows": 0, "assessed": 0, "rejected": 0, "errors": {}}
    if not files:
        return summary
    assessor = assessor or Assessor(settings, store)
    assessor.refresh()
    answers: dict[str, int] = {}
    for path in files:
        done = _assess_file(assessor, path)
        summary["files"] += 1
        if "error" in done:
            summary["errors"][str(path)] = done["error"]
            continue
        for key in ("rows", "assessed", "rejected"):
            summary[key] += done[key]
        for answer, count in done["answers"].items():
            answers[answer] = answers.get(answer, 0) + count
    summary["answers"] = answers
    return summary


def _assess_file(assessor: Assessor, path: Path) -> dict[str, Any]:
    sha = file_sha256(path)
    try:
        raw = read_raw(path)
    except MalformedFileError as error:
        assessor.store.mark_file(sha, path.name, 0, 0, str(error))
        return {"error": str(error)}
    records = [
        {k: v for k, v in row.items() if not k.startswith("_")} for row in raw.iter_rows(named=True)
    ]
    assessed = rejected = 0
    answers: dict[str, int] = {}
    for start in range(0, len(records), CHUNK_ROWS):
        chunk = records[start : start + CHUNK_ROWS]
        request_id = f"{sha[:16]}-{start // CHUNK_ROWS}"
        try:
            rows, problems = assessor.assess_valid(chunk, INTRADAY, request_id, "intraday")
        except AssessmentError as error:
            rows, problems = [], error.problems
        assessed += len(rows)
        rejected += len({p["position"] for p in problems})
        for row in rows:
            answers[row["answer"]] = answers.get(row["answer"], 0) + 1
    assessor.store.mark_file(sha, path.name, assessed, rejected, None)
    log.info("intraday %s: %d assessed, %d rejected", path.name, assessed, rejected)
    return {"rows": len(records), "assessed": assessed, "rejected": rejected, "answers": answers}


def land_assessed(settings: Settings, day: date) -> dict[str, Any]:
    """Write the service's accepted rows filed on `day` to landing for the night (replaced
    whole)."""
    from pipelines import layout

    store = AssessmentStore(layout.assessments_database(settings))
    try:
        rows = store.assessments_on(day, source="api")
    finally:
        store.close()
    target = settings.zone("landing") / "declarations" / f"{LANDED_PREFIX}{day.isoformat()}.jsonl"
    if not rows:
        return {"rows": 0, "file": None}
    lines = [json.dumps(json.loads(r["declaration"]), sort_keys=True) for r in rows]
    write_text("\n".join(lines) + "\n", target)
    return {"rows": len(lines), "file": str(target)}


def hand_over(settings: Settings, logical: datetime | None) -> dict[str, Any]:
    """Land the service's rows of the run's day and of the day before (an hourly run just after
    midnight still hands yesterday's last rows to the night of 02:00)."""
    moment = logical if logical is not None else datetime.now(UTC)
    day = moment.astimezone(UTC).date()
    return {d.isoformat(): land_assessed(settings, d) for d in (day - timedelta(days=1), day)}
