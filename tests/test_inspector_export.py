"""Outcomes recorded in the app reach the pipeline's landing zone once, in the outcomes contract;
the account verbs and the migrations."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import typer
from alembic import command
from sqlalchemy import func, select
from typer.testing import CliRunner

from contracts.outcomes import OUTCOMES
from contracts.reading import cast_to_contract, read_raw
from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.db import ExportRun, Outcome, User, make_engine, session_factory
from inspector.export import export_app_records, export_outcomes, export_records
from inspector.lists import list_row, load_list
from inspector.migrate import alembic_config, upgrade
from inspector.records import ListItem, save_outcome, save_waiver
from inspector.sample import build_sample_home, declaration_id
from pipelines.cli import serve, users
from pipelines.settings import Settings, load_settings

DAY = date(2026, 3, 10)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    build_sample_home(tmp_path / "home", DAY)
    return load_settings(environ={}, home=tmp_path / "home")


@pytest.fixture
def config(settings: Settings, inspector_database_url: str | None) -> InspectorConfig:
    # On SQLite and on PostgreSQL (conftest): the export's row claims lock differently on each.
    config = InspectorConfig.from_settings(
        settings, database_url=inspector_database_url, cheap_password_hashing=True
    )
    create_user(settings, "ina", "correct horse battery", "inspector", ["NLRTM"], config=config)
    return config


def _item(settings: Settings, n: int) -> ListItem:
    ranked = load_list(settings.zone("lists"), DAY)
    assert ranked is not None
    row = list_row(ranked, "NLRTM", declaration_id("NLRTM", DAY, n), 1)
    assert row is not None
    return ListItem.from_row(row)


def _record(settings: Settings, config: InspectorConfig, n: int, key: str) -> None:
    engine = make_engine(config.database_url)
    factory = session_factory(engine)
    with factory() as session:
        user = session.scalars(select(User)).one()
    save_outcome(
        factory, user, _item(settings, n), result="no_finding", category=None, notes=None, key=key
    )
    engine.dispose()


def test_outcomes_reach_landing_once_in_the_contract(
    settings: Settings, config: InspectorConfig
) -> None:
    engine = make_engine(config.database_url)
    factory = session_factory(engine)
    with factory() as session:
        user = session.scalars(select(User)).one()
    save_outcome(
        factory,
        user,
        _item(settings, 1),
        result="finding",
        category="salw",
        notes='rifle parts, "hidden", in pallets',
        key="outcome-0001",
    )
    save_outcome(
        factory,
        user,
        _item(settings, 9),
        result="no_finding",
        category=None,
        notes=None,
        key="outcome-0002",
    )
    save_waiver(
        factory, user, _item(settings, 3), reason="AEO trader, seal intact", key="waiver-0001"
    )

    written = export_outcomes(settings, config)
    assert written == settings.zone("landing") / "outcomes" / "app_outcomes_1.csv"
    typed, failures = cast_to_contract(read_raw(written), OUTCOMES)
    assert failures.height == 0
    assert typed.select(OUTCOMES.names).sort("declaration_id").rows() == [
        (
            declaration_id("NLRTM", DAY, 1),
            1,
            typed["inspected_at"][0],
            "risk",
            "finding",
            "salw",
            "ina",
            'rifle parts, "hidden", in pallets',
        ),
        (
            declaration_id("NLRTM", DAY, 9),
            1,
            typed["inspected_at"][1],
            "manual",
            "no_finding",
            None,
            "ina",
            None,
        ),
    ]
    waivers = pl.read_csv(settings.zone("landing") / "waivers" / "app_waivers_1.csv")
    assert waivers["reason"].to_list() == ["AEO trader, seal intact"]
    assert waivers["selection_reason"].to_list() == ["random"]

    assert export_outcomes(settings, config) is None  # nothing new: nothing exported twice
    save_outcome(
        factory,
        user,
        _item(settings, 2),
        result="no_finding",
        category=None,
        notes=None,
        key="outcome-0003",
    )
    second = export_app_records(settings, config)
    assert second is not None
    assert (second.n, second.outcome_rows, second.waivers) == (2, 1, None)
    with factory() as session:
        assert session.scalar(select(func.count()).where(Outcome.export_n.is_(None))) == 0
        assert session.scalars(select(ExportRun.n).order_by(ExportRun.n)).all() == [1, 2]
    engine.dispose()


def test_concurrent_exports_write_each_outcome_once(
    settings: Settings, config: InspectorConfig
) -> None:
    for k in range(40):
        _record(settings, config, 1 + k % 12, f"concurrent-{k:04d}")
    engine = make_engine(config.database_url)
    factory = session_factory(engine)
    landing = settings.zone("landing") / "outcomes"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            export_records(factory, landing, settings.zone("landing") / "waivers")
        except BaseException as error:  # collected: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    exported = pl.concat([pl.read_csv(p) for p in sorted(landing.glob("app_outcomes_*.csv"))])
    assert exported.height == 40
    engine.dispose()


def test_migrations_match_the_models(settings: Settings) -> None:
    url = f"sqlite:///{settings.home / 'check.db'}"
    engine = make_engine(url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    command.check(alembic_config(url))  # raises when models and migrations differ
    engine.dispose()


def _cli() -> typer.Typer:
    app = typer.Typer()
    users.register(app)
    serve.register(app)
    return app


def test_users_add_and_export_verbs(settings: Settings) -> None:
    runner = CliRunner()
    env = {"CARGO_RISK_HOME": str(settings.home)}
    added = runner.invoke(
        _cli(),
        [
            "users",
            "add",
            "j.smith",
            "--role",
            "inspector",
            "--ports",
            "nlrtm,SGSIN",
            "--password-stdin",
        ],
        input="a long enough secret\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    assert "added inspector j.smith for NLRTM,SGSIN" in added.output
    again = runner.invoke(
        _cli(),
        ["users", "add", "j.smith", "--ports", "NLRTM", "--password-stdin"],
        input="a long enough secret\n",
        env=env,
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    no_port = runner.invoke(
        _cli(),
        ["users", "add", "k.lee", "--password-stdin"],
        input="a long enough secret\n",
        env=env,
    )
    assert no_port.exit_code == 1
    assert "needs at least one port" in no_port.output
    listed = runner.invoke(_cli(), ["users", "list"], env=env)
    assert "j.smith" in listed.output and "k.lee" not in listed.output
    exported = runner.invoke(_cli(), ["outcomes", "export-app"], env=env)
    assert exported.exit_code == 0
    assert "nothing new to export" in exported.output


def test_demo_login_can_sign_in(settings: Settings) -> None:
    from inspector.accounts import demo_login
    from inspector.auth import authenticate
    from inspector.db import make_engine, session_factory

    name, password = demo_login(settings, ["NLRTM"])
    again_name, new_password = demo_login(settings, ["NLRTM", "SGSIN"])
    assert name == again_name and password != new_password
    engine = make_engine(InspectorConfig.from_settings(settings).database_url)
    with session_factory(engine)() as session:
        assert authenticate(session, name, password) is None  # the old password is replaced
        user = authenticate(session, name, new_password)
        assert user is not None and user.port_list == ["NLRTM", "SGSIN"]
    engine.dispose()


def test_exported_outcomes_pass_the_pipelines_import_into_staging(
    settings: Settings, config: InspectorConfig
) -> None:
    from pipelines.outcomes import import_landing_outcomes

    engine = make_engine(config.database_url)
    factory = session_factory(engine)
    with factory() as session:
        user = session.scalars(select(User)).one()
    save_outcome(
        factory,
        user,
        _item(settings, 1),
        result="finding",
        category="cbrn",
        notes=None,
        key="import-0001",
    )
    save_outcome(
        factory,
        user,
        _item(settings, 4),
        result="no_finding",
        category=None,
        notes=None,
        key="import-0002",
    )
    save_waiver(factory, user, _item(settings, 3), reason="seal intact", key="import-0003")
    engine.dispose()
    assert export_outcomes(settings, config) is not None

    report = import_landing_outcomes(settings)
    assert report.imported == {"app_outcomes_1.csv": 2}
    assert not report.rejected_files and not report.rejected_rows  # waivers are not in the way
    staged = pl.concat(
        pl.read_parquet(p)
        for p in (settings.zone("staging") / "outcomes").glob("date=*/outcomes.parquet")
    ).filter(pl.col("inspector_id") == "ina")
    assert sorted(staged.select("declaration_id", "result", "selection_reason").rows()) == [
        (declaration_id("NLRTM", DAY, 1), "finding", "risk"),
        (declaration_id("NLRTM", DAY, 4), "no_finding", "risk"),
    ]


def test_formulas_in_notes_and_waiver_reasons_are_neutralised(
    settings: Settings, config: InspectorConfig
) -> None:
    factory = session_factory(make_engine(config.database_url))
    with factory() as session:
        user = session.scalars(select(User)).one()
    formula = '=HYPERLINK("x")'
    save_outcome(
        factory,
        user,
        _item(settings, 1),
        result="no_finding",
        category=None,
        notes=formula,
        key="formula-0001",
    )
    save_waiver(factory, user, _item(settings, 3), reason=formula, key="formula-0002")
    written = export_outcomes(settings, config)
    assert written is not None
    outcomes = pl.read_csv(written, infer_schema=False)
    waivers = pl.read_csv(
        settings.zone("landing") / "waivers" / "app_waivers_1.csv", infer_schema=False
    )
    assert outcomes["notes"].to_list() == ["'" + formula]
    assert waivers["reason"].to_list() == ["'" + formula]
