"""Model card: one self-contained HTML page per model version, plots embedded as PNG.

Grain: one card per model version, built from its metadata and its evaluation (the version and
the champion it was compared with, on the same rows). It answers one question first: does the
new model find more at the inspection budget?
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: cards are rendered in batch jobs and tests

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

TOP_FEATURES = 12


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    # A fixed creation date would be nice for byte-identical cards; metadata None drops it.
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(figure: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(figure)}">'


def _short(version: str) -> str:
    # Versions of one day share their timestamp's start; the content hash tells them apart.
    return version.rsplit("-", 1)[-1]


def _curve_plot(versions: Mapping[str, Any], category: str, kind: str) -> Figure:
    figure, axis = plt.subplots(figsize=(4.6, 3.4))
    for name, entry in versions.items():
        curves = entry["categories"].get(category, {}).get("curves")
        if not curves:
            continue
        if kind == "pr":
            axis.plot(curves["recall"], curves["precision"], label=_short(name))
            axis.set_xlabel("recall")
            axis.set_ylabel("precision")
        else:
            share = [100 * s for s in curves["share_inspected"]]
            axis.plot(share, curves["precision"], label=f"precision {_short(name)}")
            axis.plot(share, curves["recall"], linestyle="--", label=f"recall {_short(name)}")
            axis.set_xscale("log")
            axis.set_xlabel("share inspected (%)")
    axis.set_title(f"{category}: {'PR curve' if kind == 'pr' else 'precision and recall at k'}")
    axis.legend(fontsize=7)
    return figure


def _reliability_plot(bins: Sequence[Mapping[str, Any]], category: str) -> Figure:
    """Observed against predicted per equal-count bin, on log axes.

    At a base rate near 1 % most bins predict well under 0.01: on linear axes nine of ten sit
    on top of each other at zero. Log axes spread them; a bin with no finding has no place on a
    log axis, so it is drawn as an open triangle on the bottom edge.
    """
    figure, axis = plt.subplots(figsize=(4.6, 3.4))
    predicted = [float(b["predicted"]) for b in bins]
    observed = [float(b["observed"]) for b in bins]
    positive = [v for v in [*predicted, *observed] if v > 0]
    floor = min(positive, default=1e-4) / 3
    top = max([*positive, floor * 10])
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.plot([floor, top], [floor, top], color="grey", linewidth=0.8, label="calibrated")
    seen = [(p, o) for p, o in zip(predicted, observed, strict=True) if p > 0 and o > 0]
    axis.plot([p for p, _ in seen], [o for _, o in seen], marker="o", label="bins with findings")
    empty = [max(p, floor) for p, o in zip(predicted, observed, strict=True) if o <= 0]
    if empty:
        axis.scatter(
            empty,
            [floor] * len(empty),
            marker="v",
            facecolors="none",
            edgecolors="C3",
            label=f"{len(empty)} bin(s) without a finding",
        )
    axis.set_xlim(floor / 1.5, top * 1.5)
    axis.set_ylim(floor / 1.5, top * 1.5)
    axis.set_xlabel("mean predicted probability (log)")
    axis.set_ylabel("observed finding rate (log)")
    axis.set_title(f"{category}: reliability ({len(bins)} equal-count bins)")
    axis.legend(fontsize=7, loc="upper left")
    return figure


def _importance_plot(importance: Mapping[str, float], category: str) -> Figure:
    top = sorted(importance.items(), key=lambda item: -item[1])[:TOP_FEATURES][::-1]
    figure, axis = plt.subplots(figsize=(4.6, 3.4))
    axis.barh([name for name, _ in top], [value for _, value in top])
    axis.set_xlabel("total gain")
    axis.set_title(f"{category}: top features")
    axis.tick_params(axis="y", labelsize=7)
    return figure


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _rates_table(versions: Mapping[str, Any], category: str) -> str:
    rows = []
    for name, entry in versions.items():
        metrics = entry["categories"].get(category)
        if not metrics:
            continue
        for r in metrics["at_rates"]:
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td>{r['rate']:.0%}</td><td>{r['inspected']}</td>"
                f"<td>{_fmt(r['precision'])} [{_fmt(r['precision_low'])}, "
                f"{_fmt(r['precision_high'])}]</td><td>{_fmt(r['recall'])} "
                f"[{_fmt(r['recall_low'])}, {_fmt(r['recall_high'])}]</td></tr>"
            )
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td colspan=4>PR-AUC {_fmt(metrics['pr_auc'])}, "
            f"mean score / observed rate {_fmt(metrics['calibration_ratio'])}, "
            f"{metrics['positives']} findings in {metrics['rows']} rows</td></tr>"
        )
        sample = metrics.get("random_sample")
        if sample and sample["rows"]:
            at = sample["at_rates"][0]
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td colspan=4>random sample only (unbiased, "
                f"small): {sample['positives']} findings in {sample['rows']} rows, precision at "
                f"{at['rate']:.0%} {_fmt(at['precision'])}, recall {_fmt(at['recall'])}</td></tr>"
            )
    head = (
        "<tr><th>version</th><th>rate</th><th>items inspected</th>"
        "<th>precision [90% CI]</th><th>recall [90% CI]</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _group_table(metrics: Mapping[str, Any], key: str, title: str, budget: float) -> str:
    rows = []
    for port, m in sorted(metrics.get(key, {}).items()):
        at = m["at_rates"][0]
        rows.append(
            f"<tr><td>{html.escape(port)}</td><td>{m['rows']}</td><td>{m['positives']}</td>"
            f"<td>{_fmt(at['precision'])}</td><td>{_fmt(at['recall'])}</td></tr>"
        )
    head = (
        f"<tr><th>{title}</th><th>rows</th><th>findings</th><th>precision at {budget:.0%}</th>"
        f"<th>recall at {budget:.0%}</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def render_card(
    metadata: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    verdict: Sequence[str] = (),
) -> str:
    """The HTML card of the version named in `metadata`, beside any champion in `evaluation`."""
    version = str(metadata["version"])
    budget = float(evaluation["budget"])
    versions = evaluation["versions"]
    mine = versions[version]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Model card {html.escape(version)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:13px}img{margin:4px}</style></head><body>",
        f"<h1>Model card {html.escape(version)}</h1>",
        "<h2>Is it better at the inspection budget?</h2><ul>",
        *(f"<li>{html.escape(line)}</li>" for line in verdict),
        "</ul>",
        f"<p>Evaluated on {evaluation['rows']} inspected items filed "
        f"{html.escape(str(evaluation['window_from']))} to "
        f"{html.escape(str(evaluation['window_until']))} (the version's gate window, which "
        "its training and calibration did not see, unless the verdict says otherwise; a "
        "champion trained on those days is flattered, so the comparison errs towards it). "
        f"Budget {budget:.0%}.</p>",
        "<h2>Training</h2><ul>",
        f"<li>trained until {html.escape(str(metadata.get('trained_until')))}, "
        f"created {html.escape(str(metadata.get('created_at')))}</li>",
        f"<li>feature registry hash {html.escape(str(metadata.get('registry_hash')))}; "
        f"training data fingerprint {html.escape(str(metadata.get('training_fingerprint')))}; "
        f"code {html.escape(str(metadata.get('code_version')))}</li>",
        "<li>rows: "
        + html.escape(", ".join(f"{k} {v}" for k, v in sorted(metadata.get("rows", {}).items())))
        + "</li>",
        *(f"<li>warning: {html.escape(w)}</li>" for w in metadata.get("warnings", [])),
        "</ul>",
    ]
    for category, metrics in sorted(mine["categories"].items()):
        parts += [
            f"<h2>{html.escape(category)}</h2>",
            _rates_table(versions, category),
            _img(_curve_plot(versions, category, "pr"), f"{category} PR curve"),
            _img(_curve_plot(versions, category, "k"), f"{category} precision and recall at k"),
            _img(
                _reliability_plot(metrics["curves"]["reliability"], category),
                f"{category} reliability",
            ),
            _img(
                _importance_plot(mine["importance"].get(category, {}), category),
                f"{category} top features",
            ),
            "<h3>Per port (each port's own top share)</h3>",
            _group_table(metrics, "per_port", "port", budget),
        ]
        if "per_origin_region" in metrics:
            parts += [
                "<h3>Per origin region</h3>",
                _group_table(metrics, "per_origin_region", "region", budget),
            ]
    parts.append("</body></html>\n")
    return "\n".join(parts)
