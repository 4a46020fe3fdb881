"""The run report as a page a person would rather read: the night's figures with plots.

Grain: one page per filing date, `reports/runs/date=D/report.html`, with its PNG plots beside it
in `plots/`. It reads what `pipelines.report` gathered (the stage summaries, the drift, the
findings per red slice) plus the night's ranked scores and the summaries of earlier nights; the
Markdown report stays the one for logs.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # batch jobs and tests: no display

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.figure import Figure

from pipelines import layout
from pipelines.io import write_text
from pipelines.settings import Settings

HTML_FILE = "report.html"
PLOTS_DIR = "plots"
RECENT_NIGHTS = 28
"""Nights back the trend plot looks for earlier run reports."""
PORTS_PLOTTED = 8
"""Ports with the most items get their own score curve; more lines would not be readable."""
DRIFT_COLUMNS = 20
SLICE_COLOURS = {"hold": "#b2182b", "risk": "#ef8a62", "random": "#67a9cf"}


def _save(figure: Figure, folder: Path, name: str) -> str:
    """Save a plot beside the page; return its path relative to the page."""
    target = folder / PLOTS_DIR / name
    target.parent.mkdir(parents=True, exist_ok=True)
    # No Software stamp: a rerun of the night writes the same bytes.
    figure.savefig(target, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return f"{PLOTS_DIR}/{name}"


def score_plot(ranked: pl.DataFrame) -> Figure | None:
    """Distribution of the risk score per port (cumulative share of items at or below a score)."""
    if ranked.is_empty():
        return None
    busiest = (
        ranked.group_by("port_of_discharge")
        .len()
        .sort("len", "port_of_discharge", descending=[True, False])
        .head(PORTS_PLOTTED)["port_of_discharge"]
        .to_list()
    )
    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    for port in busiest:
        scores = ranked.filter(pl.col("port_of_discharge") == port)["risk_score"].sort()
        # Scores of real traffic sit near zero: a log axis spreads them; zeros would vanish.
        values = scores.clip(lower_bound=1e-5).to_list()
        share = [(i + 1) / len(values) for i in range(len(values))]
        axis.step(values, share, where="post", label=f"{port} ({len(values)})")
    axis.set_xscale("log")
    axis.set_xlabel("risk score (log scale)")
    axis.set_ylabel("share of the port's items at or below")
    axis.set_title("Risk scores per port")
    axis.legend(fontsize=7, loc="lower right")
    return figure


def budget_plot(ports: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """Red items per port by slice, against the port's red capacity."""
    if not ports:
        return None
    names = sorted(ports)
    figure, axis = plt.subplots(figsize=(6.4, 0.5 * len(names) + 1.4))
    left = [0.0] * len(names)
    for slice_name, colour in SLICE_COLOURS.items():
        widths = [float(ports[p].get(slice_name, 0)) for p in names]
        axis.barh(names, widths, left=left, color=colour, label=slice_name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    capacity = [float(ports[p].get("red_capacity", 0)) for p in names]
    axis.scatter(capacity, names, marker="|", s=300, color="black", label="red capacity")
    axis.set_xlabel("red items")
    axis.set_title("Red lane by slice, against capacity")
    axis.legend(fontsize=7, loc="lower right")
    return figure


def drift_plot(drift: Mapping[str, Any]) -> Figure | None:
    """The largest PSI values of the night, with the warning threshold."""
    psi: Mapping[str, float] = drift.get("psi", {})
    if not psi:
        return None
    top = sorted(psi.items(), key=lambda item: -item[1])[:DRIFT_COLUMNS][::-1]
    threshold = float(drift["threshold"])
    figure, axis = plt.subplots(figsize=(6.4, 0.25 * len(top) + 1.4))
    colours = ["#b2182b" if value > threshold else "#4d4d4d" for _, value in top]
    axis.barh([name for name, _ in top], [value for _, value in top], color=colours)
    axis.axvline(threshold, color="#b2182b", linestyle="--", linewidth=1, label="warning")
    axis.set_xlabel(f"PSI against the training traffic of {drift.get('version')}")
    axis.set_title(f"Drift: the {len(top)} largest")
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7, loc="lower right")
    return figure


def _night_counts(night: date, select: Mapping[str, Any]) -> dict[str, Any]:
    found: Mapping[str, Mapping[str, Mapping[str, int]]] = select.get("found", {})
    slices = [s for port in found.values() for s in port.values()]
    return {
        "night": night,
        "red": sum(int(p.get("red", 0)) for p in select["ports"].values()),
        "inspected": sum(s["inspected"] for s in slices),
        "found": sum(s["found"] for s in slices),
    }


def recent_nights(
    settings: Settings, day: date, select: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Red items, inspections and findings of earlier nights that left a run report, then of
    `day` from its own selection summary (when given)."""
    nights = []
    for back in range(RECENT_NIGHTS - 1, 0, -1):
        night = day - timedelta(days=back)
        path = layout.run_report_dir(settings, night) / "report.json"
        if path.is_file():
            earlier = json.loads(path.read_text(encoding="utf-8")).get("select")
            if earlier:
                nights.append(_night_counts(night, earlier))
    if select:
        nights.append(_night_counts(day, select))
    return nights


def trend_plot(nights: list[dict[str, Any]]) -> Figure | None:
    """Selections and findings over recent nights."""
    if not nights:
        return None
    figure, axis = plt.subplots(figsize=(6.4, 3.4))
    labels = [n["night"].strftime("%m-%d") for n in nights]
    axis.bar(labels, [n["red"] for n in nights], color="#fddbc7", label="red (selected)")
    axis.bar(labels, [n["inspected"] for n in nights], color="#ef8a62", label="inspected")
    axis.plot(labels, [n["found"] for n in nights], "o-", color="#b2182b", label="findings")
    axis.set_ylabel("items")
    axis.set_title("Selections and findings per night (outcomes known so far)")
    axis.tick_params(axis="x", labelsize=7, rotation=45)
    axis.legend(fontsize=7)
    return figure


def _ranked(settings: Settings, day: date) -> pl.DataFrame:
    path = layout.scores_dir(settings, day) / layout.SELECTION_FILE
    if not path.is_file():
        return pl.DataFrame(schema={"port_of_discharge": pl.String, "risk_score": pl.Float64})
    return pl.read_parquet(path, columns=["port_of_discharge", "risk_score"])


def _figure_block(title: str, src: str | None, note: str) -> str:
    if src is None:
        return f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>"
    return (
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='{html.escape(src)}'>"
        f"<p class='note'>{html.escape(note)}</p>"
    )


def _headline(stages: Mapping[str, Any]) -> list[str]:
    items = []
    if "validate" in stages:
        v = stages["validate"]
        items.append(
            f"{v['rows_read']} rows read, {v['rows_staged']} staged, {v['rows_rejected']} "
            "rejected to quarantine"
        )
    if "select" in stages:
        ports = stages["select"]["ports"]
        red = sum(int(p.get("red", 0)) for p in ports.values())
        items.append(f"{stages['select']['rows']} items ranked in {len(ports)} ports, {red} red")
    if "score" in stages and stages["score"].get("model_version"):
        items.append(f"model {stages['score']['model_version']}")
    warnings = stages.get("drift", {}).get("warnings", [])
    if warnings:
        items.append(f"drift: {len(warnings)} column(s) above the PSI threshold (see Drift)")
    return [f"<li>{html.escape(i)}</li>" for i in items]


def _links(settings: Settings, day: date, folder: Path, stages: Mapping[str, Any]) -> list[str]:
    """Links to the night's other outputs, relative to the page so the folder can be moved."""
    import os

    targets = {
        "Markdown report (for logs)": folder / "report.md",
        "stage summaries (JSON)": folder / "report.json",
        "printable lists (one HTML page per port)": layout.lists_dir(settings, day) / "html",
        "ranked lists (CSV)": layout.lists_dir(settings, day) / layout.LIST_CSV_FILE,
        "Airflow log": folder / "airflow.log",
        "disparity report (selections against findings by group)": folder / "disparity.html",
    }
    from pipelines.data_docs import index_path

    # The DAG builds Data Docs beside the other stages: the site may be there before its summary.
    summary = stages.get("data_docs", {})
    docs = summary.get("index") or index_path(settings)
    every = int(summary.get("sample_every", 1))
    # A night above data_docs_max_rows is in the site as a sample: the link says so.
    batch = f"1 row in {every:,} of the night's batch" if every > 1 else "the night's batch"
    targets[f"Great Expectations Data Docs (validation of {batch})"] = Path(docs)
    return [
        f"<li><a href='{html.escape(os.path.relpath(path, folder))}'>{html.escape(name)}</a></li>"
        for name, path in targets.items()
        if path.exists()
    ]


def write_run_report_html(
    settings: Settings, day: date, stages: Mapping[str, Any], markdown: str
) -> Path:
    """Write `report.html` and its plots for `day` from the gathered stages; return its path."""
    folder = layout.run_report_dir(settings, day)
    ports = stages.get("select", {}).get("ports", {})
    drift = stages.get("drift", {})
    plots = {
        "score": score_plot(_ranked(settings, day)),
        "trend": trend_plot(recent_nights(settings, day, stages.get("select"))),
        "budget": budget_plot(ports),
        "drift": drift_plot(drift),
    }
    src = {
        name: None if figure is None else _save(figure, folder, f"{name}.png")
        for name, figure in plots.items()
    }
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Run report {day.isoformat()}</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:auto;padding:0 12px}"
        ".note{color:#555;font-size:13px}img{max-width:100%}pre{white-space:pre-wrap;"
        "font-size:12px;background:#f6f6f6;padding:8px}</style></head><body>",
        f"<h1>Run report {day.isoformat()}</h1>",
        "<ul>",
        *_headline(stages),
        "</ul>",
        "<h2>Outputs of the night</h2><ul id='links'>",
        *_links(settings, day, folder, stages),
        "</ul>",
        _figure_block(
            "Risk scores per port",
            src["score"],
            "Each line is one port: the share of its items with a risk score at or below x. "
            "A line that moves right between nights means higher scores for that port.",
        ),
        _figure_block(
            "Selections and findings over recent nights",
            src["trend"],
            "Red items, those inspected so far and CBRN/SALW findings, per night with a run "
            "report; the latest nights lack most outcomes yet.",
        ),
        _figure_block(
            "Budget use by slice",
            src["budget"],
            "Red items per port: forced holds (watch-list and rule legal holds), ranked by risk, "
            "drawn at random; the bar marks the port's red capacity.",
        ),
        _figure_block(
            "Drift per feature",
            src["drift"],
            drift.get("unavailable", "")
            or "Population stability index (PSI) of each model input and score against the "
            "model's training traffic; red bars are above the warning threshold.",
        ),
        "<h2>Full text</h2><details><summary>The Markdown report</summary>",
        f"<pre>{html.escape(markdown)}</pre></details>",
        "</body></html>\n",
    ]
    return write_text("\n".join(parts), folder / HTML_FILE)
