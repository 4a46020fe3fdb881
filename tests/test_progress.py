"""Progress of long CLI work: a live display on a terminal, nothing in logs."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.progress import QUIET, progress_for
from pipelines.settings import Settings, load_settings
from pipelines.staging import ingest_and_stage
from pipelines.train import TRAINING_STEPS, train_models
from tests.factories.model_world import CREATED, FEATURES, LAST_TRAIN_DAY, PHRASES

FIXTURES = Path(__file__).parent / "data" / "declarations"
FILES = ("amendments.csv", "mixed.csv")


def _copies(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return [Path(shutil.copy(FIXTURES / name, folder / name)) for name in FILES]


def _terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, color_system=None), screen


def test_output_that_is_not_a_terminal_gets_no_progress() -> None:
    log = io.StringIO()
    with progress_for(Console(file=log, width=120)) as steps:
        steps.phase("loading files into raw", 2)
        steps.step("amendments.csv")
    assert steps is QUIET
    assert log.getvalue() == ""


def test_ingest_on_a_terminal_shows_each_file_and_each_date(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path / "home")
    console, screen = _terminal()
    with progress_for(console) as steps:
        report, staged = ingest_and_stage(_copies(tmp_path), settings, steps=steps)
    shown = screen.getvalue()
    # Redrawn at every step: each file and each filing date appears as it is worked on.
    for name in FILES:
        assert f"loading files into raw: {name}" in shown
    for day in staged:
        assert f"validating filing dates: {day}" in shown
    assert f"{len(FILES)}/{len(FILES)}" in shown and f"{len(staged)}/{len(staged)}" in shown
    assert sorted(report.loaded) == sorted(FILES)


def test_ingest_in_a_log_prints_its_summary_and_no_progress(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(app, ["--home", str(home), "ingest", *map(str, _copies(tmp_path))])
    assert "Ingested filing dates" in done.output, done.output
    assert "loading files into raw" not in done.output
    assert "validating filing dates" not in done.output


def test_training_on_a_terminal_shows_each_phase(model_home: Settings) -> None:
    console, screen = _terminal()
    with progress_for(console) as steps:
        train_models(
            model_home,
            LAST_TRAIN_DAY,
            CREATED,
            feature_names=FEATURES,
            phrases=PHRASES,
            steps=steps,
        )
    shown = screen.getvalue()
    positions = [shown.find(f"training: {step}") for step in TRAINING_STEPS]
    assert all(p >= 0 for p in positions), shown[-2000:]
    assert positions == sorted(positions)
    assert f"{len(TRAINING_STEPS)}/{len(TRAINING_STEPS)}" in shown
