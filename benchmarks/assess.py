"""Benchmark of the pre-loading assessment service on loopback.

    python -m benchmarks.assess [--home DIR] [--seconds 10] [--out benchmarks/results/assess.md]

Without `--home` it builds a small simulated home (45 days of history at 1,500 rows a day, a
trained champion, one night run) in a temporary folder; with a `--home` that does not exist yet it
builds it there and keeps it. It starts `cargo-risk assess serve` as its own process, issues a
token, and measures: latency p50/p99 and achieved throughput of single-declaration calls offered
open-loop at 50, 200 and 500 requests a second; declarations a second in batches of 100; the
service's resident memory (current and peak); the cost of refreshing the history after a night
(loading models, lists and references, and advancing the history by one staged day). Prints a
Markdown table and writes it to `--out`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _offered(
    url: str, token: str, rows: list[dict[str, Any]], rate: int, seconds: float
) -> dict[str, Any]:
    """Open loop: requests start on a fixed schedule whatever the answers' latency."""
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
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "sent": total,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "achieved": len(ordered) / elapsed,
        "codes": codes,
    }


def _batches(url: str, token: str, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    done = 0
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
            done += BATCH
    elapsed = time.perf_counter() - started
    return {"declarations_per_s": done / elapsed, "p50_ms": 1000 * statistics.median(calls)}


def _fresh_rows(rows: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
    """Rows with new declaration ids, so every call is scored (not replayed from the store)."""
    return [{**r, "declaration_id": f"{tag}{i:07d}"} for i, r in enumerate(rows)]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, help="a home with a night run; built (and kept) there if missing"
    )
    parser.add_argument("--date", help="the night's date in --home (default: newest staged)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/assess.md"))
    args = parser.parse_args()
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
    refresh = _refresh_cost(home, night)

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
    port = _free_port()
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
        _offered(url, token, _fresh_rows(rows, "WARM"), 20, 2)
        singles = [
            _offered(url, token, _fresh_rows(rows, f"R{rate}-"), rate, args.seconds)
            for rate in RATES
        ]
        batch = _batches(url, token, _fresh_rows(rows * 40, "B"), args.seconds)
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
        "| calls | offered / s | achieved / s | p50 ms | p99 ms | answers |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in singles:
        lines.append(
            f"| 1 declaration | {s['rate']} | {s['achieved']:.0f} | {s['p50_ms']:.1f} | "
            f"{s['p99_ms']:.1f} | {s['codes']} |"
        )
    lines += [
        "",
        "| measure | value |",
        "|---|---:|",
        f"| declarations / s, batches of {BATCH}, one caller | {batch['declarations_per_s']:.0f} |",
        f"| batch of {BATCH}, p50 ms | {batch['p50_ms']:.1f} |",
        f"| service RSS after the runs, MB | {rss:.0f} |",
        f"| service peak RSS, MB | {peak:.0f} |",
        f"| refresh after a night (load + one day of history), s | {refresh:.2f} |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    holder.cleanup()


if __name__ == "__main__":
    main()
