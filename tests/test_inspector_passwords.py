"""Password strength (issue 14, item 8): the trivially weak are refused with the rule they break."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from inspector.passwords import common_passwords, password_problem
from pipelines.cli import users

STRONG = ("correct horse battery", "a long enough secret", "Tulip-Barge-74-Quay", "n8#Kq2!vLw0z")


@pytest.mark.parametrize(
    ("password", "username", "rule"),
    [
        ("aaaaaaaaaa", "ina", "only 1 different characters"),
        ("abababababab", "ina", "only 2 different characters"),
        ("Aa1Aa1Aa1Aa1", "ina", "only 2 different characters"),  # case is ignored
        ("abcdeabcdeabcde", "ina", "repeats a short pattern"),
        ("xy12zxy12zxy12z", "ina", "repeats a short pattern"),
        ("1234567890", "ina", "alphabet, the digits or a keyboard row"),
        ("0987654321", "ina", "alphabet, the digits or a keyboard row"),
        ("abcdefghijkl", "ina", "alphabet, the digits or a keyboard row"),
        ("qwertyuiop", "ina", "alphabet, the digits or a keyboard row"),
        ("Password123!", "ina", "common password"),
        ("p@ssw0rd2024", "ina", "common password"),
        ("Summer2026!", "ina", "common password"),
        ("1qaz2wsx3edc", "ina", "common password"),
        ("!!Customs2026", "ina", "common password"),
        ("j.smith-secret-99", "j.smith", "contains the user name"),
        ("my name is smith!", "j.smith", "contains the user name"),
        ("ina.bench + tulips", "ina.bench", "contains the user name"),
        ("short1!", "ina", "at least 10 characters"),
        ("x" * 120 + "yzuvw" * 30, "ina", "at most 256 characters"),
    ],
)
def test_weak_passwords_name_the_rule_they_break(password: str, username: str, rule: str) -> None:
    problem = password_problem(password, username)
    assert problem is not None and rule in problem, problem


@pytest.mark.parametrize("password", STRONG)
def test_ordinary_strong_passwords_pass(password: str) -> None:
    assert password_problem(password, "j.smith") is None


def test_the_shipped_list_is_read_and_lower_case() -> None:
    common = common_passwords()
    assert {"password", "qwerty", "letmein", "customs"} <= common
    assert all(word == word.lower() and word.strip() == word for word in common)


def _cli() -> typer.Typer:
    app = typer.Typer()
    users.register(app)
    return app


def test_the_users_verbs_refuse_a_weak_password_with_a_clear_message(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CARGO_RISK_HOME": str(tmp_path / "home")}
    weak = runner.invoke(
        _cli(),
        ["users", "add", "k.lee", "--ports", "NLRTM", "--password-stdin"],
        input="aaaaaaaaaa\n",
        env=env,
    )
    assert weak.exit_code == 1
    assert weak.output.strip() == (
        "error: password is too weak: it uses only 1 different characters (at least 5 needed)"
    )
    assert "k.lee" not in runner.invoke(_cli(), ["users", "list"], env=env).output
    added = runner.invoke(
        _cli(),
        ["users", "add", "k.lee", "--ports", "NLRTM", "--password-stdin"],
        input="a long enough secret\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    changed = runner.invoke(
        _cli(),
        ["users", "set-password", "k.lee", "--password-stdin"],
        input="k.lee-2026-pw\n",
        env=env,
    )
    assert changed.exit_code == 1
    assert "password is too weak: it contains the user name" in changed.output
