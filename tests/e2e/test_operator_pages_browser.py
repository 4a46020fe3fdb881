"""The pages issue 18 added, opened in a real headless Chromium and screenshotted: the item
page's rank reasons and provenance fold, the admins' quarantine view, the HTML run report with
its plots, the night's Great Expectations Data Docs, and the data team's quarantine and run
reports in the app.

Screenshots go to the test's temporary folder (printed with `-s`); each is checked to be a PNG
of a page that rendered, not a blank one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.sample import build_sample_home, declaration_id
from pipelines import layout
from pipelines.settings import Settings, load_settings
from tests.e2e.browsing import PASSWORD, log_in, require_browser
from tests.e2e.live_server import live_server
from tests.factories.inspector_home import add_run_leftovers

pytestmark = pytest.mark.slow

require_browser()

DAY = date(2026, 3, 10)
FIXTURES = Path(__file__).parents[1] / "data" / "declarations"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    home = tmp_path_factory.mktemp("operator-pages") / "home"
    build_sample_home(home, DAY)
    settings = load_settings(environ={}, home=home)
    add_run_leftovers(settings, DAY)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    create_user(settings, "ada", PASSWORD, "admin", [], config=config)
    create_user(settings, "dana", PASSWORD, "data", [], config=config)
    with live_server(home) as base:
        yield settings, base


def shoot(page: Any, folder: Path, name: str) -> Path:
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    print(f"screenshot {target}")  # where to look, with -s
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 10_000  # a rendered page, not an empty canvas
    return target


def test_the_item_page_shows_why_and_folds_provenance(
    world: tuple[Settings, str], page: Any, tmp_path: Path
) -> None:
    _, base = world
    log_in(page, base, "ina")
    item = declaration_id("NLRTM", DAY, 8)
    page.goto(f"{base}/lists/{DAY}/NLRTM/item?declaration_id={item}&item_no=1")
    assert "Not selected" in page.inner_text("p.why")
    assert "last place taken on risk was rank 1" in page.inner_text("section.summary")
    assert page.is_visible("th:has-text('Port of discharge')")
    assert not page.is_visible("th:has-text('File fingerprint (SHA-256)')")
    page.click("details.provenance summary")
    assert page.is_visible("th:has-text('File fingerprint (SHA-256)')")
    shoot(page, tmp_path, "item-not-selected")


def test_an_admin_reads_the_quarantine(
    world: tuple[Settings, str], page: Any, tmp_path: Path
) -> None:
    _, base = world
    log_in(page, base, "ada")
    page.click("a:has-text('Quarantine')")
    assert "2 rejected rows" in page.inner_text("main")
    assert page.locator("table.rows tbody tr").count() == 3
    shoot(page, tmp_path, "quarantine")


def test_the_html_run_report_and_data_docs_render(
    world: tuple[Settings, str], page: Any, tmp_path: Path
) -> None:
    from pipelines.data_docs import build_data_docs
    from pipelines.ingest import ingest_landing
    from pipelines.report_html import write_run_report_html
    from pipelines.staging import stage_declarations

    home = tmp_path / "night"
    settings = load_settings(environ={}, home=home, max_rejected_share=0.9)
    landing = settings.zone("landing") / "declarations"
    landing.mkdir(parents=True)
    shutil.copy(FIXTURES / "mixed.csv", landing / "mixed.csv")
    ingest_landing(settings, now=datetime(2026, 11, 29, 1, tzinfo=UTC))
    night = date(2026, 11, 28)
    validated = stage_declarations(settings, night)
    docs = build_data_docs(settings, night)
    ports = {
        "NLRTM": {"rows": 20, "red_capacity": 2, "hold": 1, "risk": 1, "random": 1, "red": 3},
        "BEANR": {"rows": 10, "red_capacity": 1, "hold": 0, "risk": 1, "random": 0, "red": 1},
    }
    stages = {
        "validate": validated,
        "data_docs": docs,
        "select": {"rows": 30, "ports": ports, "found": {}},
        "drift": {"version": "v1", "threshold": 0.25, "psi": {"a": 0.3, "b": 0.02}},
    }
    report = write_run_report_html(settings, night, stages, "# Run report")
    assert layout.run_report_dir(settings, night) == report.parent
    page.goto(report.as_uri())
    images = page.locator("img")
    assert images.count() == 3  # budget, drift, trend: no ranked scores in this home
    widths = images.evaluate_all("els => els.map(e => e.naturalWidth)")
    assert all(w > 100 for w in widths)  # each plot loaded from beside the page
    shoot(page, tmp_path, "run-report")
    page.click("a:has-text('Great Expectations Data Docs')")
    page.wait_for_load_state()
    assert page.url.endswith("index.html")
    assert "cargo_risk_declarations" in page.content()
    shoot(page, tmp_path, "data-docs")


def test_the_data_team_reads_the_quarantine_and_a_run_report_in_the_app(
    world: tuple[Settings, str], page: Any, tmp_path: Path
) -> None:
    from pipelines.report_html import write_run_report_html

    settings, base = world
    ports = {"NLRTM": {"rows": 20, "red_capacity": 2, "hold": 1, "risk": 1, "random": 0, "red": 2}}
    stages = {
        "select": {"rows": 20, "ports": ports, "found": {}},
        "drift": {"version": "v1", "threshold": 0.25, "psi": {"a": 0.3, "b": 0.02}},
    }
    write_run_report_html(settings, DAY, stages, "# Run report")
    log_in(page, base, "dana")
    page.click("a:has-text('Quarantine')")
    assert "2 rejected rows" in page.inner_text("main")
    shoot(page, tmp_path, "data-quarantine")
    page.click("a:has-text('Run reports')")
    shoot(page, tmp_path, "data-run-reports")
    page.click(f"a[href='/reports/{DAY}/report.html']")
    page.wait_for_load_state()
    assert f"Run report {DAY}" in page.inner_text("h1")
    widths = page.locator("img").evaluate_all("els => els.map(e => e.naturalWidth)")
    assert widths and all(w > 100 for w in widths)  # plots served beside the page
    # The page's own inline style applies under the app's policy (a centred column).
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "960px"
    shoot(page, tmp_path, "data-run-report")
