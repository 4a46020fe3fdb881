"""CLI errors a user meets first: a wrong date, an impossible demo, ports in lower case or unknown.
Each answers in one line with what to type instead, and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from contracts.ranked_list import RANKED_LIST
from pipelines import layout
from pipelines.cli import app
from pipelines.io import write_parquet
from pipelines.settings import load_settings

DAY = date(2026, 3, 31)
SAMPLE = {"date": DAY, "integer": 1, "decimal": 0.5, "string": "risk", "list": ["r1"]}


def _invoke(home: Path, args: list[str], stdin: str | None = None) -> tuple[int, str]:
    done = CliRunner().invoke(
        app, ["--home", str(home), *args], input=stdin, env={"COLUMNS": "200"}
    )
    return done.exit_code, done.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["run", "--date", "31/03/2026"], "--date"),
        (["run", "--from", "2026-03-01", "--to", "2026-3-31"], "--to"),
        (["featurize", "run", "--date", "2026-02-30"], "--date"),
        (["lists", "export", "--date", "tomorrow", "--out", "x.csv"], "--date"),
        (["train", "--until", "20260331"], "--until"),
        (["evaluate", "--from", "2026-03-01", "--to", "31.03.2026"], "--to"),
        (["assess", "handover", "--date", "2026/03/31"], "--date"),
        (["alerts", "export", "--out", "b.json", "--from", "1.3.2026"], "--from"),
    ],
)
def test_a_wrong_date_names_the_option_and_the_format(
    tmp_path: Path, args: list[str], option: str
) -> None:
    code, output = _invoke(tmp_path / "home", args)
    assert code == 2
    assert f"Invalid value for '{option}'" in output
    assert "YYYY-MM-DD" in output
    assert "isoformat" not in output and "Traceback" not in output
    assert not (tmp_path / "home").exists()


def test_the_demo_refuses_zero_days_without_a_traceback(tmp_path: Path) -> None:
    code, output = _invoke(tmp_path / "home", ["demo", "--days", "0"])
    assert code == 2
    assert "Invalid value for '--days'" in output
    assert "Traceback" not in output


def test_lists_export_takes_ports_in_lower_case(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings(environ={}, home=home)
    rows = []
    for port in ("NLRTM", "BEANR"):
        row = {c.name: SAMPLE[c.kind] for c in RANKED_LIST.columns}
        rows.append({**row, "port_of_discharge": port, "declaration_id": f"D-{port}"})
    ranked = pl.DataFrame(rows, schema={c.name: c.dtype for c in RANKED_LIST.columns})
    write_parquet(ranked, layout.lists_dir(settings, DAY) / layout.LIST_FILE)
    out = tmp_path / "nlrtm.csv"
    code, output = _invoke(
        home, ["lists", "export", "--date", str(DAY), "--out", str(out), "--port", "nlrtm"]
    )
    assert code == 0, output
    exported = pl.read_csv(out)
    assert exported["port_of_discharge"].to_list() == ["NLRTM"]


def test_users_add_refuses_a_port_that_is_not_a_locode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = ["users", "add", "j.smith", "--password-stdin", "--ports"]
    code, output = _invoke(home, [*args, "NLRTM,XXFOO"], "a long enough secret\n")
    assert code == 1
    assert output.strip() == "error: unknown port(s) XXFOO: not in the shipped UN/LOCODE list"
    code, output = _invoke(home, [*args, "nlrtm"], "a long enough secret\n")
    assert code == 0, output
    assert "added inspector j.smith for NLRTM" in output


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CARGO_RISK_CAPACITY_RED_DEFUALT", "3", "did you mean CARGO_RISK_CAPACITY_RED_DEFAULT"),
        ("CARGO_RISK_CAPACITY_RED_DEFAULT", "three", "setting capacity_red_default:"),
    ],
)
def test_a_wrong_setting_in_the_environment_is_one_line(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    console_script = Path(sys.executable).parent / "cargo-risk"
    environ = {**os.environ, "CARGO_RISK_HOME": str(tmp_path / "home"), variable: value}
    done = subprocess.run(
        [str(console_script), "reference"],
        check=False,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert "Traceback" not in done.stderr
