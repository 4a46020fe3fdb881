"""The item page says why an item holds its rank and where the cut-off fell; fields carry human
labels and the file's bookkeeping sits in a provenance fold; admins read the quarantine."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.sample import build_sample_home, declaration_id
from pipelines import layout
from pipelines.io import write_text
from pipelines.settings import Settings, load_settings
from tests.factories.inspector_home import SHA256, add_run_leftovers, app_client

DAY = date(2026, 3, 10)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    build_sample_home(tmp_path / "home", DAY)
    settings = load_settings(environ={}, home=tmp_path / "home")
    add_run_leftovers(settings, DAY)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    create_user(settings, "ada", PASSWORD, "admin", [], config=config)
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings) as client:
        yield client


def _login(client: TestClient, username: str) -> None:
    token = CSRF.search(client.get("/login").text)
    assert token
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


def _item(client: TestClient, n: int) -> str:
    url = f"/lists/{DAY}/NLRTM/item?declaration_id={declaration_id('NLRTM', DAY, n)}&item_no=1"
    page = client.get(url)
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


def test_each_selected_item_says_why_it_holds_its_rank(client: TestClient) -> None:
    _login(client, "ina")
    assert "Ranked by risk: an expected chance of a finding of 0.830" in _item(client, 1)
    assert "Rule-lifted: expert rule SALW-001@1 fired" in _item(client, 2)
    assert "Drawn at random" in _item(client, 3)
    assert "Lifted by a watch-list match (un:QDe.115)" in _item(client, 5)
    assert "Rank 2 of 12 at NLRTM." in _item(client, 2)


def test_a_rule_that_is_a_legal_hold_is_called_a_forced_hold(
    client: TestClient, settings: Settings
) -> None:
    summary = {"precision": {"rules": [{"rule_id": "SALW-001", "force_red": True}]}}
    write_text(json.dumps(summary), layout.run_report_dir(settings, DAY) / "select.json")
    _login(client, "ina")
    assert "Forced hold: expert rule SALW-001@1 is a legal hold" in _item(client, 2)


def test_an_item_not_selected_is_told_where_the_cut_off_fell(client: TestClient) -> None:
    _login(client, "ina")
    page = _item(client, 8)
    assert "Not selected: risk 0.340" in page
    # Red by risk: only rank 1 (0.830); yellow by risk: rank 4 (0.620).
    assert "The red lane's last place taken on risk was rank 1 at a risk of 0.830" in page
    assert "The yellow lane's last place taken on risk was rank 4 at a risk of 0.620" in page
    assert "this item's risk is 0.340" in page
    yellow = _item(client, 4)
    assert "red lane's last place" in yellow and "yellow lane's last place" not in yellow


def test_fields_have_labels_and_internals_sit_in_the_provenance_fold(client: TestClient) -> None:
    _login(client, "ina")
    page = _item(client, 1)
    assert "<th>Port of discharge</th>" in page and "<th>HS code</th>" in page
    assert "<th>port_of_discharge</th>" not in page
    fold = page[page.index('<details class="provenance">') :]
    fold = fold[: fold.index("</details>")]
    assert "File fingerprint (SHA-256)" in fold and SHA256 in fold
    assert "Source file" in fold and "decl_2026-03-10.csv" in fold
    before_fold = page[: page.index('<details class="provenance">')]
    assert "_sha256" not in page and SHA256 not in before_fold


def test_admins_read_the_quarantine_and_inspectors_may_not(client: TestClient) -> None:
    _login(client, "ina")
    assert client.get("/quarantine").status_code == 403
    client.cookies.clear()
    _login(client, "ada")
    page = client.get("/quarantine")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "2 rejected rows, by reason" in text
    assert "<td>hs_code</td><td>not a 6-digit HS code</td><td>1</td>" in text
    assert "unknown currency" in text and "99x" in text
    assert 'href="/quarantine"' in text
