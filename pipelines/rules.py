"""The rules stage: the expert rules' YAML read from files and folders (features/rules.py parses
them), and the rules valid on a night evaluated over its declarations and features.

It runs beside the score and screen stages (each writes its own file of the scores partition);
the select stage reads all three.

Grain: one rule file holds one rule or a list of them; a folder holds rule files (`*.yaml`,
`*.yml`). The shipped starter set is package data in features/rules_starter/.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl

from features.rules import (
    DERIVED_BY_NAME,
    HITS_SCHEMA,
    Rule,
    RuleError,
    check_rules,
    evaluate_rules,
    rule_input,
    rules_from_texts,
    rules_valid_on,
)
from features.rules import KEY_COLUMNS as RULE_KEY_COLUMNS
from pipelines import layout
from pipelines.io import write_parquet
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


def evaluate_rules_day(
    settings: Settings, day: date, rule_paths: Sequence[Path] | None = None
) -> Path:
    """The rules stage: hits of the rules valid on `day` over the day's declarations and features.

    Reads the staging declarations and the features partition of `day`, writes
    `scores/date=D/rule_hits.parquet` (HITS_SCHEMA) atomically and returns its path. Rules come
    from `rule_paths` (files or folders of YAML), else the shipped starter set, plus the rules
    derived from partner agencies' indicators (pipelines/alerts).
    """
    declarations_path = layout.staged_declarations_file(settings, day)
    features_path = layout.features_file(settings, day)
    for path, stage in ((declarations_path, "validate"), (features_path, "featurize")):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing for {day}; run the {stage} stage first")
    rules = night_rules_with_partners(settings, day, rule_paths)
    target = layout.scores_dir(settings, day) / layout.RULE_HITS_FILE
    hits = rule_hits_of(
        rules, pl.scan_parquet(declarations_path), pl.scan_parquet(features_path), day
    )
    return write_parquet(hits, target)


def night_rules_with_partners(
    settings: Settings, day: date, rule_paths: Sequence[Path] | None = None
) -> list[Rule]:
    """The rules valid on `day`: from `rule_paths`, else the starter set, plus partners'."""
    officers = load_rules(rule_paths) if rule_paths else load_starter_rules()
    return rules_valid_on([*officers, *load_partner_rules(settings)], day)


def rule_hits_of(
    rules: Sequence[Rule], declarations: pl.LazyFrame, features: pl.LazyFrame, day: date
) -> pl.DataFrame:
    """Hits of `rules` over declarations and their features (a day's files or one port's rows);
    only the columns the rules read are collected."""
    if not rules:
        return pl.DataFrame(schema=HITS_SCHEMA)
    declaration_schema = declarations.collect_schema()
    feature_schema = features.collect_schema()
    # Checked against both full schemas, so a misspelt field is named with its neighbours.
    check_rules(rules, {**feature_schema, **declaration_schema})
    # Only the columns the rules read: at 1e6 items the two whole files cost seconds to join.
    needed = _rule_columns(rules, {*declaration_schema, *feature_schema})
    frame = rule_input(
        declarations.select([c for c in declaration_schema if c in needed]).collect(),
        features.select(
            [
                c
                for c in feature_schema
                if c in RULE_KEY_COLUMNS or (c in needed and c not in declaration_schema)
            ]
        ).collect(),
    )
    return evaluate_rules(rules, frame, day)


def _rule_columns(rules: Sequence[Rule], stored: Collection[str]) -> set[str]:
    """Stored columns the rules read: a field itself when stored, else what it is derived from."""
    needed = set(RULE_KEY_COLUMNS)
    for rule in rules:
        for name in rule.fields():
            derived = DERIVED_BY_NAME.get(name)
            if name in stored or derived is None:
                needed.add(name)
            else:
                needed.update(derived.needs)
    return needed
