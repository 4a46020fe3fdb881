"""Compiled trees: a LightGBM booster's raw scores computed by generated C code.

Grain: one raw score (log-odds) per input row, the sum of the trees' leaf values in LightGBM's
order, so `CompiledBooster.raw_score(X)` equals `booster.predict(X, raw_score=True)` bit for bit.

Why it is fast: the matrix is read column-major (`x[feature * n_rows + i]`, what
`polars.DataFrame.to_numpy()` gives without a transpose), and each small tree is evaluated for
every row without branches (all its splits compared, the leaf picked with bit masks), so the C
compiler turns each row loop into SIMD code. Large trees, where evaluating every split costs more
than mispredicted branches, keep nested `if`s. Row ranges run on several threads (ctypes releases
the GIL). See docs/decisions/0011-compiled-trees.md for the measurements.

The built library is cached in a folder the caller passes, named by a digest of the C source,
the compiler, its flags and the machine, with a checksum beside it: a stale, foreign or corrupted
file is rebuilt, never loaded. A process that built or loaded a library copies it into another
cache folder that lacks it instead of compiling again (the name is the digest of everything the
bytes depend on): a test session or a benchmark trains the same model in many data homes, and
compiling costs seconds per category. Without a C compiler, for splits the generator does not know
(categorical, linear trees) or when compiling fails, `compile_booster` logs why and returns None;
callers then score with LightGBM.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

BLOCK_ROWS = 256
"""Rows scored together, group of trees after group: a block's feature columns stay in cache."""
GROUP_TREES = 16
"""Trees evaluated in one row loop: fewer loops compile faster, at the same speed."""
BRANCHLESS_MAX_LEAVES = 32
"""Above this, evaluating every split of a tree costs more than the branches it saves."""
MIN_ROWS_PER_THREAD = 16_384
"""Below this a thread's start-up costs more than the rows it takes over."""
COMPILE_TIMEOUT_S = 600
FLAG_LADDER: tuple[tuple[str, ...], ...] = (
    # -march=native enables AVX2/AVX-512 (4-5x here); the cache key names the CPU for that reason.
    ("-O1", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-march=native"),
    ("-O1", "-ftree-vectorize"),
    ("-O1",),
)
"""Compiler flags tried in turn: a compiler that refuses one set gets the next."""

_ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float) as a double
_SUFFIX = ".dll" if sys.platform == "win32" else ".so"
_HEADER = """#include <stdint.h>
#include <string.h>
#ifdef _WIN32
#define EXPORT __declspec(dllexport)
#else
#define EXPORT
#endif
/* Picks a's bits where the mask is all ones, b's where it is zero: a select without a branch. */
#define SEL(m, a, b) (((a) & (m)) | ((b) & ~(m)))
typedef void (*group_fn)(const double* restrict, int64_t, int64_t, int64_t, double* restrict);
"""


class UnsupportedModelError(ValueError):
    """The model holds something the generator does not translate."""


def find_compiler() -> str | None:
    """The C compiler on the PATH, if any."""
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _double(value: float) -> str:
    """An exact C literal of a double (hexadecimal float)."""
    if not math.isfinite(value):
        raise UnsupportedModelError(f"non-finite threshold {value!r}")
    return value.hex()


def _bits(value: float) -> str:
    """The IEEE-754 bits of a double as a C unsigned literal."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', value))[0]:016x}ULL"


def _goes_left(node: Mapping[str, Any]) -> str:
    """C expression (0 or 1) for 'row i goes left at `node`', as LightGBM's NumericalDecision.

    LightGBM reads values within +-kZeroThreshold as 0, turns NaN into 0 unless missing values
    have their own direction, sends zeros (and so NaN) the default way when missing means zero,
    else compares `x <= threshold`. Each case is rewritten without branches; `!(x > t)` is true
    for NaN, `x <= t` false.
    """
    if node.get("decision_type") != "<=":
        raise UnsupportedModelError(f"decision type {node.get('decision_type')!r}")
    x = f"X[{int(node['split_feature'])} * n + i]"
    threshold = float(node["threshold"])
    t = _double(threshold)
    default_left = bool(node.get("default_left", False))
    missing = node.get("missing_type", "None")
    z = _double(_ZERO_THRESHOLD)
    is_zero = f"(({x} >= -{z}) & ({x} <= {z}))"
    if missing == "Zero":
        return f"(!({x} > {t}) | {is_zero})" if default_left else f"(({x} <= {t}) & !{is_zero})"
    if missing == "NaN":
        compare = f"!({x} > {t})" if default_left else f"({x} <= {t})"
    elif missing == "None":
        compare = f"!({x} > {t})" if threshold >= 0.0 else f"({x} <= {t})"
    else:
        raise UnsupportedModelError(f"missing type {missing!r}")
    if not -_ZERO_THRESHOLD <= threshold < _ZERO_THRESHOLD:
        return compare  # a value read as 0 falls on the same side as its own value
    # A threshold inside the zero band: values read as 0 go where 0 goes.
    return f"({compare} | {is_zero})" if threshold >= 0.0 else f"({compare} & !{is_zero})"


def _leaves(node: Mapping[str, Any]) -> int:
    if "leaf_value" in node:
        return 1
    return _leaves(node["left_child"]) + _leaves(node["right_child"])


def _branchless(index: int, root: Mapping[str, Any]) -> list[str]:
    masks: list[str] = []

    def pick(node: Mapping[str, Any]) -> str:
        if "leaf_value" in node:
            return _bits(float(node["leaf_value"]))
        mask = f"m{index}_{len(masks)}"
        masks.append(f"    const uint64_t {mask} = -(uint64_t)({_goes_left(node)});")
        left, right = pick(node["left_child"]), pick(node["right_child"])
        return f"SEL({mask}, {left}, {right})"

    leaf = pick(root)
    return [
        *masks,
        f"    {{ const uint64_t bits = {leaf}; double v; memcpy(&v, &bits, 8); acc += v; }}",
    ]


def _branchy(root: Mapping[str, Any]) -> list[str]:
    lines = ["    {", "      double v;"]

    def walk(node: Mapping[str, Any], depth: int) -> None:
        pad = "  " * depth
        if "leaf_value" in node:
            lines.append(f"{pad}v = {_double(float(node['leaf_value']))};")
            return
        lines.append(f"{pad}if ({_goes_left(node)}) {{")
        walk(node["left_child"], depth + 1)
        lines.append(f"{pad}}} else {{")
        walk(node["right_child"], depth + 1)
        lines.append(f"{pad}}}")

    walk(root, 3)
    return [*lines, "      acc += v;", "    }"]


def _groups(trees: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Consecutive trees in loops of at most GROUP_TREES; a branchy tree never shares a loop
    with branchless ones, which would stop the loop from becoming SIMD code."""
    groups: list[list[int]] = []
    kind: bool | None = None
    for index, tree in enumerate(trees):
        small = _leaves(tree["tree_structure"]) <= BRANCHLESS_MAX_LEAVES
        if not groups or kind != small or len(groups[-1]) >= GROUP_TREES:
            groups.append([])
            kind = small
        groups[-1].append(index)
    return groups


def c_source(dump: Mapping[str, Any]) -> str:
    """C source of `predict(X, n_rows, start, end, out)` for a LightGBM `dump_model()` dict.

    `X` is column-major (feature f of row i at `X[f * n_rows + i]`); rows `start..end-1` of
    `out` receive their raw scores.
    """
    objective = str(dump.get("objective", "")).split(" ")[0]
    if objective != "binary" or dump.get("num_tree_per_iteration", 1) != 1:
        raise UnsupportedModelError(f"objective {dump.get('objective')!r}")
    if dump.get("average_output"):
        raise UnsupportedModelError("averaged output (random forest)")
    trees = dump["tree_info"]
    if any(tree.get("is_linear") for tree in trees):
        raise UnsupportedModelError("linear trees")
    parts = [_HEADER]
    groups = _groups(trees)
    for number, members in enumerate(groups):
        lines = [
            f"static void group_{number}(const double* restrict X, int64_t n,"
            " int64_t start, int64_t end, double* restrict out) {",
            "  for (int64_t i = start; i < end; i++) {",
            "    double acc = out[i];",
        ]
        for index in members:
            root = trees[index]["tree_structure"]
            small = _leaves(root) <= BRANCHLESS_MAX_LEAVES
            lines.extend(_branchless(index, root) if small else _branchy(root))
        lines += ["    out[i] = acc;", "  }", "}"]
        parts.append("\n".join(lines))
    names = ", ".join(f"group_{number}" for number in range(len(groups))) or "0"
    parts.append(f"static const group_fn GROUPS[] = {{{names}}};")
    # Trees are summed into each row in LightGBM's order, from 0.0, so the sums are the same
    # doubles; blocks only change which rows are in cache.
    parts.append(
        "EXPORT void predict(const double* X, int64_t n, int64_t start, int64_t end,"
        " double* out) {\n"
        "  for (int64_t i = start; i < end; i++) out[i] = 0.0;\n"
        f"  for (int64_t s = start; s < end; s += {BLOCK_ROWS}) {{\n"
        f"    int64_t e = s + {BLOCK_ROWS} < end ? s + {BLOCK_ROWS} : end;\n"
        f"    for (int g = 0; g < {len(groups)}; g++) GROUPS[g](X, n, s, e, out);\n"
        "  }\n"
        "}"
    )
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class CompiledBooster:
    """A loaded library computing one booster's raw scores, on `threads` threads."""

    n_features: int
    threads: int
    library_path: Path
    _predict: Any
    _library: Any

    def raw_score(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Raw scores of the rows of `matrix` (rows x features; column-major avoids a copy)."""
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"matrix {matrix.shape} does not have {self.n_features} features")
        columns = np.asfortranarray(matrix, dtype=np.float64)
        n_rows = columns.shape[0]
        out = np.empty(n_rows, dtype=np.float64)
        if n_rows == 0:
            return out
        threads = max(1, min(self.threads, n_rows // MIN_ROWS_PER_THREAD))
        bounds = np.linspace(0, n_rows, threads + 1).astype(np.int64).tolist()
        x_address, out_address = columns.ctypes.data, out.ctypes.data

        def run(start: int, end: int) -> None:
            self._predict(x_address, n_rows, start, end, out_address)

        if threads == 1:
            run(0, n_rows)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, bounds[:-1], bounds[1:]))
        return out


def default_threads() -> int:
    """Threads for scoring: every core, at most four (more bring little on memory-bound rows)."""
    return min(os.cpu_count() or 1, 4)


_checked_here: dict[str, Path] = {}
"""Library file name -> where this process last found it checked (built or loaded)."""


def compile_booster(
    dump: Mapping[str, Any],
    n_features: int,
    cache_folder: Path,
    *,
    threads: int | None = None,
    compiler: str | None = None,
) -> CompiledBooster | None:
    """Load (or build and cache) the compiled trees of a `dump_model()` dict.

    None, with a log line saying why, when there is no C compiler, the model holds splits the
    generator does not know, or compiling fails: the caller then scores with LightGBM.
    """
    cc = compiler or find_compiler()
    if cc is None:
        log.warning("compiled trees: no C compiler found (cc, gcc, clang); scoring with LightGBM")
        return None
    try:
        source = c_source(dump)
    except (KeyError, TypeError, ValueError) as error:  # UnsupportedModelError is a ValueError
        log.warning("compiled trees: model not supported (%s); scoring with LightGBM", error)
        return None
    library = cache_folder / f"trees-{cache_key(source, cc)}{_SUFFIX}"
    loaded = _load_checked(library) or _copy_checked(_checked_here.get(library.name), library)
    if loaded is None:
        try:
            failure = _build(cc, source, library)
        except OSError as error:  # a read-only or full cache folder
            failure = f"cannot write {library} ({error})"
        if failure is not None:
            log.warning("compiled trees: %s; scoring with LightGBM", failure)
            return None
        loaded = _load_checked(library)
        if loaded is None:
            log.warning("compiled trees: %s does not load; scoring with LightGBM", library)
            return None
    _checked_here[library.name] = library
    return CompiledBooster(
        n_features=n_features,
        threads=max(1, threads or default_threads()),
        library_path=library,
        _predict=loaded.predict,
        _library=loaded,
    )


def cache_key(source: str, compiler: str) -> str:
    """Digest naming a library: the same source, compiler, flags and machine give the same key."""
    digest = hashlib.sha256()
    resolved = Path(shutil.which(compiler) or compiler).resolve()
    stat = resolved.stat() if resolved.exists() else None
    for part in (
        source,
        str(resolved),
        f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "",
        repr(FLAG_LADDER),
        sys.platform,
        platform.machine(),
        _cpu_features(),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def _cpu_features() -> str:
    """What -march=native compiled for: a library built on one CPU may not run on another."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                # The instruction sets (x86 "flags", Arm "Features"), not a model name that
                # virtual machines often report as a generic "Xeon".
                if line.startswith(("flags", "Features")):
                    return line.strip()
    except OSError:
        pass
    return platform.processor()


def _checksum_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_checked(library: Path) -> ctypes.CDLL | None:
    """A cached library whose checksum matches, with `predict` typed; else None."""
    checksum = _checksum_path(library)
    try:
        if not library.is_file() or checksum.read_text(encoding="ascii").strip() != _sha256(
            library
        ):
            return None
        loaded = ctypes.CDLL(str(library))
    except OSError:
        return None
    predict = loaded.predict
    predict.restype = None
    predict.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.c_int64,
        ctypes.c_void_p,
    ]
    return loaded


def _copy_checked(known: Path | None, library: Path) -> ctypes.CDLL | None:
    """`known` (a library of the same name, in another cache folder) copied to `library` with
    its checksum, and loaded checked; None when there is none or it no longer checks."""
    if known is None or known == library or _load_checked(known) is None:
        return None
    part: Path | None = None
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        # The library first, its checksum last: a reader between the two finds no match and
        # rebuilds, as after a build cut short.
        for source, target in ((known, library), (_checksum_path(known), _checksum_path(library))):
            with tempfile.NamedTemporaryFile(
                dir=library.parent, prefix=".trees-", delete=False
            ) as handle:
                part = Path(handle.name)
                handle.write(source.read_bytes())
            os.replace(part, target)
            part = None
    except OSError:  # a read-only or full cache folder: compile, which says why it fails
        if part is not None:
            part.unlink(missing_ok=True)
        return None
    return _load_checked(library)


def _build(cc: str, source: str, library: Path) -> str | None:
    """Compile `source` into `library` (and its checksum) atomically; the failure, or None."""
    library.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".trees-", dir=library.parent) as folder:
        # A fixed source name keeps the library's bytes the same whichever process builds it.
        c_file = Path(folder) / "trees.c"
        built = Path(folder) / f"trees{_SUFFIX}"
        c_file.write_text(source, encoding="utf-8")
        for flags in FLAG_LADDER:
            command = [cc, *flags, "-shared", "-fPIC", "-o", str(built), str(c_file)]
            try:
                result = subprocess.run(
                    command, capture_output=True, text=True, check=False, timeout=COMPILE_TIMEOUT_S
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                return f"running {cc} failed ({error})"
            if result.returncode == 0 and built.is_file():
                break
            errors.append(f"{' '.join(flags)}: {result.stderr.strip()[:300]}")
        else:
            return f"{cc} could not compile the trees ({'; '.join(errors)})"
        checksum = Path(folder) / "trees.sha256"
        checksum.write_text(_sha256(built) + "\n", encoding="ascii")
        # Library first, checksum last: a reader seeing the new checksum sees the new library.
        os.replace(built, library)
        os.replace(checksum, _checksum_path(library))
    return None
