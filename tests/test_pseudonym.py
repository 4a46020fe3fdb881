"""Trader ids leave staging only as keyed pseudonyms; names not at all (decision 0027)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.featurize import featurize_day
from pipelines.layout import features_file, snapshot_dir
from pipelines.pseudonym import (
    ID_COLUMNS,
    PseudonymKey,
    PseudonymKeyError,
    load_key,
    pseudonymise,
    rotate_key,
)
from pipelines.settings import Settings, load_settings
from tests.factories.feature_world import refs, world
from tests.test_features_history import DAYS, FIRST, stage


def _settings(home: Path, key: Path) -> Settings:
    return load_settings(environ={}, home=home, pseudonym_key_file=key)


def test_pseudonyms_are_stable_per_key_differ_across_keys_and_keep_nulls() -> None:
    one, other = PseudonymKey("k1", b"a" * 32), PseudonymKey("k1", b"b" * 32)
    frame = pl.DataFrame(
        {"shipper_id": ["NL1", "NL1", "BE2"], "declarant_id": [None, "D1", "D1"], "x": [1, 2, 3]}
    )
    hidden = pseudonymise(frame, one)
    assert hidden["shipper_id"][0] == hidden["shipper_id"][1] != hidden["shipper_id"][2]
    assert hidden["declarant_id"][0] is None
    assert hidden["shipper_id"][0].startswith("k1:") and "NL1" not in hidden["shipper_id"][0]
    assert hidden["x"].to_list() == [1, 2, 3]
    assert pseudonymise(frame, other)["shipper_id"][0] != hidden["shipper_id"][0]
    assert pseudonymise(frame, one).equals(hidden)


def test_the_key_is_made_private_and_an_open_one_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home", tmp_path / "secrets" / "pseudonym.key")
    made = load_key(settings)
    path = tmp_path / "secrets" / "pseudonym.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key(settings) == made
    os.chmod(path, 0o644)
    with pytest.raises(PseudonymKeyError, match="readable by others"):
        load_key(settings)
    with pytest.raises(PseudonymKeyError, match="no pseudonym key"):
        load_key(_settings(tmp_path / "home", tmp_path / "none.key"), create=False)


def test_features_do_not_depend_on_the_key_and_history_holds_no_clear_id(tmp_path: Path) -> None:
    filed, checked = world(FIRST, DAYS)
    last = FIRST + timedelta(days=DAYS - 1)
    made = []
    for name in ("a", "b"):
        settings = stage(tmp_path / name, filed, checked)
        settings = _settings(settings.home, tmp_path / f"{name}.key")
        for offset in range(DAYS):
            featurize_day(settings, FIRST + timedelta(days=offset), refs=refs())
        made.append(settings)
    # Equal counts whatever the key: the pseudonyms join exactly as the ids did.
    assert_frame_equal(
        pl.read_parquet(features_file(made[0], last)),
        pl.read_parquet(features_file(made[1], last)),
    )
    clear = set(pl.concat(filed.values()).select(ID_COLUMNS).unpivot()["value"].drop_nulls())
    pair = pl.read_parquet(snapshot_dir(made[0], last) / "pair.parquet")
    assert pair.height and not clear & (set(pair["shipper_id"]) | set(pair["consignee_id"]))

    # A rotation re-keys: history made with the old key is rebuilt under the new one.
    before = load_key(made[0])
    after = rotate_key(made[0])
    assert after.key_id == "k2" and after.secret != before.secret
    features = pl.read_parquet(featurize_day(made[0], last, refs=refs()))
    assert_frame_equal(features, pl.read_parquet(features_file(made[1], last)))
    pair = pl.read_parquet(snapshot_dir(made[0], last) / "pair.parquet")
    assert pair["shipper_id"].str.starts_with("k2:").all()


def test_the_cli_shows_and_rotates_the_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    assert runner.invoke(app, [*home, "pseudonym", "show"]).exit_code == 1  # none yet
    first = load_key(load_settings(environ={}, home=tmp_path))
    shown = runner.invoke(app, [*home, "pseudonym", "show"])
    assert shown.exit_code == 0 and first.marker in shown.output
    assert first.secret.hex() not in shown.output
    rotated = runner.invoke(app, [*home, "pseudonym", "rotate"])
    assert rotated.exit_code == 0 and "k2/" in rotated.output
    # The rotation is in the audit, naming both keys by marker, never by secret.
    from pipelines.audit_trail import show

    settings = load_settings(environ={}, home=tmp_path)
    (row,) = show(settings, actions=["pseudonym_rotate"])
    second = load_key(settings)
    assert row.target == second.marker and first.marker in row.detail
    assert first.secret.hex() not in row.detail and second.secret.hex() not in row.detail
