"""Inspector app handlers on a real SQLite database and a sample home: login, roles, CSRF,
lists, item detail, outcomes, waivers, exports, audit trail and logs without personal data."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from contracts.ranked_list import RANKED_LIST
from inspector.accounts import create_user
from inspector.app import create_app
from inspector.config import InspectorConfig
from inspector.db import AuditEvent, Outcome, Waiver
from inspector.sample import build_sample_home, declaration_id
from pipelines.settings import Settings, load_settings

DAY = date(2026, 3, 10)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def database_url(inspector_database_url: str | None) -> str | None:
    """Every test that signs in runs on SQLite and on PostgreSQL (conftest)."""
    return inspector_database_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    build_sample_home(tmp_path / "home", DAY)
    settings = load_settings(environ={}, home=tmp_path / "home")
    config = InspectorConfig.from_settings(
        settings, database_url=database_url, cheap_password_hashing=True
    )
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    create_user(settings, "sam", PASSWORD, "supervisor", [], config=config)
    return settings


@pytest.fixture
def app_client(settings: Settings, database_url: str | None) -> Iterator[TestClient]:
    config = InspectorConfig.from_settings(
        settings, database_url=database_url, cookie_secure=False, cheap_password_hashing=True
    )
    with TestClient(create_app(settings, config), follow_redirects=False) as client:
        yield client


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in; returns the session's CSRF token."""
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token, "login form carries a CSRF token"
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    return current_csrf(client)


def current_csrf(client: TestClient) -> str:
    found = CSRF.search(client.get("/lists").text)
    assert found
    return found.group(1)


def item_url(port: str, n: int) -> str:
    return f"/lists/{DAY}/{port}/item?declaration_id={declaration_id(port, DAY, n)}&item_no=1"


def post_outcome(client: TestClient, token: str, n: int, **fields: str) -> object:
    data = {
        "csrf_token": token,
        "idempotency_key": fields.pop("key", f"key-{n}-outcome"),
        "declaration_id": declaration_id("NLRTM", DAY, n),
        "item_no": "1",
        "result": "no_finding",
        **fields,
    }
    return client.post(f"/lists/{DAY}/NLRTM/outcome", data=data)


def count(client: TestClient, model: type[Outcome] | type[Waiver]) -> int:
    with client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def actions(client: TestClient) -> list[str]:
    with client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_pages_need_a_login(app_client: TestClient) -> None:
    answer = app_client.get(f"/lists/{DAY}/NLRTM")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_wrong_password_is_refused_and_audited(app_client: TestClient) -> None:
    page = app_client.get("/login")
    token = CSRF.search(page.text)
    assert token
    answer = app_client.post(
        "/login", data={"username": "ina", "password": "wrong password!", "csrf_token": token[1]}
    )
    assert answer.status_code == 401
    assert "Wrong user name or password" in answer.text
    assert app_client.get("/lists").status_code == 303
    assert actions(app_client)[-1] == "login_failed"


def test_login_without_csrf_token_is_refused(app_client: TestClient) -> None:
    app_client.get("/login")
    answer = app_client.post("/login", data={"username": "ina", "password": PASSWORD})
    assert answer.status_code == 400
    assert app_client.get("/lists").status_code == 303


def test_inspector_sees_only_own_ports(app_client: TestClient) -> None:
    login(app_client, "ina")
    overview = app_client.get("/lists")
    assert overview.status_code == 200
    assert f"/lists/{DAY}/NLRTM" in overview.text
    assert "SGSIN" not in overview.text
    refused = app_client.get(f"/lists/{DAY}/SGSIN")
    assert refused.status_code == 403
    assert "not assigned to port SGSIN" in refused.text
    assert app_client.get(item_url("SGSIN", 1)).status_code == 403
    assert app_client.get(f"/lists/{DAY}/SGSIN/export.csv").status_code == 403
    assert actions(app_client).count("access_denied") == 3


def test_supervisor_sees_every_port(app_client: TestClient) -> None:
    login(app_client, "sam")
    overview = app_client.get("/lists").text
    assert "NLRTM" in overview and "SGSIN" in overview
    assert app_client.get(f"/lists/{DAY}/SGSIN").status_code == 200


def test_lists_page_shows_the_current_list_and_the_versions_it_replaced(
    app_client: TestClient, settings: Settings
) -> None:
    from pipelines.publish import publish_lists, read_lists

    lists_zone = settings.zone("lists")
    rerun = read_lists(lists_zone, DAY).with_columns(pl.lit("rerun-of-the-day").alias("run_id"))
    publish_lists(rerun, lists_zone, DAY)
    login(app_client, "sam")
    overview = app_client.get(f"/lists?day={DAY}").text
    assert "Published versions of 2026-03-10" in overview
    assert "2 (current)" in overview and "rerun-of-the-day" in overview
    assert overview.index("2 (current)") < overview.index("<td>1</td>")


def test_port_list_shows_ranks_reasons_hits_and_filters(app_client: TestClient) -> None:
    login(app_client, "ina")
    selected = app_client.get(f"/lists/{DAY}/NLRTM")
    assert selected.status_code == 200
    assert "5 items" in selected.text  # red and yellow by default
    assert "SALW-001@1" in selected.text and "un:QDe.115" in selected.text
    assert "new consignee, first seen 1 days ago" in selected.text
    assert "3 items" in app_client.get(f"/lists/{DAY}/NLRTM?lane=red").text
    assert "12 items" in app_client.get(f"/lists/{DAY}/NLRTM?lane=all").text
    assert "1 item " in app_client.get(f"/lists/{DAY}/NLRTM?reason=random").text
    assert "2 items" in app_client.get(f"/lists/{DAY}/NLRTM?hits=true").text
    assert app_client.get(f"/lists/{DAY}/NLRTM?lane=purple").status_code == 400
    assert app_client.get(f"/lists/{DAY}/nlrtm").status_code == 400


def test_csv_and_xlsx_exports_follow_the_contract(app_client: TestClient) -> None:
    login(app_client, "ina")
    csv = app_client.get(f"/lists/{DAY}/NLRTM/export.csv?lane=red")
    assert csv.status_code == 200
    lines = csv.text.strip().splitlines()
    assert lines[0].split(",") == RANKED_LIST.names
    assert len(lines) == 4
    xlsx = app_client.get(f"/lists/{DAY}/NLRTM/export.xlsx?lane=all")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == RANKED_LIST.names
    assert len(rows) == 13
    assert rows[2][RANKED_LIST.names.index("rule_hits")] == "SALW-001@1"
    assert {"export_csv", "export_xlsx"} <= set(actions(app_client))


def test_item_page_shows_fields_history_and_similar_findings(app_client: TestClient) -> None:
    login(app_client, "ina")
    page = app_client.get(item_url("NLRTM", 1))
    assert page.status_code == 200
    assert "Phosphorus trichloride in drums" in page.text  # a declaration field
    assert "Parties&#39; history" in page.text or "Parties' history" in page.text
    assert "same HS heading 2812" in page.text  # a past SALW finding on the same goods
    assert "first seen 1 days ago" in page.text
    assert app_client.get(item_url("NLRTM", 99)).status_code == 400


def test_outcome_is_recorded_once_per_key_with_the_list_reason(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    first = post_outcome(app_client, token, 2, key="same-key-123")
    assert first.status_code == 303  # type: ignore[attr-defined]
    again = post_outcome(app_client, token, 2, key="same-key-123")
    assert again.status_code == 303  # type: ignore[attr-defined]
    assert count(app_client, Outcome) == 1
    with app_client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        outcome = session.scalars(select(Outcome)).one()
    assert (outcome.selection_reason, outcome.inspector_id) == ("rule", "ina")
    page = app_client.get(item_url("NLRTM", 2))
    assert "Outcome: no_finding by ina" in page.text
    assert actions(app_client).count("record_outcome") == 1


def test_outcome_of_an_unselected_item_is_manual(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    answer = post_outcome(
        app_client, token, 9, result="finding", finding_category="other", notes="found by dog"
    )
    assert answer.status_code == 303  # type: ignore[attr-defined]
    with app_client.app.state.inspector.sessions() as session:  # type: ignore[attr-defined]
        outcome = session.scalars(select(Outcome)).one()
    assert (outcome.selection_reason, outcome.finding_category) == ("manual", "other")


def test_bad_outcomes_are_refused(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    no_category = post_outcome(app_client, token, 1, result="finding")
    assert no_category.status_code == 400  # type: ignore[attr-defined]
    assert "finding_category" in no_category.text  # type: ignore[attr-defined]
    assert post_outcome(app_client, token, 1, result="maybe").status_code == 400  # type: ignore[attr-defined]
    forged = post_outcome(app_client, "not-the-token", 1)
    assert forged.status_code == 400  # type: ignore[attr-defined]
    assert count(app_client, Outcome) == 0
    assert "record_refused" in actions(app_client)


def test_waiver_needs_a_reason_and_a_selected_item(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    data = {
        "csrf_token": token,
        "idempotency_key": "waiver-key-1",
        "declaration_id": declaration_id("NLRTM", DAY, 3),
        "item_no": "1",
    }
    refused = app_client.post(f"/lists/{DAY}/NLRTM/waiver", data={**data, "reason": "  "})
    assert refused.status_code == 400
    assert "a waiver needs a stated reason" in refused.text
    green = {**data, "declaration_id": declaration_id("NLRTM", DAY, 8), "reason": "known trader"}
    assert app_client.post(f"/lists/{DAY}/NLRTM/waiver", data=green).status_code == 400
    assert count(app_client, Waiver) == 0
    accepted = app_client.post(
        f"/lists/{DAY}/NLRTM/waiver", data={**data, "reason": "Seal intact, AEO trader"}
    )
    assert accepted.status_code == 303
    assert count(app_client, Waiver) == 1
    assert "Waived by ina" in app_client.get(item_url("NLRTM", 3)).text


def test_supervisor_view_and_audit_log(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    post_outcome(app_client, token, 1, result="finding", finding_category="salw")
    assert app_client.get("/supervisor").status_code == 403
    app_client.post("/logout", data={"csrf_token": token})
    login(app_client, "sam")
    view = app_client.get("/supervisor")
    assert view.status_code == 200
    assert declaration_id("NLRTM", DAY, 1) in view.text
    audit = app_client.get("/audit?username=ina")
    assert audit.status_code == 200
    for action in ("login", "view_lists", "record_outcome", "access_denied", "logout"):
        assert f"<td>{action}</td>" in audit.text
    assert "<td>sam</td>" not in audit.text


def test_logout_ends_the_session_even_for_a_copied_cookie(app_client: TestClient) -> None:
    token = login(app_client, "ina")
    copied = dict(app_client.cookies)
    assert app_client.post("/logout", data={"csrf_token": token}).status_code == 303
    app_client.cookies.clear()
    app_client.cookies.update(copied)
    assert app_client.get("/lists").status_code == 303


def test_audit_log_is_append_only(app_client: TestClient) -> None:
    login(app_client, "ina")
    engine = app_client.app.state.inspector.engine  # type: ignore[attr-defined]
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert "login" in actions(app_client)


def test_session_cookie_is_httponly_lax_and_secure_when_asked(settings: Settings) -> None:
    config = InspectorConfig.from_settings(settings, cookie_secure=True)
    with TestClient(create_app(settings, config), base_url="https://testserver") as client:
        cookie = client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    insecure = InspectorConfig.from_settings(settings, cookie_secure=False)
    with TestClient(create_app(settings, insecure)) as client:
        assert "secure" not in client.get("/login").headers["set-cookie"].lower()


def test_logs_carry_no_personal_data(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = login(app_client, "ina")
    app_client.get(item_url("NLRTM", 1))
    post_outcome(app_client, token, 1, notes="Consignee Sample Consignee 1 BV was present")
    logged = caplog.text
    assert "/lists/{day}/{port}/outcome" in logged  # the app does log requests
    for personal in ("ina", PASSWORD, "Sample Consignee", "Sample Shipper", "testclient"):
        assert personal not in logged


def test_security_headers(app_client: TestClient) -> None:
    headers = app_client.get("/login").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_xlsx_keeps_formula_like_text_as_text(app_client: TestClient) -> None:
    import polars as pl

    from inspector.routes.lists import _xlsx

    login(app_client, "ina")
    csv = app_client.get(f"/lists/{DAY}/NLRTM/export.csv?lane=red").text
    frame = pl.read_csv(io.StringIO(csv), infer_schema=False).with_columns(
        pl.lit('=HYPERLINK("http://x","y")').alias("reasons")
    )
    sheet = load_workbook(io.BytesIO(_xlsx(frame))).active
    cell = sheet.cell(row=2, column=RANKED_LIST.names.index("reasons") + 1)
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x","y")', "s")


def test_a_post_after_the_session_ended_goes_to_login_not_back_to_the_form(
    app_client: TestClient,
) -> None:
    token = login(app_client, "ina")
    app_client.post("/logout", data={"csrf_token": token})
    answer = post_outcome(app_client, token, 1)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/login?next=%2Flists"  # type: ignore[attr-defined]


def test_repeated_failed_logins_are_throttled(app_client: TestClient) -> None:
    token = CSRF.search(app_client.get("/login").text)
    assert token
    for _ in range(5):
        wrong = {"username": "ina", "password": "not the password", "csrf_token": token[1]}
        assert app_client.post("/login", data=wrong).status_code == 401
    right = {"username": "ina", "password": PASSWORD, "csrf_token": token[1]}
    refused = app_client.post("/login", data=right)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
    assert actions(app_client)[-1] == "login_throttled"
    assert login(app_client, "sam")  # other names are not affected
