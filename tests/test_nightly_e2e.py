"""The nightly run end to end on a small simulated world: through Airflow, and without it.

One module-scoped world (20 days of history, then the night of day 21) serves every test; each test
copies it before changing anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from contracts.ranked_list import RANKED_LIST
from pipelines import nightly
from pipelines.settings import Settings, load_settings
from pipelines.stages import (
    NIGHTLY,
    PortsSummary,
    PortSummary,
    PublishSummary,
    ValidateSummary,
    pick,
)
from pipelines.train import train_models
from pipelines.watchlists import screen
from tests.airflow_support import airflow_env, run_airflow
from tests.factories.simulated_home import small_settings, trained_home

START = date(2026, 1, 1)
DAYS = 21
NIGHT = START + timedelta(days=DAYS - 1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with 20 days of history ingested, featurized and a champion model."""
    home = tmp_path_factory.mktemp("world") / "home"
    trained_home(home, START, DAYS, 400, seed=7)
    return home


def _copy(world: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(world, home)
    return small_settings(home)


def _lists(settings: Settings, *leave_out: str) -> dict[str, bytes]:
    folder = settings.zone("lists") / f"date={NIGHT}"
    # The current list; `versions/` grows by one on every publication (decision 0027).
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*.*"))
        if p.relative_to(folder).parts[0] not in ("versions", *leave_out)
    }


def test_the_nightly_dag_runs_in_airflow(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    env = airflow_env(tmp_path / "airflow", settings.home)
    env.update(CARGO_RISK_CAPACITY_RED_DEFAULT="5", CARGO_RISK_CAPACITY_YELLOW_DEFAULT="10")
    # OpenLineage through Airflow's provider, to a file (a catalogue would take HTTP or Kafka).
    events_file = tmp_path / "openlineage.jsonl"
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}
    )
    migrated = run_airflow(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    done = run_airflow(
        ["dags", "test", "cargo_risk_nightly", "-c", f'{{"date": "{NIGHT}"}}'], env, timeout=900
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "state=success" in log
    ranked = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    assert ranked.columns == RANKED_LIST.names
    assert ranked["list_date"].unique().to_list() == [NIGHT]
    per_port = ranked.group_by("port_of_discharge").agg(
        pl.col("rank").sort().alias("ranks"), (pl.col("lane") == "red").sum().alias("red")
    )
    for ranks in per_port["ranks"]:
        assert ranks.to_list() == list(range(1, len(ranks) + 1))
    assert ranked.filter(pl.col("lane") != "green")["reasons"].str.len_chars().min() > 0  # type: ignore[operator]
    report = settings.zone("reports") / "runs" / f"date={NIGHT}" / "report.md"
    assert "## Selection" in report.read_text()
    assert "[disparity report](disparity.html)" in report.read_text()
    disparity = json.loads((report.parent / "disparity.json").read_text())
    assert {r["group"] for r in disparity["dimensions"]["origin_country"]} - {"unknown"}
    _assert_openlineage_follows_the_zones(events_file)
    # `cargo-risk run` runs the same stage table: the same night gives the same bytes.
    beside = _copy(world, tmp_path / "run")
    summary = nightly.run_night(beside, NIGHT)
    assert list(summary) == [stage.name for stage in NIGHTLY]
    assert _lists(beside, "lineage.json") == _lists(settings, "lineage.json")
    # The lineage names the same files; raw and staged batches record when they were ingested,
    # so only their checksums differ between the two homes.
    by_airflow, by_run = (_lineage(home) for home in (settings, beside))
    inputs = [one.pop("inputs") for one in (by_airflow, by_run)]
    assert inputs[0].keys() == inputs[1].keys() and by_airflow == by_run
    derived = [
        {k: v for k, v in i.items() if not k.startswith(("raw/", "staging/"))} for i in inputs
    ]
    assert derived[0] == derived[1] and derived[0]


def _lineage(settings: Settings) -> dict[str, Any]:
    folder = settings.zone("lists") / f"date={NIGHT}"
    found: dict[str, Any] = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
    return found


def _assert_openlineage_follows_the_zones(events_file: Path) -> None:
    """Every stage's completed run names the zones it read and wrote."""
    read: dict[str, set[str]] = {}
    written: dict[str, set[str]] = {}
    for line in events_file.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("eventType") != "COMPLETE":
            continue
        task = event["job"]["name"].removeprefix("cargo_risk_nightly.")
        read[task] = {f"{d['namespace']}:{d['name']}" for d in event.get("inputs", [])}
        written[task] = {f"{d['namespace']}:{d['name']}" for d in event.get("outputs", [])}
    assert written["ingest"] == {"cargo-risk:raw/declarations"}
    assert "cargo-risk:raw/declarations" in read["validate"]
    assert "cargo-risk:staging/declarations" in written["validate"]
    assert "cargo-risk:features" in written["assess_port"] & read["publish"]
    assert "cargo-risk:models" in read["assess_port"]
    assert "cargo-risk:lists" in written["publish"]


def test_rerun_of_a_night_gives_byte_identical_lists(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    first = _lists(settings)
    nightly.run_night(settings, NIGHT)
    assert _lists(settings) == first
    assert any(name.endswith(".html") for name in first)


def test_a_run_killed_mid_way_and_rerun_gives_the_same_lists(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = _copy(world, tmp_path / "clean")
    nightly.run_night(clean, NIGHT)
    crashed = _copy(world, tmp_path / "crashed")

    def die(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("killed while publishing")

    # Publishing writes the lists a port at a time: killed while rendering a port's page.
    monkeypatch.setattr("pipelines.publish.render_port_html", die)
    with pytest.raises(KeyboardInterrupt):
        nightly.run_night(crashed, NIGHT)
    assert not (crashed.zone("lists") / f"date={NIGHT}").exists()
    monkeypatch.undo()
    nightly.run_night(crashed, NIGHT)
    # lineage.json differs between the two homes, rightly: raw batches record when they were
    # ingested, so their checksums differ; the lists themselves must not.
    assert _lists(crashed, "lineage.json") == _lists(clean, "lineage.json")


def test_bad_rows_of_the_night_are_quarantined_with_reasons(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    landing = settings.zone("landing") / "declarations"
    night_file = next(landing.glob(f"declarations_{NIGHT}.csv"))
    rows = pl.read_csv(night_file, infer_schema=False).head(3)
    broken = rows.with_columns(
        pl.Series("declaration_id", ["LATE-1", "LATE-2", "LATE-3"]),
        pl.Series(
            "port_of_loading", ["XXQQQ", rows["port_of_loading"][1], rows["port_of_loading"][2]]
        ),
        pl.Series("gross_mass_kg", [rows["gross_mass_kg"][0], "-5", rows["gross_mass_kg"][2]]),
    )
    broken.write_csv(landing / "late_corrections.csv")
    summary = pick(nightly.run_night(settings, NIGHT), "validate", ValidateSummary)
    quarantine = pl.read_parquet(settings.zone("quarantine") / "declarations" / f"date={NIGHT}")
    late = quarantine.filter(pl.col("_source_file").str.ends_with("late_corrections.csv"))
    assert sorted(zip(late["_line"], late["field"], strict=True)) == [
        (2, "port_of_loading"),
        (3, "gross_mass_kg"),
    ]
    assert late["reason"].to_list() == ["unknown UN/LOCODE", "must be >= 0.001"]
    staged = pl.read_parquet(settings.zone("staging") / "declarations" / f"date={NIGHT}")
    assert "LATE-3" in staged["declaration_id"].to_list()
    assert summary.rows_rejected == quarantine.select("_source_file", "_line").n_unique()


def test_evaluation_counts_the_planted_threats_of_the_night(world: Path, tmp_path: Path) -> None:
    from simulator.evaluate import evaluate_range, summarise

    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    evaluation = evaluate_range(settings, NIGHT, NIGHT)
    truth = pl.read_parquet(settings.zone("truth") / "ground_truth.parquet").filter(
        pl.col("filed_date") == NIGHT
    )
    listed = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    planted = truth.join(listed, on=["declaration_id", "item_no"]).group_by("threat_category").len()
    pooled = summarise(evaluation.table, [])
    for category, count in planted.iter_rows():
        rows = pooled.filter((pl.col("kind") == category) & (pl.col("method") == "rank"))
        assert rows["positives"].to_list() == [count, count, count]
    assert set(pooled["method"]) == {"rank", "risk", "rules", "legacy"}
    assert pooled["recall"].drop_nulls().is_between(0, 1).all()
    assert pooled["precision"].drop_nulls().is_between(0, 1).all()
    text = evaluation.report.read_text()
    assert "| cbrn | rank |" in text and "## Per port" in text
    from typer.testing import CliRunner

    from pipelines.cli import app

    shown = CliRunner().invoke(
        app, ["--home", str(settings.home), "evaluate", "--from", str(NIGHT), "--to", str(NIGHT)]
    )
    assert shown.exit_code == 0, shown.output
    assert "| all | risk |" in shown.output
    # Per consignment too, each beside the most any order could find.
    assert "## Per threat kind, per consignment" in shown.output
    assert shown.output.count("| all | ceiling |") == 2


def test_backfill_of_a_range_from_the_cli(world: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    settings = _copy(world, tmp_path)
    first = NIGHT - timedelta(days=1)
    done = CliRunner().invoke(
        app, ["--home", str(settings.home), "run", "--from", str(first), "--to", str(NIGHT)]
    )
    assert done.exit_code == 0, done.output
    for day in (first, NIGHT):
        ranked = pl.read_parquet(settings.zone("lists") / f"date={day}" / "ranked_list.parquet")
        assert ranked["list_date"].unique().to_list() == [day]


class Killed(BaseException):
    """Stands for kill -9: raised at a rename, after which no cleanup code may run."""


def _outputs(settings: Settings, day: date) -> list[Path]:
    """Every output partition of a night (what a reader of that date must always find)."""
    return [
        settings.zone("staging") / "declarations" / f"date={day}" / "declarations.parquet",
        settings.zone("quarantine") / "declarations" / f"date={day}",
        settings.zone("features") / f"date={day}" / "features.parquet",
        settings.zone("scores") / f"date={day}" / "scores.parquet",
        settings.zone("lists") / f"date={day}" / "ranked_list.csv",
        settings.zone("reports") / "runs" / f"date={day}" / "report.md",
    ]


_DATED = re.compile(r"\.?date=\d{4}-\d{2}-\d{2}(\.[^/]*\.tmp)?")
_PORT = re.compile(r"port=[A-Z]{5}")
_VERSION = re.compile(r"v=\d+")


def _kind(call: str, destination: str | Path, home: Path) -> str:
    """Where a rename writes, with the date, the port, versions and temporary names left out:
    a port's scores and the next port's are one kind (the same code path writes both)."""
    place = Path(destination)
    folder = place if call == "exchange" else place.parent
    text = str(folder.relative_to(home))
    for pattern, stand_in in ((_DATED, "date=D"), (_PORT, "port=P"), (_VERSION, "v=N")):
        text = pattern.sub(stand_in, text)
    return f"{call} {text}"


Target = tuple[str, int]
"""A kill point: before the n-th rename (1-based) of a kind in a run."""


def _night_patched(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    kill_before: Callable[[list[str], str], bool],
    seen: list[str],
) -> bool:
    """Run the night, recording each rename's kind in `seen`; killed just before the first
    rename for which `kill_before(seen, kind)` holds. True if it was killed.

    After the kill nothing is cleaned up, as after kill -9: temporary files stay.
    """
    import pipelines.io as io_module

    real_replace, real_exchange = os.replace, io_module.exchange
    real_rmtree, real_unlink = shutil.rmtree, Path.unlink
    killed = {"yes": False}

    def step(call: str, destination: str | Path) -> None:
        kind = _kind(call, destination, settings.home)
        if kill_before(seen, kind):
            killed["yes"] = True
            raise Killed(f"killed before rename {len(seen)} ({kind})")
        seen.append(kind)

    def replace(src: str | Path, dst: str | Path) -> None:
        step("replace", dst)
        real_replace(src, dst)

    def exchange(first: Path, second: Path) -> bool:
        step("exchange", second)
        return real_exchange(first, second)

    def rmtree(path: str | Path, *args: object, **kwargs: object) -> None:
        if not killed["yes"]:
            real_rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if not killed["yes"]:
            real_unlink(self, missing_ok=missing_ok)

    with monkeypatch.context() as patch:
        patch.setattr("pipelines.io.os.replace", replace)
        patch.setattr("pipelines.io.exchange", exchange)
        patch.setattr("pipelines.io.shutil.rmtree", rmtree)
        patch.setattr(Path, "unlink", unlink)
        try:
            nightly.run_night(settings, NIGHT)
        except Killed:
            return True
    return False


def _crash_at(settings: Settings, point: int, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the night, killed just before its `point`-th rename (0-based); False if it finished."""
    return _night_patched(settings, monkeypatch, lambda seen, _: len(seen) == point, [])


def _crash_before(settings: Settings, target: Target, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run the night, killed just before the rename `target` names; False if it finished."""
    kind, n = target
    return _night_patched(
        settings, monkeypatch, lambda seen, now: now == kind and seen.count(kind) + 1 == n, []
    )


def _kill_points(renames: list[str]) -> list[Target]:
    """Where to kill a rerun: before the first rename of each kind, and before the night's last
    rename; `CARGO_RISK_KILL_EVERY_RENAME=1` kills before every rename instead (about 80 on the
    test's world, each a night: an hour on 2 cores, where the sample takes minutes)."""
    counted = [(kind, renames[: n + 1].count(kind)) for n, kind in enumerate(renames)]
    if os.environ.get("CARGO_RISK_KILL_EVERY_RENAME") == "1":
        return counted
    return [t for t in counted if t[1] == 1] + ([counted[-1]] if counted[-1][1] > 1 else [])


def test_a_kill_before_any_kind_of_rename_of_a_rerun_loses_nothing_and_the_rerun_is_identical(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 11: a rerun (every output exists already) killed before a rename of each
    kind, one kill after another, as a night that keeps being killed on its way: after every
    kill no output of the date is missing; a last rerun clears the leftovers of all of them and
    gives byte-identical lists."""
    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    renames: list[str] = []
    assert not _night_patched(settings, monkeypatch, lambda *_: False, renames)
    clean = _lists(settings)
    # Every stage that writes: ingest's report, quarantine, staging, the night's evidence, each
    # port's features and scores, the whole day's, the pages, the list's exchange.
    assert len(set(renames)) >= 12
    for target in _kill_points(renames):
        assert _crash_before(settings, target, monkeypatch), f"never reached {target}"
        missing = [p for p in _outputs(settings, NIGHT) if not p.exists()]
        assert not missing, f"killed before {target}: {missing}"
    nightly.run_night(settings, NIGHT)
    assert _lists(settings) == clean
    leftovers = [p for p in settings.home.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    assert not leftovers


def test_a_kill_during_the_first_ingest_leaves_nothing_half_loaded(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first renames of a night write raw and the ledger: killed there, the rerun loads the
    file once and the lists equal an uninterrupted night's."""
    clean = _copy(world, tmp_path / "clean")
    nightly.run_night(clean, NIGHT)
    for point in range(3):
        settings = _copy(world, tmp_path / f"killed-{point}")
        assert _crash_at(settings, point, monkeypatch)
        nightly.run_night(settings, NIGHT)
        assert _lists(settings, "lineage.json") == _lists(clean, "lineage.json"), (
            f"killed before rename {point}"
        )
        raw = pl.read_parquet(settings.zone("raw") / "declarations" / f"date={NIGHT}")
        assert (
            raw.height
            == pl.read_parquet(clean.zone("raw") / "declarations" / f"date={NIGHT}").height
        )


def test_extreme_rows_in_the_night_file_are_quarantined_and_every_port_gets_its_list(
    world: Path, tmp_path: Path
) -> None:
    """Issue 14 item 1: one such row stopped featurize, and no port got a list."""
    settings = _copy(world, tmp_path)
    landing = settings.zone("landing") / "declarations"
    night_file = next(landing.glob(f"declarations_{NIGHT}.csv"))
    rows = pl.read_csv(night_file, infer_schema=False)
    extremes = pl.DataFrame(
        {"packages": ["4611686018427387904", "1", "1"], "gross_mass_kg": ["1", "5e-324", "1e-300"]}
    ).with_columns(declared_value=pl.Series(["1", "1", "1e308"]))
    broken = rows.head(3).with_columns(
        pl.Series("declaration_id", ["X-1", "X-2", "X-3"]), *extremes.get_columns()
    )
    broken.write_csv(landing / "extremes.csv")
    nightly.run_night(settings, NIGHT)
    ranked = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    assert set(ranked["port_of_discharge"]) == set(rows["port_of_discharge"])
    assert not ranked["declaration_id"].is_in(["X-1", "X-2", "X-3"]).any()
    quarantine = pl.read_parquet(settings.zone("quarantine") / "declarations" / f"date={NIGHT}")
    extreme = quarantine.filter(pl.col("_source_file").str.ends_with("extremes.csv"))
    assert sorted(extreme["_line"].unique()) == [2, 3, 4]


def test_late_rows_of_a_published_date_are_listed_when_they_arrive(
    world: Path, tmp_path: Path
) -> None:
    """Issue 14 item 2: rows filed on D-1 delivered with D's file were never assessed."""
    settings = _copy(world, tmp_path)
    before = NIGHT - timedelta(days=1)
    nightly.run_night(settings, before)
    landing = settings.zone("landing") / "declarations"
    night_file = next(landing.glob(f"declarations_{NIGHT}.csv"))
    late = (
        pl.read_csv(night_file, infer_schema=False)
        .head(2)
        .with_columns(
            pl.Series("declaration_id", ["LATE-1", "LATE-2"]),
            pl.lit(f"{before}T23:10:00Z").alias("filed_at"),
            pl.lit(None, pl.String).alias("expected_arrival"),
        )
    )
    late.write_csv(landing / "late_delivery.csv")
    summary = nightly.run_night(settings, NIGHT)
    assert pick(summary, "validate", ValidateSummary).late[str(before)]["rows_staged"] >= 2
    published = pick(summary, "publish", PublishSummary)
    assert published.republished[str(before)].startswith("list republished")
    earlier = pl.read_parquet(settings.zone("lists") / f"date={before}" / "ranked_list.parquet")
    assert {"LATE-1", "LATE-2"} <= set(earlier["declaration_id"])
    tonight = pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet")
    assert not tonight["declaration_id"].is_in(["LATE-1", "LATE-2"]).any()
    report = (settings.zone("reports") / "runs" / f"date={NIGHT}" / "report.md").read_text()
    assert f"late rows filed on {before}" in report
    assert f"- {before}: list republished" in report
    assert "screened against: " in report and "un 2024-09-26" in report


def test_a_night_without_watch_lists_fails_loudly(world: Path, tmp_path: Path) -> None:
    """Issue 14 item 13: a home without lists reported 0 hits night after night."""
    settings = _copy(world, tmp_path)
    shutil.rmtree(settings.zone("watchlists"))
    with pytest.raises(screen.NoWatchlistError, match="load-shipped"):
        nightly.run_night(settings, NIGHT)
    assert not (settings.zone("lists") / f"date={NIGHT}").exists()


def test_lists_trace_to_their_lineage_and_a_rerun_keeps_the_dates_model(
    world: Path, tmp_path: Path
) -> None:
    from models.registry import read_champion
    from pipelines.io import file_sha256
    from pipelines.publish import list_versions

    settings = _copy(world, tmp_path)
    nightly.run_night(settings, NIGHT)
    folder = settings.zone("lists") / f"date={NIGHT}"
    ranked = pl.read_parquet(folder / "ranked_list.parquet")
    lineage = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
    assert lineage["run_id"] == ranked["run_id"].unique().item()
    assert lineage["model_versions"] == ranked["model_version"].unique().to_list()
    assert lineage["rule_set_version"].startswith("rules-") and lineage["rule_files"]
    assert set(lineage["watchlists"]) >= {"un"}
    zones = {name.split("/")[0] for name in lineage["inputs"]}
    assert zones == {"raw", "staging", "features", "scores"}
    for name, digest in lineage["inputs"].items():
        assert file_sha256(settings.home / name) == digest, name
    dated_model = lineage["model_versions"][0]

    # A model promoted since must not rescore the date unless asked to.
    newer = train_models(
        settings, NIGHT - timedelta(days=2), datetime(2026, 1, 22, tzinfo=UTC)
    ).name
    assert newer != dated_model and read_champion(settings.zone("models")) == newer
    rerun = nightly.run_night(settings, NIGHT)
    for port in pick(rerun, "assess_port", PortsSummary).ports.values():
        assert isinstance(port, PortSummary) and port.model_version == dated_model
        assert port.model_chosen_by == "recorded for the date"
    assert nightly.read_stage_reports(settings, NIGHT)["score"]["model_version"] == dated_model
    asked = nightly.run_night(settings, NIGHT, model=newer)
    assert nightly.read_stage_reports(settings, NIGHT)["score"]["model_chosen_by"] == "asked"
    assert nightly.read_stage_reports(settings, NIGHT)["score"]["model_version"] == newer
    kept = list_versions(settings.zone("lists"), NIGHT)
    assert [v.model_versions for v in kept] == [(dated_model,), (dated_model,), (newer,)]
    assert kept[-1].current and pick(asked, "publish", PublishSummary).version == 3


def _clear_parties(settings: Settings) -> set[str]:
    """Every trader id and party name staged (short ones would match by accident)."""
    staged = pl.read_parquet(settings.zone("staging") / "declarations" / "*" / "*.parquet")
    columns = ("shipper_id", "shipper_name", "consignee_id", "consignee_name", "declarant_id")
    values = staged.select(columns).unpivot()["value"].drop_nulls().unique()
    return {v for v in values.to_list() if len(v) >= 5}


def _texts_of(path: Path) -> str:
    if path.suffix != ".parquet":
        return path.read_bytes().decode("utf-8", errors="ignore")
    frame = pl.read_parquet(path)
    texts = [
        frame[c].cast(pl.List(pl.String)).explode()
        if frame[c].dtype == pl.List(pl.String)
        else frame[c]
        for c in frame.columns
        if frame[c].dtype in (pl.String, pl.List(pl.String))
    ]
    return "\n".join("\n".join(t.drop_nulls().to_list()) for t in texts)


def test_no_party_name_or_trader_id_leaves_staging_in_clear(world: Path, tmp_path: Path) -> None:
    settings = _copy(world, tmp_path)
    # The key is apart from the data and new here: history is rebuilt under it on the night.
    key = tmp_path / "secrets" / "pseudonym.key"
    settings = load_settings(
        environ={},
        home=settings.home,
        capacity_red_default=5,
        capacity_yellow_default=10,
        pseudonym_key_file=key,
    )
    nightly.run_night(settings, NIGHT)
    assert key.is_file()
    clear = _clear_parties(settings)
    assert len(clear) > 100
    scanned = 0
    for zone in ("features", "scores", "models", "history"):
        for path in sorted(settings.zone(zone).rglob("*")):
            if not path.is_file():
                continue
            text = _texts_of(path)
            found = sorted(value for value in clear if value in text)
            assert not found, f"{path.relative_to(settings.home)} holds {found[:3]} in clear"
            scanned += 1
    assert scanned > 20
    # Inspectors still see names: the published list points at staging, which keeps them.
    assert pl.read_parquet(settings.zone("lists") / f"date={NIGHT}" / "ranked_list.parquet").height
