"""The night per port (pipelines/ports.py) against the whole-day stages, on a small world.

One module-scoped world (14 days of history, 6 ports, then the night of day 15) is copied twice:
one copy runs the whole-day stages (`run_night_whole_day`), the other the per-port night
(`run_night`, the stage table); the published lists must be the same bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines import layout, nightly, ports
from pipelines.locks import RunLockedError, date_lock_name
from pipelines.outcomes import import_outcome_files
from pipelines.settings import Settings, load_settings
from pipelines.stages import PlanSummary, PortsSummary, pick
from pipelines.staging import ingest_and_stage
from pipelines.train import train_models
from pipelines.watchlists.shipped import load_shipped
from simulator.stage import simulate_world

START = date(2026, 1, 1)
DAYS = 15
NIGHT = START + timedelta(days=DAYS - 1)

pytestmark = pytest.mark.slow


def _settings(home: Path) -> Settings:
    return load_settings(environ={}, home=home, capacity_red_default=5, capacity_yellow_default=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """History ingested, featurized and a champion trained; the night's file still in landing."""
    home = tmp_path_factory.mktemp("ports") / "home"
    settings = _settings(home)
    result = simulate_world(settings, START, DAYS, 300, threat_rate=0.03, seed=11)
    load_shipped(settings)
    history = [p for p in result.declaration_files if NIGHT.isoformat() not in p.name]
    ingest_and_stage(history, settings, now=datetime(2026, 1, 15, 1, tzinfo=UTC))
    import_outcome_files(
        [p for p in result.outcome_files if NIGHT.isoformat() not in p.name], settings
    )
    for offset in range(DAYS - 1):
        nightly.featurize(settings, START + timedelta(days=offset))
    train_models(settings, NIGHT - timedelta(days=1), datetime(2026, 1, 15, tzinfo=UTC))
    return home


@pytest.fixture(scope="module")
def both(world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Settings]:
    """(whole-day night, per-port night), each on its own copy of the world."""
    root = tmp_path_factory.mktemp("both")
    whole = _settings(shutil.copytree(world, root / "whole"))
    per_port = _settings(shutil.copytree(world, root / "per_port"))
    nightly.run_night_whole_day(whole, NIGHT)
    nightly.run_night(per_port, NIGHT)
    return whole, per_port


def _lists(settings: Settings) -> dict[str, bytes]:
    folder = layout.lists_dir(settings, NIGHT)
    # The current list; kept versions record when they were published, and the lineage the
    # checksums of the night's raw and staged batches, which record when they were ingested.
    found = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*.*"))
        if p.relative_to(folder).parts[0] != "versions" and p.name != "lineage.json"
    }
    lineage = json.loads((folder / "lineage.json").read_text(encoding="utf-8"))
    lineage["inputs"] = {
        name: digest if not name.startswith(("raw/", "staging/")) else "ingested"
        for name, digest in lineage["inputs"].items()
    }
    found["lineage.json"] = json.dumps(lineage, sort_keys=True).encode()
    return found


def test_per_port_night_publishes_the_whole_day_lists_byte_for_byte(
    both: tuple[Settings, Settings],
) -> None:
    whole, per_port = both
    expected = _lists(whole)
    assert len([name for name in expected if name.endswith(".html")]) >= 4  # several ports
    assert _lists(per_port) == expected
    ranked = pl.read_parquet(layout.lists_dir(whole, NIGHT) / layout.LIST_FILE)
    # The comparison covers the parts that could differ by port: hits and the random draw.
    assert ranked.filter(pl.col("selection_reason") == "random").height >= 4
    assert ranked.filter(pl.col("rule_hits").list.len() > 0).height > 0


def test_gathered_day_files_match_the_whole_day_stages(both: tuple[Settings, Settings]) -> None:
    """Training, drift and evidence read the day's files: same rows, same order."""
    whole, per_port = both
    for path in (layout.features_file, layout.scores_file):
        assert pl.read_parquet(path(per_port, NIGHT)).equals(pl.read_parquet(path(whole, NIGHT)))
    for name in (layout.RULE_HITS_FILE, layout.WATCHLIST_HITS_FILE, layout.SELECTION_FILE):
        found = pl.read_parquet(layout.scores_dir(per_port, NIGHT) / name)
        assert found.equals(pl.read_parquet(layout.scores_dir(whole, NIGHT) / name)), name
    reports = [layout.run_report_dir(s, NIGHT) / "select.json" for s in both]
    whole_select, port_select = (json.loads(p.read_text()) for p in reports)
    for key in ("run_id", "rows", "ports", "precision"):
        assert port_select[key] == whole_select[key], key


def test_night_screening_weights_are_the_whole_day_weights(
    both: tuple[Settings, Settings],
) -> None:
    """Without the night's weights a port's screening weighs words by that port's names only."""
    _, per_port = both
    weights = ports.night_trade_weights(per_port, NIGHT)
    folder = ports.night_dir(per_port, NIGHT)
    assert json.loads((folder / ports.WEIGHTS_FILE).read_text()) == weights
    index = ports.night_index(per_port, weights)
    index.set_trade_names(["ONE NAME"])  # a port's names: ignored
    assert index.trade_weights == weights


def test_run_night_loops_over_the_ports_the_plan_found(world: Path, tmp_path: Path) -> None:
    settings = _settings(shutil.copytree(world, tmp_path / "home"))
    results = nightly.run_night(settings, NIGHT)
    plan = pick(results, "plan_ports", PlanSummary)
    assessed = pick(results, "assess_port", PortsSummary)
    assert list(assessed.ports) == plan.ports == sorted(plan.rows_per_port)
    assert sum(plan.rows_per_port.values()) == plan.rows
    staged = pl.read_parquet(layout.staged_declarations_file(settings, NIGHT))
    assert plan.ports == sorted(staged["port_of_discharge"].unique().to_list())


HOLD = """
import sys, time
from pathlib import Path
from pipelines.locks import run_lock
from pipelines.settings import load_settings
with run_lock(load_settings(environ={}, home=Path(sys.argv[1])), sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_port_missing_or_busy_stops_the_night_with_a_message(world: Path, tmp_path: Path) -> None:
    settings = _settings(shutil.copytree(world, tmp_path / "home"))
    for stage in (nightly.ingest, nightly.validate):
        stage(settings, NIGHT)
    plan = ports.plan_ports(settings, NIGHT)
    first, *rest = plan["ports"]
    # Held by another process (locks are re-entrant within one).
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.home), f"{date_lock_name(NIGHT)}.port={first}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"port={first}"):
            ports.assess_port(settings, NIGHT, first)
    finally:
        holder.kill()
        holder.communicate()
    for port in rest:
        ports.assess_port(settings, NIGHT, port)
    with pytest.raises(FileNotFoundError, match=f"port.s. {first} not assessed"):
        ports.publish_ports(settings, NIGHT)
    assert not layout.lists_dir(settings, NIGHT).exists()


def test_declaration_chunks_keep_declarations_whole_in_order_of_first_item() -> None:
    ids = pl.Series(["a", "b", "a", "c", "c", "d"])
    chunks = ports.declaration_chunks(ids, 2)
    assert [c.to_list() for c in chunks] == [[0, 2], [1, 3, 4], [5]]
    assert [c.to_list() for c in ports.declaration_chunks(ids, 100)] == [[0, 1, 2, 3, 4, 5]]


def _port_files(settings: Settings, port: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for table in (layout.features_table(settings), layout.scores_table(settings)):
        folder = ports.port_partition(table, NIGHT, port)
        found |= {f"{table.name}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    return found


def test_a_port_in_many_chunks_gives_the_files_of_one_chunk(world: Path, tmp_path: Path) -> None:
    """Chunks of a few declarations against the whole port at once, with capacities so small
    that only the port's riskiest rows get reasons: which rows those are is a question about the
    whole port, not a chunk. A rerun writes the same bytes."""
    found: dict[str, dict[str, bytes]] = {}
    for name, chunk_rows in (("one", 1_000_000), ("many", 7), ("many_again", 7)):
        home = tmp_path / name.removesuffix("_again")
        if not home.exists():
            shutil.copytree(world, home)
        settings = load_settings(
            environ={}, home=home, capacity_red_default=1, capacity_yellow_default=1
        )
        if name != "many_again":
            for stage in (nightly.ingest, nightly.validate):
                stage(settings, NIGHT)
            plan = ports.plan_ports(settings, NIGHT)
            port = max(plan["ports"], key=lambda p: plan["rows_per_port"][p])
        summary = ports.assess_port(settings, NIGHT, port, chunk_rows=chunk_rows)
        assert summary["chunks"] == 1 if name == "one" else summary["chunks"] >= 5
        found[name] = _port_files(settings, port)
        assert not list(layout.scores_dir(settings, NIGHT).glob(".*"))  # no scratch left
    assert found["many"] == found["one"]
    assert found["many_again"] == found["many"]
    scores = pl.read_parquet(
        ports.port_partition(layout.scores_table(settings), NIGHT, port) / layout.SCORES_FILE
    )
    explained = scores["reasons"].is_not_null().sum()
    assert 0 < explained < scores.height / 2  # chosen over the port, not in every chunk
