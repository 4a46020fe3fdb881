"""Benchmark of the pre-loading assessment service on loopback.

    python -m benchmarks.assess [--home DIR] [--seconds 10] [--out benchmarks/results/assess.md]

Without `--home` it builds a small simulated home (45 days of history at 1,500 rows a day, a
trained champion, one night run) in a temporary folder; with a `--home` that does not exist yet it
builds it there and keeps it. It starts `cargo-risk assess serve` as its own process, issues a
token, and measures: latency p50/p99 and achieved throughput of single-declaration calls offered
open-loop at 50, 200 and 500 requests a second (`--rates`), with how many calls the service joined
into a pass and its CPU per call; declarations a second in batches of 100; the
service's resident memory (current and peak); the cost of refreshing the history after a night
(loading models, lists and references, and advancing the history by one staged day). Prints a
Markdown table and writes it to `--out`.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from pipelines.loopback import free_loopback_port

RATES = (50, 200, 500)
BATCH = 100


def build_home(root: Path, days: int = 45, per_day: int = 1500) -> tuple[Path, date]:
    """A home whose last day's night has run, with a champion trained on the days before."""
    from pipelines import nightly
    from pipelines.outcomes import import_outcome_files
    from pipelines.settings import load_settings
    from pipelines.staging import ingest_and_stage
    from pipelines.train import train_models
    from pipelines.watchlists.shipped import load_shipped
    from simulator.stage import simulate_world

    start = date(2026, 1, 1)
    night = start + timedelta(days=days - 1)
    settings = load_settings(environ={}, home=root)
    result = simulate_world(settings, start, days, per_day, threat_rate=0.01, seed=11)
    load_shipped(settings)
    moment = datetime(night.year, night.month, night.day, 1, tzinfo=UTC)
    ingest_and_stage(
        [p for p in result.declaration_files if night.isoformat() not in p.name],
        settings,
        now=moment,
    )
    import_outcome_files(
        [p for p in result.outcome_files if night.isoformat() not in p.name], settings
    )
    for offset in range(days - 1):
        nightly.featurize(settings, start + timedelta(days=offset))
    train_models(settings, night - timedelta(days=1), moment)
    nightly.run_night(settings, night)
    return root, night


def _rows(home: Path, day: date) -> list[dict[str, Any]]:
    from contracts.declarations import DECLARATIONS
    from pipelines import layout
    from pipelines.settings import load_settings

    staged = pl.read_parquet(
        layout.staged_declarations_file(load_settings(environ={}, home=home), day)
    )
    out = []
    for row in staged.select(DECLARATIONS.names).iter_rows(named=True):
        record = {}
        for name, value in row.items():
            if isinstance(value, datetime):
                record[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(value, date):
                record[name] = value.isoformat()
            else:
                record[name] = value
        out.append(record)
    return out


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _service_counts(base: str, pid: int) -> tuple[int, int, float]:
    """The service's passes and calls so far (its /v1/health) and its process CPU seconds."""
    health = httpx.get(f"{base}/v1/health", timeout=10).json()
    ticks = os.sysconf("SC_CLK_TCK")
    # /proc/PID/stat fields 14 and 15 (after the parenthesised name): user and system ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(health["passes"]), int(health["calls"]), (int(fields[11]) + int(fields[12])) / ticks


def _offered(
    url: str,
    token: str,
    rows: list[dict[str, Any]],
    rate: int,
    seconds: float,
    *,
    counts: Callable[[], tuple[int, int, float]] | None = None,
) -> dict[str, Any]:
    """Open loop: requests start on a fixed schedule whatever the answers' latency. With
    `counts` (`_service_counts`), also the calls a pass joined and the service's CPU a call."""
    latencies: list[float] = []
    codes: dict[int | str, int] = {}
    lock = threading.Lock()
    total = int(rate * seconds)
    workers = min(64, max(4, rate // 5))
    schedule = [i / rate for i in range(total)]
    position = iter(range(total))
    started = time.perf_counter()

    def work() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                delay = started + schedule[index] - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                try:
                    status: int | str = client.post(
                        url, json={"declarations": [rows[index % len(rows)]]}
                    ).status_code
                except httpx.HTTPError as error:
                    # A refused or reset connection is an answer of the service under load.
                    status = type(error).__name__
                took = time.perf_counter() - sent
                with lock:
                    latencies.append(took)
                    codes[status] = codes.get(status, 0) + 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    before = counts() if counts else (0, 0, 0.0)
    client_cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    after = counts() if counts else (0, 0, 0.0)
    passes, calls = after[0] - before[0], after[1] - before[1]
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "sent": total,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "achieved": len(ordered) / elapsed,
        "codes": codes,
        "calls_per_pass": calls / passes if passes else math.nan,
        "cpu_ms_per_call": 1000 * (after[2] - before[2]) / len(ordered) if counts else math.nan,
        # The client shares the machine's cores with the service: its CPU competes.
        "client_cpu_ms_per_call": 1000 * client_cpu / len(ordered),
    }


def _batches(url: str, token: str, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    done = replayed = 0
    calls: list[float] = []
    started = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while time.perf_counter() - started < seconds:
            chunk = [rows[(done + i) % len(rows)] for i in range(BATCH)]
            sent = time.perf_counter()
            response = client.post(url, json={"declarations": chunk})
            calls.append(time.perf_counter() - sent)
            if response.status_code != 200:
                raise RuntimeError(f"batch refused: {response.status_code} {response.text[:300]}")
            replayed += sum(bool(a["replayed"]) for a in response.json()["assessments"])
            done += BATCH
    elapsed = time.perf_counter() - started
    return {
        "declarations_per_s": done / elapsed,
        "p50_ms": 1000 * statistics.median(calls),
        "replayed": replayed,
    }


def _fresh_rows(rows: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """Rows with new declaration ids, so every call is scored (not replayed from the store)."""
    return [{**r, "declaration_id": f"{tag}{i:07d}"} for i, r in enumerate(rows)]


def _rows_for(rows: list[dict[str, Any]], count: float, tag: str) -> list[dict[str, Any]]:
    """At least `count` rows cycling through `rows`, each under an id of its own: a step that
    wrapped round its rows would resend ids the service already stored and get replays."""
    return _fresh_rows(rows * max(1, math.ceil(count / len(rows))), tag)


def _refresh_cost(home: Path, night: date) -> float:
    """Seconds to load a fresh generation and advance history past the night (the NIGHT
    snapshot is hidden from this copy, so one staged day is rolled up as after a real night)."""
    import shutil

    from pipelines import layout
    from pipelines.assess.engine import Assessor
    from pipelines.assess.store import AssessmentStore
    from pipelines.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("assessments"))
        settings = load_settings(environ={}, home=copy)
        shutil.rmtree(layout.snapshot_dir(settings, night))
        store = AssessmentStore(layout.assessments_database(settings))
        noon = datetime(night.year, night.month, night.day, 12, tzinfo=UTC)
        started = time.perf_counter()
        assessor = Assessor(settings, store, clock=lambda: noon)
        assessor.warm()
        took = time.perf_counter() - started
        store.close()
    return took


def _in_process(home: Path, night: date, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Without HTTP: one declaration a pass, a batch of 100 a pass, and 20 single-declaration
    calls coalesced into one pass (what the service does under load), in ms."""
    import shutil

    from pipelines.assess.engine import Assessor, Call
    from pipelines.assess.store import AssessmentStore, Caller
    from pipelines.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("assessments"))
        settings = load_settings(environ={}, home=copy)
        store = AssessmentStore(Path(tmp) / "assessments.sqlite")
        noon = datetime(night.year, night.month, night.day, 12, tzinfo=UTC)
        assessor = Assessor(settings, store, clock=lambda: noon)
        assessor.warm()
        caller = Caller("bench", "benchmark")
        fresh = _fresh_rows(rows * 20, "P")
        timings: dict[str, list[float]] = {"single": [], "batch": [], "coalesced": []}
        # CPU seconds of this process (every Polars thread) per pass: on a shared machine the
        # wall time swings with the other work, the CPU a pass costs much less.
        cpu: dict[str, list[float]] = {"single": [], "batch": [], "coalesced": []}
        used = 0
        for step, size, calls in (("single", 1, 1), ("batch", BATCH, 1), ("coalesced", 1, 20)):
            for repeat in range(40 if step == "single" else 10):
                chunk = [
                    Call(
                        fresh[used + i * size : used + (i + 1) * size],
                        caller,
                        f"{step}{repeat}-{i}",
                    )
                    for i in range(calls)
                ]
                used += size * calls
                sent, used_cpu = time.perf_counter(), time.process_time()
                assessor.assess_calls(chunk)
                timings[step].append(time.perf_counter() - sent)
                cpu[step].append(time.process_time() - used_cpu)
        store.close()
    ordered = sorted(timings["single"])
    return {
        "single_p50_ms": 1000 * statistics.median(ordered),
        "single_p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "batch_p50_ms": 1000 * statistics.median(timings["batch"]),
        "coalesced_p50_ms": 1000 * statistics.median(timings["coalesced"]),
        **{f"{step}_cpu_ms": 1000 * statistics.median(cpu[step]) for step in cpu},
    }


def _in_process_lines(inside: dict[str, float]) -> list[str]:
    """The in-process table: wall ms and CPU ms (all threads) per pass."""
    return [
        "| pass | wall ms | CPU ms |",
        "|---|---:|---:|",
        f"| 1 declaration, p50 | {inside['single_p50_ms']:.1f} | {inside['single_cpu_ms']:.1f} |",
        f"| 1 declaration, p99 | {inside['single_p99_ms']:.1f} | |",
        f"| batch of {BATCH}, p50 | {inside['batch_p50_ms']:.1f} | {inside['batch_cpu_ms']:.1f} |",
        f"| 20 single-declaration calls coalesced, p50 | {inside['coalesced_p50_ms']:.1f} | "
        f"{inside['coalesced_cpu_ms']:.1f} |",
    ]


def _year_index(days: int = 365, per_day: int = 100_000) -> dict[str, float]:
    """Memory and look-up time of the history index at a year of history at `per_day`.

    Not simulated (36 M rows would take hours here): state tables are drawn at cardinalities a
    year of such traffic could reach (generous: every party and pair seen often keeps a row),
    with the real schemas, and indexed as the service indexes a night's state.
    """
    import gc

    import numpy as np

    from features.history import ENTITIES, HistoryState, state_schema
    from pipelines.assess.history_index import HistoryIndex

    items = days * per_day
    distinct = {
        "global": 1,
        "shipper": items // 150,
        "consignee": items // 75,
        "pair": items // 30,
        "declarant": 20_000,
        "lane": 60_000,
        "hs6": 5_600,
        "hub": 400,
        "hs6_value": 5_600 * 60,
        "hs2_value": 100 * 60,
    }
    rng = np.random.default_rng(7)

    def table(name: str) -> pl.DataFrame:
        schema = state_schema(next(e for e in ENTITIES if e.name == name))
        n = distinct[name]
        columns: dict[str, Any] = {}
        for column, dtype in schema.items():
            if column == "vpk_bin":
                columns[column] = np.arange(n, dtype=np.int32) % 60
            elif column == "hs6" and name == "hs6_value":
                columns[column] = [f"{i // 60:06d}" for i in range(n)]
            elif column == "hs2" and name == "hs2_value":
                columns[column] = [f"{i // 60:02d}" for i in range(n)]
            elif dtype == pl.String():
                columns[column] = [f"{column[:2].upper()}{i:011d}" for i in rng.permutation(n)]
            elif dtype == pl.Date():
                columns[column] = [date(2026, 1, 1)] * n
            else:
                columns[column] = rng.integers(0, 50, n)
        return pl.DataFrame(columns, schema=schema)

    gc.collect()
    before = _memory_mb(os.getpid())[0]
    state = HistoryState(date(2027, 1, 1), {e.name: table(e.name) for e in ENTITIES})
    started = time.perf_counter()
    index = HistoryIndex(state)
    built = time.perf_counter() - started
    del state
    gc.collect()
    held = _memory_mb(os.getpid())[0]
    probe = pl.DataFrame(
        {
            "shipper_id": ["SH00000000042"],
            "consignee_id": ["CO00000000042"],
            "declarant_id": [None],
            "port_of_loading": ["PO00000000001"],
            "port_of_discharge": ["PO00000000002"],
            "transshipment_ports": [["HU00000000003"]],
            "hs_code": ["00004201"],
        },
        schema_overrides={"declarant_id": pl.String()},
    )
    timings = []
    for _ in range(50):
        sent = time.perf_counter()
        index.slice(probe)
        timings.append(time.perf_counter() - sent)
    return {
        "rows": float(index.rows),
        "index_mb": held - before,
        "peak_mb": _memory_mb(os.getpid())[1],
        "build_s": built,
        "slice_ms": 1000 * statistics.median(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, help="a home with a night run; built (and kept) there if missing"
    )
    parser.add_argument("--date", help="the night's date in --home (default: newest staged)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/assess.md"))
    parser.add_argument(
        "--no-year", action="store_true", help="skip indexing a drawn year of history"
    )
    parser.add_argument(
        "--rates",
        type=lambda text: tuple(int(r) for r in text.split(",")),
        default=RATES,
        help="single-declaration calls offered a second, comma-separated (default 50,200,500)",
    )
    parser.add_argument(
        "--no-batch", action="store_true", help="skip the batches-of-100 step (HTTP runs)"
    )
    parser.add_argument(
        "--in-process-only",
        action="store_true",
        help="measure the engine without HTTP (no service process, no refresh, no year)",
    )
    args = parser.parse_args()
    # First, while this process is small: its memory growth is the index's.
    year = None if args.no_year or args.in_process_only else _year_index()
    holder = tempfile.TemporaryDirectory()
    if args.home is None or not args.home.exists():
        print("building a small simulated home (several minutes)...", flush=True)
        home, night = build_home(args.home or Path(holder.name) / "home")
    else:
        from pipelines import layout
        from pipelines.settings import load_settings

        home = args.home
        staged = layout.partition_days(
            layout.staged_declarations(load_settings(environ={}, home=home))
        )
        night = date.fromisoformat(args.date) if args.date else staged[-1]
    rows = _rows(home, night)
    if args.in_process_only:
        inside = _in_process(home, night, rows)
        load = os.getloadavg()
        text = "\n".join(
            [
                f"In process ({os.cpu_count()} cores, load {load[0]:.1f} {load[1]:.1f}; "
                f"{len(rows)} declarations a day in the home, history {night}):",
                "",
                *_in_process_lines(inside),
            ]
        )
        print(text)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
        holder.cleanup()
        return
    refresh = _refresh_cost(home, night)
    inside = _in_process(home, night, rows)

    env = {
        **os.environ,
        "CARGO_RISK_HOME": str(home),
        "CARGO_RISK_ASSESS_RATE_PER_SECOND": "100000",
        "CARGO_RISK_ASSESS_BURST": "100000",
    }
    cli = [str(Path(sys.executable).parent / "cargo-risk"), "assess"]
    token = (
        subprocess.run(
            [*cli, "token", "create", "benchmark"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_loopback_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/assessments"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        # The night's date is in the past for a real clock: the contract accepts past filings.
        # Ids unique to this run: a home benchmarked before holds the ids of that run, and a
        # call resending one is answered from the store (a replay), not assessed.
        run = uuid.uuid4().hex[:6].upper()
        _offered(url, token, _fresh_rows(rows, f"{run}W"), 20, 2)
        singles = [
            _offered(
                url,
                token,
                _rows_for(rows, rate * args.seconds, f"{run}R{rate}-"),
                rate,
                args.seconds,
                counts=lambda: _service_counts(f"http://127.0.0.1:{port}", server.pid),
            )
            for rate in args.rates
        ]
        # Room for 5,000 declarations a second: no batch wraps round to ids already sent.
        batch = (
            None
            if args.no_batch
            else _batches(url, token, _rows_for(rows, 5000 * args.seconds, f"{run}B"), args.seconds)
        )
        rss, peak = _memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    load = os.getloadavg()
    lines = [
        f"Pre-loading assessment on loopback ({os.cpu_count()} cores, load {load[0]:.1f} "
        f"{load[1]:.1f}; {len(rows)} declarations a day in the home, history {night}); "
        f"{args.seconds:g} s per step, open loop.",
        "",
        "| calls | offered / s | achieved / s | p50 ms | p99 ms | calls a pass | "
        "service CPU ms a call | client CPU ms a call | answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in singles:
        lines.append(
            f"| 1 declaration | {s['rate']} | {s['achieved']:.0f} | {s['p50_ms']:.1f} | "
            f"{s['p99_ms']:.1f} | {s['calls_per_pass']:.1f} | {s['cpu_ms_per_call']:.1f} | "
            f"{s['client_cpu_ms_per_call']:.1f} | {s['codes']} |"
        )
    lines += ["", "| measure | value |", "|---|---:|"]
    if batch is not None:
        lines += [
            f"| declarations / s, batches of {BATCH}, one caller | "
            f"{batch['declarations_per_s']:.0f} |",
            f"| batch of {BATCH}, p50 ms | {batch['p50_ms']:.1f} |",
            f"| batch answers replayed from the store (0: all assessed) | {batch['replayed']} |",
        ]
    lines += [
        f"| service RSS after the runs, MB | {rss:.0f} |",
        f"| service peak RSS, MB | {peak:.0f} |",
        f"| refresh after a night (load + one day of history), s | {refresh:.2f} |",
        "",
        "In process (no HTTP, same home):",
        "",
        *_in_process_lines(inside),
    ]
    if year is not None:
        lines += [
            "",
            "History index for a year at 100 k declarations a day (state tables drawn at that "
            "scale, not simulated):",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| state rows indexed | {year['rows']:,.0f} |",
            f"| memory held by the index, MB | {year['index_mb']:.0f} |",
            f"| peak while building (state + index), MB | {year['peak_mb']:.0f} |",
            f"| build, s | {year['build_s']:.1f} |",
            f"| slice for one declaration, ms | {year['slice_ms']:.1f} |",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    holder.cleanup()


if __name__ == "__main__":
    main()
