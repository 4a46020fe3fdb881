"""The HTML run report: its plots are written beside it, and it links the night's outputs."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import layout
from pipelines.io import write_parquet, write_text
from pipelines.report_html import HTML_FILE, recent_nights, write_run_report_html
from pipelines.settings import Settings, load_settings

DAY = date(2026, 3, 31)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, home=tmp_path / "home")


def _select(red: int, found: int) -> dict[str, object]:
    return {
        "run_id": "r",
        "rows": 30,
        "ports": {
            "NLRTM": {
                "rows": 20,
                "red_capacity": 2,
                "hold": 1,
                "risk": red - 1,
                "random": 1,
                "red": red + 1,
                "yellow": 2,
                "green": 17 - red,
            },
            "BEANR": {
                "rows": 10,
                "red_capacity": 1,
                "hold": 0,
                "risk": 1,
                "random": 0,
                "red": 1,
                "yellow": 1,
                "green": 8,
            },
        },
        "found": {"NLRTM": {"risk": {"inspected": red, "found": found}}},
    }


def _stages(red: int = 2, found: int = 1) -> dict[str, dict[str, object]]:
    return {
        "validate": {"rows_read": 31, "rows_staged": 30, "rows_rejected": 1},
        "score": {"model_version": "v1"},
        "select": _select(red, found),
        "drift": {
            "version": "v1",
            "threshold": 0.25,
            "psi": {"a_rate": 0.4, "b_days": 0.01},
            "warnings": ["a_rate: PSI 0.40 above 0.25"],
        },
        "data_docs": {"index": "PLACEHOLDER"},
    }


def _night(settings: Settings) -> None:
    ranked = pl.DataFrame(
        {
            "port_of_discharge": ["NLRTM"] * 20 + ["BEANR"] * 10,
            "risk_score": [i / 100 for i in range(30)],
        }
    )
    write_parquet(ranked, layout.scores_dir(settings, DAY) / layout.SELECTION_FILE)
    for back, found in ((2, 0), (1, 3)):
        earlier = layout.run_report_dir(settings, DAY - timedelta(days=back))
        stages = {"select": _select(4, found)}
        write_text(json.dumps(stages, default=str), earlier / "report.json")


def test_the_page_has_its_four_plots_beside_it_and_links_what_exists(settings: Settings) -> None:
    _night(settings)
    folder = layout.run_report_dir(settings, DAY)
    docs = write_text("<html></html>", settings.home / "gx" / "index.html")
    write_text("# md", folder / "report.md")
    stages = _stages()
    stages["data_docs"]["index"] = str(docs)
    page = write_run_report_html(settings, DAY, stages, "# Run report")
    text = page.read_text(encoding="utf-8")
    assert page == folder / HTML_FILE
    images = re.findall(r"<img alt='[^']+' src='([^']+)'>", text)
    assert sorted(images) == [f"plots/{n}.png" for n in ("budget", "drift", "score", "trend")]
    for src in images:
        assert (folder / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    links = dict(re.findall(r"<a href='([^']+)'>([^<]+)</a>", text))
    assert links["report.md"].startswith("Markdown report")
    assert (folder / next(h for h in links if "gx" in h)).resolve() == docs.resolve()
    # Only outputs that exist are linked: no lists were published in this home.
    assert not any("lists" in href for href in links)
    assert "1 column(s) above the PSI threshold" in text


def test_a_sampled_data_docs_link_says_so(settings: Settings) -> None:
    # Above data_docs_max_rows the site holds 1 row in k: the link must not claim the whole batch.
    _night(settings)
    docs = write_text("<html></html>", settings.home / "gx" / "index.html")
    stages = _stages()
    stages["data_docs"].update(index=str(docs), sample_every=10)
    text = write_run_report_html(settings, DAY, stages, "# Run report").read_text("utf-8")
    links = dict(re.findall(r"<a href='([^']+)'>([^<]+)</a>", text))
    label = links[next(h for h in links if "gx" in h)]
    assert "1 row in 10 of the night" in label


def test_the_trend_reads_the_earlier_nights_reports(settings: Settings) -> None:
    _night(settings)
    nights = recent_nights(settings, DAY, _stages(red=2, found=1)["select"])
    assert [n["night"] for n in nights] == [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    assert [n["found"] for n in nights] == [0, 3, 1]
    assert [n["red"] for n in nights] == [6, 6, 4]
    assert [n["inspected"] for n in nights] == [4, 4, 2]


def test_a_night_without_selection_says_so_instead_of_a_plot(settings: Settings) -> None:
    page = write_run_report_html(
        settings, DAY, {"drift": {"unavailable": "no model yet"}}, "# Run report"
    )
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text
    assert "no model yet" in text
