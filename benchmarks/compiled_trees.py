"""Compiled trees (an experiment, not used by the nightly run): a booster's raw scores from C.

Grain: one raw score (log-odds) per input row, the sum of the trees' leaf values in LightGBM's
order, so the result equals `booster.predict(matrix, raw_score=True)` bit for bit (tested). Each
tree becomes nested `if`s in C; a C compiler turns them into a shared library loaded with
ctypes. Where no compiler is found, or a model holds splits this generator does not know
(categorical, linear trees), `compile_booster` returns None and callers use LightGBM.
Measured with `python -m benchmarks.scoring` (benchmarks/results/scoring.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_ZERO = "1.0000000180025095e-35"  # LightGBM's kZeroThreshold (1e-35f) as a double
_HEADER = f"""#include <math.h>
#include <stddef.h>
#define IS_ZERO(v) ((v) >= -{_ZERO} && (v) <= {_ZERO})
"""


BLOCK_ROWS = 256
"""Rows scored together, tree after tree (256 rows x 63 features fit in a core's L2 cache)."""


class UnsupportedModelError(ValueError):
    """The model holds a split the generator does not translate."""


def _node(node: Mapping[str, Any], out: list[str], depth: int) -> None:
    pad = "  " * depth
    if "leaf_value" in node:
        out.append(f"{pad}return {float(node['leaf_value'])!r};")
        return
    if node.get("decision_type") != "<=":
        raise UnsupportedModelError(f"decision type {node.get('decision_type')!r}")
    feature = int(node["split_feature"])
    threshold = float(node["threshold"])
    missing = node.get("missing_type", "None")
    default = "1" if node.get("default_left", False) else "0"
    value = f"x[{feature}]"
    # As LightGBM: NaN counts as 0 unless missing values have their own direction.
    if missing == "NaN":
        test = f"(isnan({value}) ? {default} : {value} <= {threshold!r})"
    elif missing == "Zero":
        v = f"(isnan({value}) ? 0.0 : {value})"
        test = f"(IS_ZERO({v}) ? {default} : {v} <= {threshold!r})"
    elif missing == "None":
        test = f"((isnan({value}) ? 0.0 : {value}) <= {threshold!r})"
    else:
        raise UnsupportedModelError(f"missing type {missing!r}")
    out.append(f"{pad}if {test} {{")
    _node(node["left_child"], out, depth + 1)
    out.append(f"{pad}}} else {{")
    _node(node["right_child"], out, depth + 1)
    out.append(f"{pad}}}")


def c_source(dump: Mapping[str, Any]) -> str:
    """C source of `predict(X, n_rows, n_cols, out)` for a LightGBM `dump_model()` dict."""
    if dump.get("objective", "").split(" ")[0] != "binary" or dump.get("num_class", 1) != 1:
        raise UnsupportedModelError(f"objective {dump.get('objective')!r}")
    lines = [_HEADER]
    trees = dump["tree_info"]
    for index, tree in enumerate(trees):
        if tree.get("is_linear"):
            raise UnsupportedModelError("linear trees")
        lines.append(f"static double tree_{index}(const double* x) {{")
        _node(tree["tree_structure"], lines, 1)
        lines.append("}")
    names = ", ".join(f"tree_{index}" for index in range(len(trees)))
    lines.append(
        f"static double (*const TREES[{max(len(trees), 1)}])(const double*) = {{{names}}};"
    )
    # Rows in blocks, trees outside rows: one tree's code stays in cache over a block. Each row
    # still sums its trees in LightGBM's order, so the result is bit for bit the same.
    lines.append(
        f"#define N_TREES {len(trees)}\n"
        f"#define BLOCK {BLOCK_ROWS}\n"
        "void predict(const double* X, long n_rows, long n_cols, double* out) {\n"
        "  for (long i = 0; i < n_rows; i++) out[i] = 0.0;\n"
        "  for (long start = 0; start < n_rows; start += BLOCK) {\n"
        "    long end = start + BLOCK < n_rows ? start + BLOCK : n_rows;\n"
        "    for (int t = 0; t < N_TREES; t++) {\n"
        "      double (*tree)(const double*) = TREES[t];\n"
        "      for (long i = start; i < end; i++) out[i] += tree(X + i * n_cols);\n"
        "    }\n"
        "  }\n"
        "}"
    )
    return "\n".join(lines) + "\n"


@dataclass
class CompiledBooster:
    """A loaded library computing one booster's raw scores."""

    n_features: int
    _predict: Any
    _library: Any

    def raw_score(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Raw scores of the rows of `matrix` (rows x features, float64)."""
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"matrix {matrix.shape} does not have {self.n_features} features")
        rows = np.ascontiguousarray(matrix, dtype=np.float64)
        out = np.empty(rows.shape[0], dtype=np.float64)
        self._predict(rows, rows.shape[0], rows.shape[1], out)
        return out


def compiler() -> str | None:
    """The C compiler on the PATH, if any."""
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def compile_booster(dump: Mapping[str, Any], n_features: int) -> CompiledBooster | None:
    """Compile a `dump_model()` dict; None without a compiler or for an unsupported model."""
    cc = compiler()
    if cc is None:
        return None
    try:
        source = c_source(dump)
    except UnsupportedModelError:
        return None
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="cargo-risk-trees-") as folder:
        c_file = Path(folder) / f"trees_{digest}.c"
        library = Path(folder) / f"trees_{digest}.so"
        c_file.write_text(source, encoding="utf-8")
        # -O1: as fast as -O2 on these branchy functions here, and compiles in half the time.
        built = subprocess.run(
            [cc, "-O1", "-shared", "-fPIC", "-o", str(library), str(c_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            return None
        # The library stays mapped after its file is deleted with the folder.
        loaded = ctypes.CDLL(str(library))
    predict = loaded.predict
    predict.restype = None
    predict.argtypes = [
        np.ctypeslib.ndpointer(dtype=np.float64, ndim=2, flags="C_CONTIGUOUS"),
        ctypes.c_long,
        ctypes.c_long,
        np.ctypeslib.ndpointer(dtype=np.float64, ndim=1, flags="C_CONTIGUOUS"),
    ]
    return CompiledBooster(n_features, predict, loaded)
