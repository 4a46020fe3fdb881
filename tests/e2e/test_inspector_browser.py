"""The inspector app in a real headless Chromium (Debian's package, driven by playwright).

The story of issue 7: an inspector logs in, opens their port's list, records two outcomes and
one waiver (a waiver without reason is refused, another port's list too), the outcomes reach the
landing zone in the outcomes contract, and a supervisor's audit log shows each step.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from contracts.outcomes import OUTCOMES
from contracts.reading import cast_to_contract, read_raw
from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.export import export_outcomes
from inspector.sample import build_sample_home, declaration_id
from pipelines.settings import Settings, load_settings
from tests.e2e.browsing import PASSWORD, log_in, require_browser
from tests.e2e.live_server import live_server

# A real browser against a live server: about 50 s (decision 0017), in `make test-slow`.
pytestmark = pytest.mark.slow

require_browser()

DAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    home = tmp_path_factory.mktemp("browser") / "home"
    build_sample_home(home, DAY)
    settings = load_settings(environ={}, home=home)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    create_user(settings, "sam", PASSWORD, "supervisor", [], config=config)
    with live_server(home) as base:
        yield settings, base


def open_item(page: Any, base: str, n: int) -> None:
    page.goto(f"{base}/lists/{DAY}/NLRTM")
    page.click(f"a:has-text('{declaration_id('NLRTM', DAY, n)} #1')")
    page.wait_for_selector("h1:has-text('item 1')")


def test_inspector_records_outcomes_and_a_waiver_and_the_audit_log_shows_it(
    world: tuple[Settings, str], page: Any, browser: Any
) -> None:
    settings, base = world
    log_in(page, base, "ina")
    assert page.locator("a:has-text('NLRTM')").count() == 1
    assert page.locator("a:has-text('SGSIN')").count() == 0

    page.click("a:has-text('NLRTM')")
    assert page.locator("table.ranked tbody tr").count() == 5  # red and yellow
    assert "SALW-001@1" in page.inner_text("table.ranked")

    open_item(page, base, 1)
    assert "Phosphorus trichloride in drums" in page.content()
    page.select_option("form.outcome select[name=result]", "finding")
    page.select_option("form.outcome select[name=finding_category]", "cbrn")
    page.fill("form.outcome textarea[name=notes]", "drums mislabelled")
    page.click("form.outcome button")
    assert page.inner_text("p.flash") == "Outcome recorded."
    assert "Outcome: finding (cbrn) by ina" in page.content()

    open_item(page, base, 2)
    page.select_option("form.outcome select[name=result]", "no_finding")
    page.click("form.outcome button")
    assert page.inner_text("p.flash") == "Outcome recorded."

    open_item(page, base, 3)
    page.click("form.waiver button")  # no reason given
    assert "a waiver needs a stated reason" in page.inner_text("p.error")
    page.fill("form.waiver textarea[name=reason]", "AEO trader, seal intact, x-ray clear")
    page.click("form.waiver button")
    assert page.inner_text("p.flash") == "Waiver recorded."

    written = export_outcomes(settings)
    assert written is not None
    labels, failures = cast_to_contract(read_raw(written), OUTCOMES)
    assert failures.height == 0
    assert sorted(labels["result"].to_list()) == ["finding", "no_finding"]
    assert sorted(labels["selection_reason"].to_list()) == ["risk", "rule"]

    supervisor = browser.new_context().new_page()
    log_in(supervisor, base, "sam")
    supervisor.click("a:has-text('Audit log')")
    supervisor.fill("input[name=username]", "ina")
    supervisor.click("button:has-text('Filter')")
    steps = supervisor.locator("table.audit tbody tr td:nth-child(4)").all_inner_texts()
    for step in ("login", "view_list", "view_item", "record_refused", "record_waiver"):
        assert step in steps
    assert steps.count("record_outcome") == 2
    supervisor.click("a:has-text('Outcomes & waivers')")
    assert "AEO trader, seal intact, x-ray clear" in supervisor.inner_text("table.waivers")
    supervisor.context.close()


def test_inspector_is_refused_another_ports_list(world: tuple[Settings, str], page: Any) -> None:
    _, base = world
    log_in(page, base, "ina")
    answer = page.goto(f"{base}/lists/{DAY}/SGSIN")
    assert answer is not None and answer.status == 403
    assert "not assigned to port SGSIN" in page.inner_text("p.error")
