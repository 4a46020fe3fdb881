"""Disparity reports: does selection fall on some groups beyond what their findings justify?

Two kinds, same figures (decision 0026):

- **per night** (`reports/runs/date=D/disparity.html|json`): tonight's selection (red and yellow
  lanes) by group, against what inspections found in the trailing window before D;
- **per model version** (`models/<version>/disparity.html|json`): on the version's gate
  window, the items the model would select at the inspection budget, against what was found.

Groups: origin country, origin region (UN M49), trader size band (the consignee's items in the
window) and mode of transport. Each rate and share carries a Wilson interval. The reference for
"what findings justify" is the random sample (outcomes with selection_reason `random`): targeted
inspections find things where they look, so their findings repeat past selection. A group is
flagged when the lower bound of its share of selections lies above the upper bound of its share of
reference findings: both intervals must separate, so a flag is not noise from a small group.

Grain of the JSON rows: one row per dimension and group.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import polars as pl

from pipelines import layout
from pipelines.io import write_text
from pipelines.settings import Settings

REPORT_JSON = "disparity.json"
REPORT_HTML = "disparity.html"
CONFIDENCE = 0.95
WINDOW_DAYS = 90
"""Days of inspections before the night that its selection is compared with."""
MIN_REFERENCE_FINDINGS = 5
"""Fewer random-sample findings than this and the reference falls back to all inspections."""
SIZE_BANDS = ((1, "1-9 items"), (10, "10-99 items"), (100, "100-999 items"), (1000, "1000+ items"))
"""Trader size bands: the consignee's declaration items in the report's window."""
DIMENSIONS = ("origin_country", "origin_region", "trader_size", "mode")
PLOTTED_GROUPS = 15
SELECTED_LANES = ("red", "yellow")
ITEM_FLAGS = ("selected", "inspected", "finding", "random")
"""Boolean columns of an item frame; plus one string column per dimension."""


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _proportion(successes: int, trials: int) -> dict[str, float | int | None]:
    low, high = wilson(successes, trials)
    return {
        "k": successes,
        "n": trials,
        "value": successes / trials if trials else None,
        "low": round(low, 6),
        "high": round(high, 6),
    }


def size_band(items: pl.Expr) -> pl.Expr:
    """The size band label of a trader with `items` declaration items."""
    expr = pl.lit(SIZE_BANDS[0][1])
    for lower, label in SIZE_BANDS[1:]:
        expr = pl.when(items >= lower).then(pl.lit(label)).otherwise(expr)
    return expr


CELL_ITEMS = "_items"
"""In a frame of cells (items counted per combination of the dimensions and `ITEM_FLAGS`): how
many items share the row's groups and flags. The figures read item frames and frames of cells
alike; a night is counted as cells in DuckDB (pipelines/disparity_window.py), never whole."""


def _weight(frame: pl.DataFrame) -> pl.Expr:
    """Items a row stands for: its cell's count, or one in a frame of items."""
    return pl.col(CELL_ITEMS) if CELL_ITEMS in frame.columns else pl.lit(1, pl.Int64)


def _items_total(frame: pl.DataFrame) -> int:
    return int(frame[CELL_ITEMS].sum()) if CELL_ITEMS in frame.columns else frame.height


def _total(frame: pl.DataFrame, flag: pl.Expr) -> int:
    return int(frame.select((flag * _weight(frame)).sum()).item())


def _counts(frame: pl.DataFrame, dimension: str) -> pl.DataFrame:
    n = _weight(frame)
    return (
        frame.group_by(pl.col(dimension).fill_null("unknown").alias("group"))
        .agg(
            (n.sum() if CELL_ITEMS in frame.columns else pl.len()).alias("items"),
            *((pl.col(flag) * n).sum().cast(pl.Int64).alias(flag) for flag in ITEM_FLAGS[:3]),
            ((pl.col("random") & pl.col("inspected")) * n).sum().cast(pl.Int64).alias("random"),
            ((pl.col("random") & pl.col("finding")) * n)
            .sum()
            .cast(pl.Int64)
            .alias("random_findings"),
        )
        .sort("group")
    )


def disparity_rows(
    selection: pl.DataFrame, outcomes: pl.DataFrame, dimension: str
) -> tuple[list[dict[str, Any]], str]:
    """One row per group of `dimension`, and the reference used ("random sample" or "all
    inspections").

    `selection` holds the items a selection was made on (`selected`); `outcomes` the items whose
    inspections are known (`inspected`, `finding`, `random`). They may be the same frame.
    """
    chosen = _counts(selection, dimension).select("group", "items", "selected")
    found = _counts(outcomes, dimension).select(
        "group",
        pl.col("items").alias("window_items"),
        "inspected",
        pl.col("finding").alias("findings"),
        "random",
        "random_findings",
    )
    table = chosen.join(found, on="group", how="full", coalesce=True).fill_null(0).sort("group")
    selected_total = int(table["selected"].sum())
    findings_total = int(table["findings"].sum())
    random_total = int(table["random_findings"].sum())
    use_random = random_total >= MIN_REFERENCE_FINDINGS
    reference = "random sample" if use_random else "all inspections"
    rows = []
    for r in table.iter_rows(named=True):
        selection_share = _proportion(r["selected"], selected_total)
        finding_share = _proportion(r["findings"], findings_total)
        random_share = _proportion(r["random_findings"], random_total)
        reference_share = random_share if use_random else finding_share
        flagged = (
            r["selected"] > 0
            and reference_share["n"] != 0
            and float(selection_share["low"] or 0) > float(reference_share["high"] or 1)
        )
        rows.append(
            {
                "group": r["group"],
                "items": r["items"],
                "selected": r["selected"],
                "selection_rate": _proportion(r["selected"], r["items"]),
                "inspection_rate": _proportion(r["inspected"], r["window_items"]),
                "finding_rate": _proportion(r["findings"], r["inspected"]),
                "random_finding_rate": _proportion(r["random_findings"], r["random"]),
                "selection_share": selection_share,
                "finding_share": finding_share,
                "random_finding_share": random_share,
                "flag": flagged,
            }
        )
    return rows, reference


def disparity_figures(
    selection: pl.DataFrame,
    outcomes: pl.DataFrame,
    about: Mapping[str, Any],
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole report as JSON-able figures: rows per dimension, flags and the reference."""
    dimensions: dict[str, list[dict[str, Any]]] = {}
    references: dict[str, str] = {}
    for dimension in DIMENSIONS:
        dimensions[dimension], references[dimension] = disparity_rows(
            selection, outcomes, dimension
        )
    flags = [
        {
            "dimension": dimension,
            "group": row["group"],
            "selection_share": row["selection_share"]["value"],
            "selection_share_low": row["selection_share"]["low"],
            "reference_share_high": row[
                "random_finding_share"
                if references[dimension] == "random sample"
                else "finding_share"
            ]["high"],
        }
        for dimension, rows in dimensions.items()
        for row in rows
        if row["flag"]
    ]
    return {
        **about,
        "confidence": CONFIDENCE,
        "reference": references["origin_country"],
        "totals": {
            "items": _items_total(selection),
            "selected": _total(selection, pl.col("selected")),
            "window_items": _items_total(outcomes),
            "inspected": _total(outcomes, pl.col("inspected")),
            "findings": _total(outcomes, pl.col("finding")),
            "random_inspected": _total(outcomes, pl.col("random") & pl.col("inspected")),
            "random_findings": _total(outcomes, pl.col("random") & pl.col("finding")),
        },
        "dimensions": dimensions,
        "flags": flags,
        "notes": list(notes),
    }


# Reading the zones.


def _declarations(settings: Settings, days: Sequence[date]) -> pl.DataFrame:
    """Item attributes of the staged declarations of `days`, each (declaration_id, item_no) at
    its latest filing: origin, mode and consignee."""
    paths = _staged_paths(settings, days)
    columns = {
        "declaration_id": pl.String,
        "item_no": pl.Int64,
        "filed_on": pl.Date,
        "origin_country": pl.String,
        "mode": pl.String,
        "consignee_id": pl.String,
    }
    if not paths:
        return pl.DataFrame(schema=columns)
    scan = pl.scan_parquet(paths, missing_columns="insert", extra_columns="ignore")
    present = set(scan.collect_schema().names())
    source = {"filed_on": "filed_at", "origin_country": "country_of_origin"}

    def column(name: str, dtype: type[pl.DataType]) -> pl.Expr:
        # A staged file without a column (older contracts, small test homes) counts as unknown.
        raw = source.get(name, name)
        expr = pl.col(raw) if raw in present else pl.lit(None)
        if name == "filed_on" and raw in present:
            return expr.dt.date().alias(name)
        return expr.cast(dtype).alias(name)

    selected = scan.select(column(name, dtype) for name, dtype in columns.items())
    return selected.unique(["declaration_id", "item_no"], keep="last").collect()


def _staged_paths(settings: Settings, days: Sequence[date]) -> list[Path]:
    """The staged declarations files of `days` that exist, in the days' order."""
    return [p for d in days if (p := layout.staged_declarations_file(settings, d)).is_file()]


TRADER_ITEMS = "_trader_items"
"""Each consignee's number of items, in the frames that size the trader bands."""


def with_groups(items: pl.DataFrame, traders: pl.DataFrame) -> pl.DataFrame:
    """Add origin_region (from the country table) and trader_size (from `traders`' counts)."""
    sizes = traders.group_by("consignee_id").agg(pl.len().alias(TRADER_ITEMS))
    return (
        items.join(_regions(), on="origin_country", how="left", maintain_order="left")
        .join(sizes, on="consignee_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("origin_region").fill_null("unknown"),
            size_band(pl.col(TRADER_ITEMS).fill_null(1)).alias("trader_size"),
        )
        .drop(TRADER_ITEMS)
    )


def _regions() -> pl.DataFrame:
    """Each origin country's UN M49 region (origin_country, origin_region)."""
    from contracts.reference import countries

    return countries().select(
        pl.col("alpha2").alias("origin_country"), pl.col("region").alias("origin_region")
    )


def inspected_items(items: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """`items` with inspected, finding and random flags from `outcomes` (outcomes contract).

    An outcome without item_no covers every item of its declaration.
    """
    return _inspected(items.lazy(), outcomes).collect()


def _inspected(items: pl.LazyFrame, outcomes: pl.DataFrame) -> pl.LazyFrame:
    marks = outcomes.lazy().select(
        pl.col("declaration_id").cast(pl.String),
        pl.col("item_no").cast(pl.Int64),
        (pl.col("result") == "finding").alias("_finding"),
        (pl.col("selection_reason") == "random").alias("_random"),
    )
    per_item = marks.filter(pl.col("item_no").is_not_null())
    per_declaration = marks.filter(pl.col("item_no").is_null()).drop("item_no")
    joined = pl.concat(
        [
            items.join(per_item, on=["declaration_id", "item_no"], how="inner"),
            items.join(per_declaration, on="declaration_id", how="inner"),
        ],
        how="diagonal_relaxed",
    )
    flags = joined.group_by("declaration_id", "item_no").agg(
        pl.lit(True).alias("inspected"),
        pl.col("_finding").any().alias("finding"),
        pl.col("_random").any().alias("random"),
    )
    return items.join(
        flags, on=["declaration_id", "item_no"], how="left", maintain_order="left"
    ).with_columns(pl.col("inspected", "finding", "random").fill_null(False))


def _outcomes(settings: Settings, first: date, last: date) -> pl.DataFrame:
    """Staged inspections recorded on the days `first`..`last`."""
    table = layout.staged_outcomes(settings)
    paths = [
        p for d, p in layout.partition_files(table, layout.OUTCOMES_FILE) if first <= d <= last
    ]
    schema = {
        "declaration_id": pl.String,
        "item_no": pl.Int64,
        "result": pl.String,
        "selection_reason": pl.String,
    }
    if not paths:
        return pl.DataFrame(schema=schema)
    return pl.concat(
        [pl.read_parquet(p).select(pl.col(c).cast(t) for c, t in schema.items()) for p in paths]
    )


def night_figures(settings: Settings, day: date, window_days: int = WINDOW_DAYS) -> dict[str, Any]:
    """Tonight's published selection against the inspections of the `window_days` before."""
    lists = layout.lists_dir(settings, day) / layout.LIST_FILE
    if not lists.is_file():
        raise FileNotFoundError(f"{lists}: no published list for {day}; run the night first")
    first = day - timedelta(days=window_days)
    window_days_list = [first + timedelta(days=i) for i in range(window_days)]
    # Counted as cells (items per groups and flags) in DuckDB: the window is 90 days of every
    # item filed, tonight one day of them; only the counts come back.
    from pipelines.disparity_window import (
        consignee_items,
        night_counts,
        register_groups,
        selection_cells,
        window_cells,
    )

    regions = _regions()
    with night_counts(
        _staged_paths(settings, window_days_list),
        _staged_paths(settings, [day]),
        _outcomes(settings, first, day),
        layout.run_report_dir(settings, day),
    ) as db:
        bands = consignee_items(db).select(
            "consignee_id", size_band(pl.col(TRADER_ITEMS)).alias("trader_size")
        )
        smallest = SIZE_BANDS[0][1]
        register_groups(db, regions, bands)
        window_items = window_cells(db, smallest)
        selection = selection_cells(db, lists, SELECTED_LANES, smallest=smallest)
    notes = []
    if _items_total(window_items) == 0:
        notes.append(f"no staged declarations in the {window_days} days before {day}")
    missing = _items_total(selection.filter(pl.col("origin_country").is_null()))
    if missing:
        notes.append(f"{missing} list items have no staged declaration: grouped as unknown")
    about = {
        "kind": "night",
        "date": day.isoformat(),
        "window": {"first": first.isoformat(), "last": (day - timedelta(days=1)).isoformat()},
        "selected_means": "lane red or yellow in tonight's published list",
    }
    return disparity_figures(selection, window_items, about, notes)


def model_figures(settings: Settings, version: str) -> dict[str, Any]:
    """What `version` would select at the gate budget on its gate window, against what
    those inspections found."""
    from models.registry import load_version
    from models.training import SAMPLE, label_column
    from pipelines.lifecycle import evaluation_set, models_root, probabilities

    models = load_version(models_root(settings) / version).for_gate()
    frame = evaluation_set(settings, version, models.feature_names)
    if frame.is_empty():
        raise ValueError(f"model {version}: no inspected rows in its gate window")
    scores = probabilities(models, frame)
    risk = pl.Series([max(values) for values in zip(*scores.values(), strict=True)])
    labels = [label_column(c) for c in scores if label_column(c) in frame.columns]
    budget = settings.model_gate_budget
    cut = max(1, round(budget * frame.height))
    rows = frame.select(
        pl.col("declaration_id").cast(pl.String),
        pl.col("item_no").cast(pl.Int64),
        pl.any_horizontal([pl.col(c) > 0 for c in labels]).alias("finding"),
        (pl.col(SAMPLE) == "random").alias("random"),
    ).with_columns(
        (risk.rank("ordinal", descending=True) <= cut).alias("selected"),
        pl.lit(True).alias("inspected"),
    )
    days = sorted(frame.get_column("filed_at").dt.date().unique())
    attributes = _declarations(settings, days)
    items = with_groups(
        rows.join(attributes, on=["declaration_id", "item_no"], how="left"), attributes
    )
    about = {
        "kind": "model_version",
        "version": version,
        "window": {"first": str(days[0]), "last": str(days[-1])},
        "selected_means": f"the {budget:.0%} of inspected validation items the model ranks highest",
    }
    notes = ["every item here was inspected: the rates are among inspected items only"]
    return disparity_figures(items, items, about, notes)


# Writing.


def _share_plot(rows: Sequence[Mapping[str, Any]], reference_key: str, title: str) -> str:
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = sorted(rows, key=lambda r: (-r["selected"], r["group"]))[:PLOTTED_GROUPS][::-1]
    if not shown:
        return "<p>No groups to plot.</p>"
    figure, axis = plt.subplots(figsize=(6.4, 0.32 * len(shown) + 1.2))
    positions = list(range(len(shown)))
    for offset, key, label in (
        (0.18, "selection_share", "share of selections"),
        (-0.18, reference_key, "share of reference findings"),
    ):
        values = [r[key]["value"] or 0.0 for r in shown]
        errors = [
            [v - r[key]["low"] for v, r in zip(values, shown, strict=True)],
            [r[key]["high"] - v for v, r in zip(values, shown, strict=True)],
        ]
        axis.barh([p + offset for p in positions], values, height=0.34, xerr=errors, label=label)
    axis.set_yticks(positions, [str(r["group"]) for r in shown], fontsize=7)
    axis.set_xlabel(f"share ({CONFIDENCE:.0%} Wilson interval)")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def _cell(p: Mapping[str, Any]) -> str:
    if p["value"] is None:
        return "n/a"
    return f"{p['value']:.1%} [{p['low']:.1%}, {p['high']:.1%}] ({p['k']}/{p['n']})"


def render_html(figures: Mapping[str, Any]) -> str:
    """A self-contained page: totals, flags, then a plot and a table per dimension."""
    subject = figures.get("date") or figures.get("version")
    title = f"Disparity report: {figures['kind'].replace('_', ' ')} {subject}"
    reference_key = (
        "random_finding_share" if figures["reference"] == "random sample" else "finding_share"
    )
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #bbb;"
        "padding:2px 6px}tr.flag{background:#fdd}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Selected: {esc(figures['selected_means'])}. Findings window "
        f"{esc(figures['window']['first'])} to {esc(figures['window']['last'])}. "
        f"Reference for the findings share: <b>{esc(figures['reference'])}</b>. "
        f"Intervals: {figures['confidence']:.0%} Wilson. A row is flagged when the lower bound "
        "of its share of selections lies above the upper bound of its share of reference "
        "findings.</p>",
        "<p>Totals: " + ", ".join(f"{esc(k)} {v}" for k, v in figures["totals"].items()) + "</p>",
    ]
    parts += [f"<p><i>{esc(note)}</i></p>" for note in figures["notes"]]
    if figures["flags"]:
        parts.append("<h2>Flags</h2><ul>")
        parts += [
            f"<li>{esc(f['dimension'])} {esc(str(f['group']))}: {f['selection_share']:.1%} of "
            f"selections, reference findings share at most {f['reference_share_high']:.1%}</li>"
            for f in figures["flags"]
        ]
        parts.append("</ul>")
    else:
        parts.append("<h2>Flags</h2><p>No group flagged.</p>")
    headers = (
        "group",
        "items",
        "selection rate",
        "inspection rate",
        "finding rate",
        "random-sample finding rate",
        "share of selections",
        "share of findings",
        "share of random-sample findings",
    )
    keys = (
        "selection_rate",
        "inspection_rate",
        "finding_rate",
        "random_finding_rate",
        "selection_share",
        "finding_share",
        "random_finding_share",
    )
    for dimension, rows in figures["dimensions"].items():
        name = dimension.replace("_", " ")
        parts += [f"<h2>By {esc(name)}</h2>", _share_plot(rows, reference_key, f"By {name}")]
        parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>")
        for row in rows:
            css = " class='flag'" if row["flag"] else ""
            cells = "".join(f"<td>{_cell(row[k])}</td>" for k in keys)
            parts.append(
                f"<tr{css}><td>{esc(str(row['group']))}</td><td>{row['items']}</td>{cells}</tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(figures: Mapping[str, Any], folder: Path) -> Path:
    """Write disparity.json and disparity.html into `folder`; return the HTML path."""
    write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", folder / REPORT_JSON)
    return write_text(render_html(figures), folder / REPORT_HTML)


def write_night_report(settings: Settings, day: date) -> Path:
    """The night's report beside its run report."""
    return write_report(night_figures(settings, day), layout.run_report_dir(settings, day))


def run_report_link(settings: Settings, day: date) -> str:
    """Markdown lines linking the night's disparity report, or nothing when there is none."""
    folder = layout.run_report_dir(settings, day)
    if not (folder / REPORT_JSON).is_file():
        return ""
    figures = json.loads((folder / REPORT_JSON).read_text(encoding="utf-8"))
    flagged = ", ".join(f"{f['dimension']} {f['group']}" for f in figures["flags"]) or "none"
    return (
        f"## Disparity\n- [disparity report]({REPORT_HTML}) ([JSON]({REPORT_JSON})); "
        f"flagged: {flagged}\n"
    )


def with_model_report_link(settings: Settings, version: str, card: str) -> str:
    """Write the version's disparity report and link it under the card's title."""
    from pipelines.lifecycle import models_root

    folder = models_root(settings) / version
    try:
        write_report(model_figures(settings, version), folder)
    except (FileNotFoundError, ValueError) as error:
        note = f"<p>Disparity report not written: {html.escape(str(error))}</p>"
        return card.replace("</h1>", "</h1>" + note, 1)
    link = f'<p><a href="{REPORT_HTML}">Disparity report</a> (<a href="{REPORT_JSON}">JSON</a>)</p>'
    return card.replace("</h1>", "</h1>" + link, 1)
