"""Measure the hand-written metrics and Platt calibration (models/) against scikit-learn's.

Not part of the project's dependencies: run it with scikit-learn on the path, e.g.

    uv venv /tmp/sk --python .venv/bin/python && uv pip install --python /tmp/sk/bin/python \
        scikit-learn==1.9.1
    SKLEARN_SITE=/tmp/sk/lib/python3.11/site-packages nice .venv/bin/python \
        scripts/measure_kept_libraries.py

numpy and scipy come from the project's venv; scikit-learn (and joblib, threadpoolctl) from the
other folder. Prints one line per comparison: values, largest difference and time per call.
Data: scores with ties and a base rate near the project's (1 in 500), fixed seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.append(os.environ["SKLEARN_SITE"])

from sklearn.calibration import _sigmoid_calibration, calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from models.calibration import fit_platt
from models.evaluation import auc, average_precision, reliability


def best_of(work: Callable[[], Any], repeats: int = 5) -> tuple[Any, float]:
    """The result and the fastest of `repeats` wall times (the machine is shared)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return result, min(times)


def world(rows: int, seed: int, coarse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 1 / 500).astype(np.float64)
    raw = rng.normal(-6.0, 1.5, rows) + 2.0 * labels
    if coarse:  # a rules-only count: few distinct values, many ties
        raw = np.round(raw)
    weights = rng.choice([1.0, 20.0, 200.0], size=rows, p=[0.5, 0.3, 0.2])
    return raw, labels, weights


def import_seconds(module: str, with_sklearn: bool) -> float:
    """Fastest of three fresh-process imports of `module`, scikit-learn importable or not."""
    path = f"import sys; sys.path.append({os.environ['SKLEARN_SITE']!r}); " if with_sklearn else ""
    code = f"{path}import time; t = time.perf_counter(); import {module}; "
    code += "print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    return min(runs)


def compare(rows: int, coarse: bool) -> None:
    """One line per comparison on one generated data set."""
    raw, y, w = world(rows, seed=rows + coarse, coarse=coarse)
    tag = f"{rows:>9,} rows, {'coarse (ties)' if coarse else 'continuous'}:"
    ours, t_ours = best_of(lambda: auc(raw, y))
    theirs, t_theirs = best_of(lambda: roc_auc_score(y, raw))
    print(
        f"{tag} AUC ours {ours:.12f} ({t_ours * 1e3:.1f} ms) sklearn {theirs:.12f} "
        f"({t_theirs * 1e3:.1f} ms) diff {abs(ours - theirs):.1e}"
    )
    ours, t_ours = best_of(lambda: average_precision(raw, y))
    theirs, t_theirs = best_of(lambda: average_precision_score(y, raw))
    print(
        f"{tag} AP  ours {ours:.6f} ({t_ours * 1e3:.1f} ms) sklearn {theirs:.6f} "
        f"({t_theirs * 1e3:.1f} ms) diff {abs(ours - theirs):.1e}"
    )
    ours, t_ours = best_of(lambda: fit_platt(raw, y, w))
    (a, b), t_theirs = best_of(lambda: _sigmoid_calibration(raw, y, w))
    # sklearn's convention: p = 1 / (1 + exp(a * f + b)).
    p_ours = ours.apply(raw)
    p_theirs = 1 / (1 + np.exp(a * raw + b))
    print(
        f"{tag} Platt ours slope {ours.slope:.5f} intercept {ours.intercept:.5f} "
        f"({t_ours * 1e3:.1f} ms) sklearn slope {-a:.5f} intercept {-b:.5f} "
        f"({t_theirs * 1e3:.1f} ms); largest probability diff "
        f"{np.max(np.abs(p_ours - p_theirs)):.1e}, mean p ours "
        f"{np.average(p_ours, weights=w):.6f} sklearn {np.average(p_theirs, weights=w):.6f} "
        f"observed {np.average(y, weights=w):.6f}"
    )
    curve, t_ours = best_of(lambda: reliability(p_ours, y))
    (obs, pred), t_theirs = best_of(
        lambda: calibration_curve(y, p_ours, n_bins=10, strategy="quantile")
    )
    print(
        f"{tag} reliability ours {curve.height} bins ({t_ours * 1e3:.1f} ms), "
        f"sklearn quantile {len(pred)} bins ({t_theirs * 1e3:.1f} ms); "
        f"top bin observed ours {curve['observed'][-1]:.4f} sklearn {obs[-1]:.4f}"
    )


def main() -> None:
    # LightGBM imports scikit-learn whenever it is installed (for its sklearn API).
    for module in ("lightgbm", "models.evaluation"):
        print(
            f"import {module}: {import_seconds(module, with_sklearn=False):.2f} s without "
            f"scikit-learn installed, {import_seconds(module, with_sklearn=True):.2f} s with"
        )
    print(f"import sklearn.metrics: {import_seconds('sklearn.metrics', with_sklearn=True):.2f} s")
    for rows in (10_000, 1_000_000):
        for coarse in (False, True):
            compare(rows, coarse)


if __name__ == "__main__":
    main()
