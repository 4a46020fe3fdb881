"""Rule files: the expert rules' YAML read from files and folders (features/rules.py parses them).

Grain: one rule file holds one rule or a list of them; a folder holds rule files (`*.yaml`,
`*.yml`). The shipped starter set is package data in features/rules_starter/.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path

import polars as pl

from features.rules import Rule, RuleError, rules_from_texts
from pipelines import layout
from pipelines.settings import Settings


def starter_rules_dir() -> Path:
    """The folder of the shipped starter rules (package data)."""
    return Path(str(resources.files("features") / "rules_starter"))


def load_rules(
    paths: Iterable[Path], schema: Mapping[str, pl.DataType] | None = None
) -> list[Rule]:
    """Load rule files and folders (every `*.yaml`/`*.yml` inside, sorted) into validated rules.

    Raises RuleError naming the file for one it cannot read, and as `rules_from_texts` does for
    bad contents.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"}))
        else:
            files.append(path)
    return rules_from_texts(_texts(files), schema)


def load_starter_rules(schema: Mapping[str, pl.DataType] | None = None) -> list[Rule]:
    """The shipped starter set (checked against `schema` when given)."""
    return load_rules([starter_rules_dir()], schema)


def load_partner_rules(settings: Settings) -> list[Rule]:
    """Rules derived from partner agencies' indicators (pipelines/alerts; none when none came)."""
    folder = layout.partner_rules_dir(settings)
    return load_rules([folder]) if folder.is_dir() else []


def _texts(files: list[Path]) -> Iterator[tuple[str, str]]:
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"{file}: cannot read rule file: {exc}") from exc
        yield str(file), text
