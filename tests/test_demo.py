"""The demo at a small size: every step runs, Airflow included, and every output it names exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

pytestmark = pytest.mark.slow


def test_the_demo_runs_end_to_end_and_its_outputs_exist(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = CliRunner().invoke(
        app,
        ["--home", str(home), "demo", "--days", "16", "--per-day", "300", "--threat-rate", "0.05"],
        env={"COLUMNS": "400"},  # one output per line
    )
    assert done.exit_code == 0, done.output
    assert "Evaluation against the planted threats" in done.output
    assert "log in as demo.inspector" in done.output
    outputs = [line.split(": ", 1)[1] for line in done.output.splitlines() if ": /" in line]
    assert len(outputs) >= 8
    named = dict(line.strip().split(": ", 1) for line in done.output.splitlines() if ": /" in line)
    assert named["model card"].endswith("card.html")
    assert named["run report (HTML with plots)"].endswith("report.html")
    assert named["Data Docs (Great Expectations)"].endswith("index.html")
    for path in outputs:
        assert Path(path.strip()).exists(), path
