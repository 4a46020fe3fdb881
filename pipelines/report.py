"""The run report of one night: what came in, what was rejected and why, what was selected.

Grain: one report per filing date (`reports/runs/date=D/report.md` and `report.json`), assembled
from the stage summaries each stage leaves beside it, so it can be written without Airflow's XCom.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.disparity import run_report_link
from pipelines.io import write_text
from pipelines.layout import run_report_dir
from pipelines.nightly import read_stage_reports
from pipelines.settings import Settings


def _lines_validate(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"- rows read {summary['rows_read']}, staged {summary['rows_staged']}, rejected "
        f"{summary['rows_rejected']}, superseded amendments {summary['amendments_superseded']}",
    ]
    rejections = summary.get("rejections", [])
    if rejections:
        lines += ["", "| field | reason | rows |", "|---|---|---|"]
        lines += [f"| {r['field']} | {r['reason']} | {r['rows']} |" for r in rejections[:20]]
    return lines


def _lines_select(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"- run id `{summary['run_id']}`, {summary['rows']} items ranked",
        "",
        "| port | items | red | yellow | green |",
        "|---|---|---|---|---|",
    ]
    for port, counts in sorted(summary["ports"].items()):
        lines.append(
            f"| {port} | {counts['rows']} | {counts['red']} | {counts['yellow']} | "
            f"{counts['green']} |"
        )
    lines += [f"- {note}" for note in summary.get("notes", [])]
    return lines


def _lines_drift(drift: dict[str, Any]) -> list[str]:
    if "unavailable" in drift:
        return [f"- not measured: {drift['unavailable']}"]
    psi: dict[str, float] = drift["psi"]
    above = [c for c, v in psi.items() if v > drift["threshold"]]
    lines = (
        [
            f"- WARNING: {len(above)} column(s) shifted, PSI above {drift['threshold']}: "
            + ", ".join(above)
        ]
        if above
        else []
    )
    lines += [f"- {c}: PSI {v:.3f}" for c, v in psi.items() if c.endswith("_score")]
    top = list(psi.items())[:10]
    lines += [
        f"- PSI against the training traffic of model `{drift['version']}` "
        f"(warning above {drift['threshold']}); the 10 largest:",
        "",
        "| column | PSI |",
        "|---|---|",
        *(f"| {column} | {value:.3f} |" for column, value in top),
    ]
    return lines


def render_run_report(day: date, stages: dict[str, dict[str, Any]]) -> str:
    """Markdown for the stages that have run so far."""
    lines = [f"# Run report {day.isoformat()}", ""]
    if "ingest" in stages:
        ingest = stages["ingest"]
        lines += [
            "## Ingest",
            f"- files loaded: {len(ingest['loaded'])} ({sum(ingest['loaded'].values())} rows); "
            f"skipped as already loaded: {len(ingest['skipped'])}",
        ]
        lines += [f"- REJECTED FILE {name}: {why}" for name, why in ingest["rejected"].items()]
        lines.append("")
    if "validate" in stages:
        lines += ["## Validation", *_lines_validate(stages["validate"]), ""]
    if "outcomes" in stages:
        outcomes = stages["outcomes"]
        lines += [
            "## Outcomes",
            f"- imported {sum(outcomes['imported'].values())} inspection results from "
            f"{len(outcomes['imported'])} new files; rejected rows: "
            f"{sum(outcomes['rejected_rows'].values())}",
        ]
        lines += [f"  - {n} rejected: {reason}" for reason, n in outcomes["reasons"].items()]
        lines.append("")
    if "featurize" in stages:
        lines += ["## Features", f"- {stages['featurize']['rows']} items featurized", ""]
    if "score" in stages:
        score = stages["score"]
        lines += ["## Scores"] + [f"- {k}: {v}" for k, v in sorted(score.items()) if k != "seconds"]
        lines.append("")
    if "select" in stages:
        lines += ["## Selection", *_lines_select(stages["select"]), ""]
    if "drift" in stages:
        lines += ["## Drift", *_lines_drift(stages["drift"]), ""]
    timings = [f"{s} {stages[s]['seconds']} s" for s in stages if "seconds" in stages[s]]
    lines += ["## Timings", "- " + ", ".join(timings), ""]
    return "\n".join(lines)


def _drift(settings: Settings, day: date) -> dict[str, Any]:
    from pipelines.lifecycle import drift_report

    try:
        return drift_report(settings, day)
    except FileNotFoundError as error:
        return {"unavailable": str(error)}


def write_run_report(settings: Settings, day: date) -> Path:
    """Write `report.md` and `report.json` for a date; return the Markdown path."""
    stages = read_stage_reports(settings, day)
    if "score" in stages:
        stages["drift"] = _drift(settings, day)
    folder = run_report_dir(settings, day)
    write_text(json.dumps(stages, indent=2, sort_keys=True, default=str), folder / "report.json")
    markdown = render_run_report(day, stages) + run_report_link(settings, day)
    return write_text(markdown, folder / "report.md")
