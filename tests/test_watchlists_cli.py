from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

DAMAGED = Path(__file__).parent / "data" / "watchlists" / "un_damaged_latin1.xml"
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("home")
    result = runner.invoke(app, ["--home", str(folder), "watchlists", "load-shipped"])
    assert result.exit_code == 0, result.output
    return folder


def _run(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), "watchlists", *args])
    return result.exit_code, result.output


def test_load_shipped_then_list_shows_versions_in_force(home: Path) -> None:
    code, output = _run(home, "list")
    assert code == 0
    lines = [line for line in output.splitlines() if "│" in line]
    in_force = {
        line.split("│")[1].strip() + " " + line.split("│")[2].strip(): "yes" in line
        for line in lines
    }
    assert in_force == {
        "national-sample 2026-11-01": True,
        "ofac 2021-04": True,
        "un 2020-11-30": False,
        "un 2024-09-26": True,
    }


def test_diff_reports_counts(home: Path) -> None:
    code, output = _run(home, "diff", "un", "2020-11-30", "2024-09-26", "--limit", "2")
    assert code == 0
    assert "41 added, 184 removed, 57 with changed names" in output
    assert output.count("│ CDi.0") == 2  # two rows shown of the added entries (--limit 2)


def test_diff_of_unknown_version_fails_cleanly(home: Path) -> None:
    code, output = _run(home, "diff", "un", "2019-01-01", "2024-09-26")
    assert code == 1
    assert "has no stored version 2019-01-01" in output


def test_screen_a_name(home: Path) -> None:
    code, output = _run(home, "screen", "Al Qaeda")
    assert code == 0
    assert "QDe.004" in output and "6366" in output
    code, output = _run(home, "screen", "George Bush")
    assert code == 0 and "No hit" in output
    code, output = _run(home, "screen", "Kestrel Dual Use Components", "--country", "AE")
    assert "NAT-0001" in output and "country match AE" in output


def test_damaged_file_is_rejected_and_current_kept(home: Path) -> None:
    pointer = home / "watchlists" / "un" / "current.json"
    before = pointer.read_text()
    code, output = _run(home, "load", "un", str(DAMAGED))
    assert code == 1
    assert "line 54, column 4: byte 0xe9 is not valid UTF-8" in output
    assert "The version in force is unchanged." in output
    assert pointer.read_text() == before == '{"list": "un", "version": "2024-09-26"}\n'


def test_load_national_and_ofac_verbs(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("entry_id,name,countries\nX-1,Zephyr Arms Brokers Ltd,MT\n", encoding="utf-8")
    code, output = _run(
        tmp_path, "load", "national", str(csv), "--name", "national-mt", "--version", "2026-10-01"
    )
    assert code == 0, output
    assert "national-mt 2026-10-01: 1 entries, 1 names; in force" in output
    manifest = json.loads(
        (tmp_path / "watchlists/national-mt/2026-10-01/manifest.json").read_text()
    )
    assert manifest["entry_count"] == 1 and manifest["sources"][0]["file"] == "list.csv"
    sdn = tmp_path / "2021-04-30" / "sdn.csv"
    sdn.parent.mkdir()
    sdn.write_bytes(
        b'36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a'
    )
    code, output = _run(tmp_path, "load", "ofac", str(sdn))
    assert code == 0, output
    assert "ofac 2021-04-30: 1 entries, 1 names; in force" in output


def test_bad_version_label_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("entry_id,name\nX-1,Someone\n", encoding="utf-8")
    code, output = _run(tmp_path, "load", "national", str(csv), "--name", "nx", "--version", "May")
    # A typed date option: the usage error (exit 2) names the option and the format.
    assert code == 2
    assert "--version" in output
    assert "YYYY-MM-DD" in output
