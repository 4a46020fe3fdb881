"""Cleared watch-list matches: the screen stage reads the export, a clearance suppresses the
hold until the party's details or the entry change or it is withdrawn; the app and the CLI clear
and withdraw, and every change is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from inspector.accounts import create_user
from inspector.app import create_app
from inspector.audit import verify
from inspector.config import InspectorConfig
from inspector.db import AuditEvent, Clearance
from inspector.sample import build_sample_home, declaration_id
from pipelines.io import write_parquet
from pipelines.settings import Settings, load_settings
from pipelines.watchlists import clearances
from pipelines.watchlists.national import load_national
from pipelines.watchlists.screen import screen_day, screen_declarations
from pipelines.watchlists.shipped import NATIONAL_SAMPLE
from pipelines.watchlists.store import store_list

DAY = date(2026, 3, 10)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LISTED = "Kestrel Dual Use Components L.L.C."


def _declaration(name: str = LISTED, country: str = "AE", party_id: str = "TR-1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": ["D1"],
            "item_no": [1],
            "shipper_name": [name],
            "shipper_country": [country],
            "shipper_id": [party_id],
            "consignee_name": ["Acme Imports Ltd"],
            "consignee_country": ["GB"],
            "consignee_id": ["TR-2"],
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    chosen = load_settings(environ={}, home=tmp_path)
    store_list(load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01"), chosen)
    return chosen


def _clearance_of(hit: dict[str, object], **changes: object) -> pl.DataFrame:
    row = {
        "clearance_id": 1,
        "list_name": hit["list_name"],
        "entry_id": hit["entry_id"],
        "entry_fingerprint": hit["entry_fingerprint"],
        "party_fingerprint": hit["party_fingerprint"],
        "party_name": LISTED,
        "party_country": "AE",
        "party_id": "TR-1",
        "reason": "another firm",
        "cleared_by": "sam",
        "cleared_at": datetime(2026, 3, 9, 10, tzinfo=UTC),
        "withdrawn_by": None,
        "withdrawn_at": None,
        **changes,
    }
    return pl.DataFrame([row], schema=clearances.CLEARANCE_SCHEMA)


def test_a_clearance_suppresses_the_hold_until_the_party_or_entry_changes(
    settings: Settings,
) -> None:
    hit = screen_declarations(_declaration(), settings).row(0, named=True)
    assert hit["hold"] and not hit["cleared"] and hit["entry_fingerprint"]
    cleared = _clearance_of(hit)
    again = screen_declarations(_declaration(), settings, clearances=cleared).row(0, named=True)
    assert again["cleared"] and not again["hold"] and again["clearance_id"] == 1
    assert "cleared as false by sam (clearance 1)" in again["reason"]
    # Same spelling but in another case and spacing: the same party.
    spaced = _declaration(LISTED.upper().replace(" ", "  "))
    assert screen_declarations(spaced, settings, clearances=cleared).get_column("cleared").all()
    # Another country, another registry id or another name: held again.
    for changed in (
        _declaration(country="OM"),
        _declaration(party_id="TR-9"),
        _declaration("Kestrel Dual-Use Components FZE"),
    ):
        hits = screen_declarations(changed, settings, clearances=cleared)
        assert hits.height and not hits.get_column("cleared").any()
    # The entry as it read then differs from the entry now: held again.
    stale = _clearance_of(hit, entry_fingerprint="0" * 24)
    hits = screen_declarations(_declaration(), settings, clearances=stale)
    assert hits.get_column("hold").all() and not hits.get_column("cleared").any()


def test_withdrawn_clearances_stay_in_the_export_but_do_not_apply(settings: Settings) -> None:
    hit = screen_declarations(_declaration(), settings).row(0, named=True)
    withdrawn = _clearance_of(
        hit, withdrawn_by="sam", withdrawn_at=datetime(2026, 3, 12, tzinfo=UTC)
    )
    clearances.write_export(settings, withdrawn.to_dicts())
    assert clearances.read_export(settings).equals(withdrawn)
    assert clearances.active(withdrawn).is_empty()
    assert not screen_declarations(_declaration(), settings).get_column("cleared").any()
    clearances.write_export(settings, _clearance_of(hit).to_dicts())
    assert screen_declarations(_declaration(), settings).get_column("cleared").all()


def test_an_export_without_its_columns_is_refused(settings: Settings) -> None:
    write_parquet(pl.DataFrame({"clearance_id": [1]}), clearances.export_path(settings))
    with pytest.raises(ValueError, match="lacks column"):
        clearances.read_export(settings)


# The app and the CLI, on a sample home whose NLRTM item 5 has a listed consignee.

CONSIGNEE = "Kestrel Dual-Use Components LLC"


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    build_sample_home(tmp_path / "home", DAY)
    settings = load_settings(environ={}, home=tmp_path / "home")
    store_list(load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01"), settings)
    path = settings.zone("staging") / "declarations" / f"date={DAY}" / "declarations.parquet"
    staged = pl.read_parquet(path)
    listed = pl.col("declaration_id") == declaration_id("NLRTM", DAY, 5)
    staged = staged.with_columns(
        consignee_name=pl.when(listed).then(pl.lit(CONSIGNEE)).otherwise("consignee_name"),
        consignee_country=pl.when(listed).then(pl.lit("AE")).otherwise("consignee_country"),
    )
    write_parquet(staged, path)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "sam", PASSWORD, "supervisor", [], config=config)
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    return settings


@pytest.fixture
def client(home: Settings) -> Iterator[TestClient]:
    config = InspectorConfig.from_settings(home, cookie_secure=False, cheap_password_hashing=True)
    with TestClient(create_app(home, config), follow_redirects=False) as app_client:
        yield app_client


def _login(client: TestClient, username: str) -> str:
    token = CSRF.search(client.get("/login").text)
    assert token
    data = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 303
    found = CSRF.search(client.get("/lists").text)
    assert found
    return found.group(1)


def _item_page(client: TestClient) -> str:
    url = f"/lists/{DAY}/NLRTM/item?declaration_id={declaration_id('NLRTM', DAY, 5)}&item_no=1"
    page = client.get(url)
    assert page.status_code == 200
    return page.text


def _post(client: TestClient, path: str, token: str, **fields: str) -> int:
    data = {
        "csrf_token": token,
        "declaration_id": declaration_id("NLRTM", DAY, 5),
        "item_no": "1",
        **fields,
    }
    return client.post(f"/lists/{DAY}/NLRTM/{path}", data=data).status_code


def _audit(client: TestClient) -> list[tuple[str, str]]:
    with client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert verify(session).intact
    return [(e.action, e.target) for e in events]


def test_officer_clears_a_match_in_the_app_and_the_night_no_longer_holds_it(
    client: TestClient, home: Settings
) -> None:
    token = _login(client, "ina")
    page = _item_page(client)
    assert "Clear a match as false" in page and "NAT-0001" in page
    held = screen_day(home, DAY).filter(pl.col("party_name") == CONSIGNEE)
    assert held.get_column("hold").all() and not held.get_column("cleared").any()
    # A reason is required.
    assert _post(client, "clear", token, match="consignee|national-xx|NAT-0001", reason="") == 400
    assert _post(client, "clear", token, match="consignee|national-xx|NAT-0001",
                 reason="Different firm, registered in Sharjah since 1998") == 303  # fmt: skip
    assert ("clear_watchlist_match", "clearance 1 national-xx NAT-0001") in _audit(client)
    night = screen_day(home, DAY).filter(pl.col("party_name") == CONSIGNEE)
    assert night.get_column("cleared").all() and not night.get_column("hold").any()
    assert "Clearance 1" in _item_page(client)
    # The inspector who cleared it may withdraw it; the match holds again.
    assert _post(client, "withdraw-clearance", token, clearance_id="1",
                 reason="Registry shows the listed firm's address") == 303  # fmt: skip
    assert ("withdraw_clearance", "clearance 1 national-xx NAT-0001") in _audit(client)
    again = screen_day(home, DAY).filter(pl.col("party_name") == CONSIGNEE)
    assert again.get_column("hold").all() and not again.get_column("cleared").any()
    with client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        row = session.get(Clearance, 1)
        assert row is not None and row.withdrawn_by == "ina" and row.cleared_by == "ina"


def test_the_cli_clears_lists_and_withdraws_with_an_audited_account(home: Settings) -> None:
    from pipelines.cli import app

    runner = CliRunner()
    env = {"CARGO_RISK_HOME": str(home.home), "COLUMNS": "250"}
    base = ["watchlists", "clear", CONSIGNEE, "--country", "AE", "--party-id", "CNE-ECHO",
            "--list", "national-xx", "--entry", "NAT-0001", "--by", "sam"]  # fmt: skip
    refused = runner.invoke(app, [*base, "--reason", "no"], env=env)
    assert refused.exit_code == 1 and "reason" in refused.output
    stranger = runner.invoke(app, [*base[:-1], "nobody", "--reason", "another firm here"], env=env)
    assert stranger.exit_code == 1 and "no active account" in stranger.output
    done = runner.invoke(app, [*base, "--reason", "Another firm, checked registry"], env=env)
    assert done.exit_code == 0, done.output
    assert "cleared: clearance 1" in done.output
    listing = runner.invoke(app, ["watchlists", "cleared"], env=env)
    assert "NAT-0001" in listing.output and "sam" in listing.output
    declaration = _declaration(CONSIGNEE, "AE", "CNE-ECHO")
    assert screen_declarations(declaration, home).get_column("cleared").all()
    withdrawn = runner.invoke(
        app, ["watchlists", "withdraw", "1", "--by", "sam", "--reason", "cleared in error"], env=env
    )
    assert withdrawn.exit_code == 0, withdrawn.output
    assert not screen_declarations(declaration, home).get_column("cleared").any()
    assert "No clearances." in runner.invoke(app, ["watchlists", "cleared"], env=env).output
    config = InspectorConfig.from_settings(home)
    from inspector.db import make_engine, session_factory

    engine = make_engine(config.database_url)
    with session_factory(engine)() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.username, e.action) for e in events][-2:] == [
            ("sam", "clear_watchlist_match"),
            ("sam", "withdraw_clearance"),
        ]
        assert verify(session).intact
    engine.dispose()


def test_an_entry_fingerprint_ignores_the_version_but_not_a_new_alias() -> None:
    from features.screening import entry_fingerprints

    entries = load_national(NATIONAL_SAMPLE, "national-xx", "2026-11-01").entries
    before = entry_fingerprints(entries)
    republished = entry_fingerprints(entries.with_columns(list_version=pl.lit("2027-01-01")))
    assert republished == before
    alias = entries.filter(pl.col("entry_id") == "NAT-0001").head(1)
    grown = entry_fingerprints(pl.concat([entries, alias.with_columns(name=pl.lit("Kestrel FZE"))]))
    assert grown[("national-xx", "NAT-0001")] != before[("national-xx", "NAT-0001")]
    assert grown[("national-xx", "NAT-0002")] == before[("national-xx", "NAT-0002")]
