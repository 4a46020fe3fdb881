"""Compiled trees give LightGBM's raw scores bit for bit, are cached safely, and fall back to
LightGBM without a compiler; scoring is the same with and without them."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pytest

from models import compiled
from models.compiled import (
    BRANCHLESS_MAX_LEAVES,
    MIN_ROWS_PER_THREAD,
    compile_booster,
    find_compiler,
)
from models.registry import with_compiled_trees
from models.scoring import ExplainTop, feature_matrix, raw_scores, score
from tests.factories.model_world import make_world, trained_models

needs_compiler = pytest.mark.skipif(find_compiler() is None, reason="no C compiler")


@cache
def _data() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 6))
    x[rng.random(x.shape) < 0.1] = np.nan  # NaN splits learn a default direction
    x[:, 5] = np.round(x[:, 5])  # many exact zeros
    x[:, 4] = np.abs(x[:, 4])  # thresholds near 0 from above: NaN-as-0 goes left
    y = ((np.nan_to_num(x[:, 0]) + x[:, 5] > 0.5) ^ (rng.random(len(x)) < 0.1)).astype(np.int64)
    return x, y


@cache
def _booster(extra: tuple[tuple[str, Any], ...]) -> lgb.Booster:
    x, y = _data()
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1} | dict(extra)
    rounds = 40 if dict(extra).get("num_leaves", 7) <= BRANCHLESS_MAX_LEAVES else 8
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds)


def _at_thresholds(booster: lgb.Booster, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows whose values sit exactly on, just below and just above every split threshold."""
    rows = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "leaf_value" in node:
                continue
            threshold = node["threshold"]
            for value in (
                np.nextafter(threshold, -np.inf),
                threshold,
                np.nextafter(threshold, np.inf),
            ):
                row = x[len(rows) % len(x)].copy()
                row[node["split_feature"]] = value
                rows.append(row)
            stack += [node["left_child"], node["right_child"]]
    edges = np.array(rows)
    # LightGBM reads |x| <= kZeroThreshold (1e-35 as a float) as 0.
    zero = float(np.float32(1e-35))
    tiny = [1e-40, zero, np.nextafter(zero, 1.0), np.nextafter(zero, 0.0)]
    band = np.resize(np.array([*tiny, *(-v for v in tiny)]), (64, x.shape[1]))
    zeros = x[:200].copy()
    zeros[:, :] = np.where(np.arange(200)[:, None] % 3 == 0, 0.0, zeros)
    zeros[::7] = -0.0
    return np.vstack([x, edges, zeros, band, band.T.reshape(-1, x.shape[1])[::-1]])


@pytest.fixture(scope="module")
def cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


MODEL_VARIANTS: list[tuple[tuple[str, Any], ...]] = [
    (),
    (("zero_as_missing", True),),
    (("use_missing", False),),
    (("num_leaves", 63), ("min_data_in_leaf", 5)),  # big trees keep branches
]


@needs_compiler
@pytest.mark.parametrize("extra", MODEL_VARIANTS, ids=lambda e: ",".join(f"{k}" for k, _ in e))
def test_raw_scores_equal_lightgbms_bit_for_bit(
    extra: tuple[tuple[str, Any], ...], cache_folder: Path
) -> None:
    booster = _booster(extra)
    x = _at_thresholds(booster, _data()[0])
    trees = compile_booster(booster.dump_model(), x.shape[1], cache_folder, threads=1)
    assert trees is not None
    expected = booster.predict(x, raw_score=True)
    assert np.array_equal(trees.raw_score(np.asfortranarray(x)), expected)
    assert np.array_equal(trees.raw_score(np.ascontiguousarray(x)), expected)
    with pytest.raises(ValueError, match="features"):
        trees.raw_score(x[:, :3])


def test_the_generator_covers_branchless_and_branchy_trees() -> None:
    small = compiled.c_source(_booster(()).dump_model())
    big = compiled.c_source(_booster(MODEL_VARIANTS[3]).dump_model())
    assert "SEL(" in small and "if (" not in small.split("group_0", 1)[1]
    assert "if (" in big


@needs_compiler
def test_several_threads_give_the_same_scores_as_one(cache_folder: Path) -> None:
    booster = _booster(())
    rng = np.random.default_rng(5)
    x = _data()[0][rng.integers(0, len(_data()[0]), 3 * MIN_ROWS_PER_THREAD + 17)]
    one = compile_booster(booster.dump_model(), x.shape[1], cache_folder, threads=1)
    three = compile_booster(booster.dump_model(), x.shape[1], cache_folder, threads=3)
    assert one is not None and three is not None
    assert np.array_equal(three.raw_score(x), one.raw_score(x))
    assert np.array_equal(three.raw_score(x), booster.predict(x, raw_score=True))
    assert three.raw_score(x[:0]).shape == (0,)


@pytest.fixture
def compiler_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    calls: list[list[str]] = []
    real_run = subprocess.run
    # Libraries this process built for earlier tests would be copied, not compiled.
    monkeypatch.setattr(compiled, "_checked_here", {})

    def counting_run(command: list[str], **kwargs: Any) -> Any:
        calls.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(compiled.subprocess, "run", counting_run)
    yield calls


@needs_compiler
def test_the_cache_is_reused_and_a_corrupted_library_rebuilt(
    tmp_path: Path, compiler_calls: list[list[str]]
) -> None:
    booster = _booster((("learning_rate", 0.2),))
    dump = booster.dump_model()
    x = _data()[0]
    first = compile_booster(dump, x.shape[1], tmp_path)
    assert first is not None and len(compiler_calls) >= 1
    libraries = list(tmp_path.glob("trees-*.so"))
    assert libraries == [first.library_path]
    assert not list(tmp_path.glob(".trees-*"))  # the build folder is gone
    built = len(compiler_calls)

    again = compile_booster(dump, x.shape[1], tmp_path)
    assert again is not None and len(compiler_calls) == built

    # Garbage of the same name is never loaded: the checksum differs, so it is rebuilt. (A new
    # file, as a damaged disk or copy would leave it: overwriting the mapped one in place would
    # crash this process, which still runs the first library.)
    first.library_path.unlink()
    first.library_path.write_bytes(b"\x7fELF not really a library")
    rebuilt = compile_booster(dump, x.shape[1], tmp_path)
    assert rebuilt is not None and len(compiler_calls) > built
    assert np.array_equal(rebuilt.raw_score(x), booster.predict(x, raw_score=True))


@needs_compiler
def test_another_model_or_machine_gets_another_library(monkeypatch: pytest.MonkeyPatch) -> None:
    source = compiled.c_source(_booster(()).dump_model())
    other = compiled.c_source(_booster((("learning_rate", 0.2),)).dump_model())
    cc = find_compiler()
    assert cc is not None
    key = compiled.cache_key(source, cc)
    assert compiled.cache_key(source, cc) == key
    assert compiled.cache_key(other, cc) != key
    # -march=native code may not run on another CPU: it gets its own library.
    monkeypatch.setattr(compiled, "_cpu_features", lambda: "flags : sse2")
    assert compiled.cache_key(source, cc) != key


def test_without_a_compiler_scoring_falls_back_to_lightgbm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_compiler() is None
    models = trained_models()[0]
    with caplog.at_level(logging.WARNING, logger="models.compiled"):
        fallback = with_compiled_trees(models, tmp_path / "cache")
    assert all(m.compiled is None for m in fallback.categories.values())
    assert "no C compiler found" in caplog.text and "LightGBM" in caplog.text
    features = make_world(days=1, rows_per_day=500, seed=4).features
    matrix = feature_matrix(features, models.feature_names)
    assert {k: v.tolist() for k, v in raw_scores(fallback, matrix).items()} == {
        name: m.booster.predict(matrix, raw_score=True).tolist()
        for name, m in models.categories.items()
    }


def test_a_failing_compiler_or_an_unknown_split_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'broken compiler' >&2\nexit 1\n", encoding="utf-8")
    failing.chmod(0o755)
    dump = _booster(()).dump_model()
    with caplog.at_level(logging.WARNING, logger="models.compiled"):
        assert compile_booster(dump, 6, tmp_path / "cache", compiler=str(failing)) is None
    assert "broken compiler" in caplog.text
    assert not list((tmp_path / "cache").glob("trees-*"))

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.compiled"):
        assert compile_booster(dump, 6, blocked / "cache", compiler=str(failing)) is None
    assert "cannot write" in caplog.text

    rng = np.random.default_rng(2)
    x = np.column_stack([rng.integers(0, 5, 2000), rng.normal(size=2000)]).astype(float)
    y = (x[:, 0] == 3).astype(int)
    categorical = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
        lgb.Dataset(x, y, categorical_feature=[0]),
        num_boost_round=3,
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.compiled"):
        unknown = categorical.dump_model()
        assert compile_booster(unknown, 2, tmp_path / "cache", compiler=str(failing)) is None
    assert "not supported" in caplog.text


@needs_compiler
def test_score_is_the_same_with_and_without_compiled_trees(cache_folder: Path) -> None:
    models = trained_models()[0]
    fast = with_compiled_trees(models, cache_folder, threads=2)
    assert all(m.compiled is not None for m in fast.categories.values())
    features = make_world(days=2, rows_per_day=3000, seed=12).features
    explain = ExplainTop(rows=30, share=0.0)
    assert score(fast, features, explain=explain).equals(score(models, features, explain=explain))


@needs_compiler
def test_training_compiles_so_the_first_night_only_loads(
    tmp_path: Path, compiler_calls: list[list[str]]
) -> None:
    from pipelines.score import compiled_trees_folder, score_day
    from tests.factories.model_world import SCORE_DAY, home_world, train_home, write_home

    world = home_world()
    settings = write_home(tmp_path, world.features, world.outcomes)
    train_home(settings)
    libraries = sorted(compiled_trees_folder(settings).glob("trees-*.so"))
    assert len(libraries) == 2 and compiler_calls  # one library per category
    built = len(compiler_calls)
    score_day(settings, SCORE_DAY)
    assert len(compiler_calls) == built
