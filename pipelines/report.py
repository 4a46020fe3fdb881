"""The run report of one night: what came in, what was rejected and why, what was selected.

Grain: one report per filing date (`reports/runs/date=D/report.md` and `report.json`), assembled
from the stage summaries each stage leaves beside it, so it can be written without Airflow's XCom.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.disparity import run_report_link
from pipelines.io import write_text
from pipelines.layout import OUTCOMES_FILE, partition_files, run_report_dir, staged_outcomes
from pipelines.nightly import read_stage_reports
from pipelines.settings import Settings


def _lines_validate(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"- rows read {summary['rows_read']}, staged {summary['rows_staged']}, rejected "
        f"{summary['rows_rejected']}, superseded amendments {summary['amendments_superseded']}",
    ]
    for day_text, late in sorted(summary.get("late", {}).items()):
        if "error" in late:
            lines.append(f"- LATE ROWS filed on {day_text} NOT STAGED: {late['error']}")
        else:
            lines.append(
                f"- late rows filed on {day_text}: that date validated again, "
                f"{late['rows_staged']} staged, {late['rows_rejected']} rejected"
            )
    rejections = summary.get("rejections", [])
    if rejections:
        lines += ["", "| field | reason | rows |", "|---|---|---|"]
        lines += [f"| {r['field']} | {r['reason']} | {r['rows']} |" for r in rejections[:20]]
    return lines


SLICES = ("hold", "risk", "random")


def _lines_select(summary: dict[str, Any]) -> list[str]:
    found: dict[str, dict[str, dict[str, int]]] = summary.get("found", {})
    lines = [
        f"- run id `{summary['run_id']}`, {summary['rows']} items ranked",
        "- red lane by slice: forced holds (watch-list holds + rule legal holds), ranked by the "
        "expected chance of a finding (risk), drawn at random; `taken/inspected/found` where "
        "outcomes for the list exist",
        "",
        "| port | items | red cap. | share | holds | risk | random | red | yellow | green |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for port, counts in sorted(summary["ports"].items()):
        cells = []
        for name in SLICES:
            taken = counts.get(name, 0)
            seen = found.get(port, {}).get(name)
            cells.append(f"{taken}/{seen['inspected']}/{seen['found']}" if seen else str(taken))
        share = counts.get("red_share")
        lines.append(
            f"| {port} | {counts['rows']} | {counts.get('red_capacity', '')} | "
            f"{'' if share is None else f'{share:.1%}'} | {' | '.join(cells)} | "
            f"{counts['red']} | {counts['yellow']} | {counts['green']} |"
        )
    lines += [f"- {note}" for note in summary.get("notes", [])]
    precision = summary.get("precision")
    if precision:
        lines += _lines_precision(precision)
    return lines


def _lines_precision(precision: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Measured precision (share of inspected hits with a CBRN/SALW finding), on "
        f"{precision['inspected_items']} items inspected since {precision['since']} and before "
        f"the list date; a rule's prior is its weight x {precision.get('rule_prior_scale', 1.0)}, "
        f"worth {precision['prior_strength']} inspections:",
        "",
        "| rule | weight | prior | legal hold | inspected | findings | precision | ranks by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rule_id']} | {r['weight']:.2f} | {r.get('prior', r['weight']):.3f} | "
        f"{'yes' if r['force_red'] else 'no'} | "
        f"{r['inspected']} | {r['findings']} | {r['precision']:.3f} | "
        f"{'hold' if r['force_red'] else format(r.get('lift', r['precision']), '.3f')} |"
        for r in precision["rules"]
    ]
    lines += [
        "",
        "A rule ranks by the prior's part of its precision, prior x strength / (strength + "
        "inspected): the model learnt the outcomes' part from the same inspections.",
    ]
    if precision["watchlist"]:
        lines += [
            "",
            f"Watch-list hits by cell (prior {precision['watchlist_prior']} x match score):",
            "",
            "| hold | entry type | band | inspected | findings | precision |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {'yes' if w['hold'] else 'no'} | {w['entry_type']} | {w['band']} | "
            f"{w['inspected']} | {w['findings']} | {w['precision']:.3f} |"
            for w in precision["watchlist"]
        ]
    return lines


def slice_findings(settings: Settings, day: date) -> dict[str, dict[str, dict[str, int]]]:
    """Per port and red slice: items inspected on or after `day` and those with a CBRN/SALW
    finding, from the night's slices file and the outcomes staged so far (empty when neither)."""
    from pipelines.evidence import inspected_items
    from pipelines.select import SLICES_FILE

    slices_path = run_report_dir(settings, day) / SLICES_FILE
    paths = [
        path
        for staged, path in partition_files(staged_outcomes(settings), OUTCOMES_FILE)
        if staged >= day
    ]
    if not slices_path.is_file() or not paths:
        return {}
    slices = pl.read_parquet(slices_path)
    outcomes = pl.concat(
        [
            pl.read_parquet(p).select(
                "declaration_id", pl.col("item_no").cast(pl.Int64), "result", "finding_category"
            )
            for p in paths
        ],
        how="vertical_relaxed",
    )
    counted = (
        slices.join(inspected_items(outcomes, slices), on=["declaration_id", "item_no"])
        .group_by("port_of_discharge", "slice")
        .agg(pl.len().alias("inspected"), pl.col("found").sum().alias("found"))
    )
    result: dict[str, dict[str, dict[str, int]]] = {}
    for row in counted.iter_rows(named=True):
        result.setdefault(row["port_of_discharge"], {})[row["slice"]] = {
            "inspected": int(row["inspected"]),
            "found": int(row["found"]),
        }
    return result


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
        # Score, rules and screen run side by side; the report shows them as one section.
        score = {
            key: value
            for stage in ("score", "rules", "screen")
            for key, value in stages.get(stage, {}).items()
        }
        shown = sorted(k for k in score if k not in ("seconds", "watchlists"))
        lines += ["## Scores"] + [f"- {k}: {score[k]}" for k in shown]
        lists = score.get("watchlists", {})
        versions = ", ".join(f"{name} {version}" for name, version in sorted(lists.items()))
        lines.append(f"- screened against: {versions or 'NO WATCH LIST'}")
        lines.append("")
    if "select" in stages:
        lines += ["## Selection", *_lines_select(stages["select"]), ""]
    republished = stages.get("publish", {}).get("republished", {})
    if republished:
        lines += ["## Late declarations", *(f"- {d}: {what}" for d, what in republished.items())]
        lines.append("")
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
    if "select" in stages:
        stages["select"]["found"] = slice_findings(settings, day)
    if "score" in stages:
        stages["drift"] = _drift(settings, day)
    folder = run_report_dir(settings, day)
    write_text(json.dumps(stages, indent=2, sort_keys=True, default=str), folder / "report.json")
    text = render_run_report(day, stages) + run_report_link(settings, day)
    markdown = write_text(text, folder / "report.md")
    from pipelines.report_html import write_run_report_html

    write_run_report_html(settings, day, stages, markdown.read_text(encoding="utf-8"))
    return markdown
