"""Login flood benchmark: server memory and a signed-in inspector's page time under random logins.

Run: `nice .venv/bin/python -m benchmarks.login_flood [--clients 60] [--seconds 20]`.
Starts the inspector app with uvicorn on 127.0.0.1 over a sample home, with the production argon2
profile (64 MiB per hash), and one inspector account. Then, per scenario:

1. a signed-in inspector opens an item page every 0.25 s for `--idle-seconds` (nothing else runs);
2. `--clients` clients post logins with random names and passwords as fast as the server answers,
   for `--seconds`, while the inspector keeps opening the page.

Scenarios: `one-address` (every flood client on 127.0.0.1) and `many-addresses` (client k binds
127.0.0.(10+k), as a flood from many machines would arrive). Reported: the answers the flood got
(401 checked and wrong, 429 throttled, 503 busy, transport errors), the server's resident memory
before and at its peak, and the inspector's page time (median and 95th percentile) without and
with the flood (a page blocked for long is loaded fewer times: compare the loads). Printed as a
table and written to `--out` (benchmarks/results/login_flood.md).
Nothing here is asserted: the figures depend on the machine and its load, which are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import re
import statistics
import string
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import psutil

from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.live_server import serving
from inspector.sample import build_sample_home, declaration_id
from pipelines.io import write_text
from pipelines.settings import load_settings

RESULTS = Path(__file__).parent / "results" / "login_flood.md"
DAY = date(2026, 3, 10)
USER = "ina.bench"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCENARIOS = ("one-address", "many-addresses")
PROBE_EVERY = 0.25


@dataclass
class Outcome:
    """What one scenario measured."""

    scenario: str
    answers: Counter[str] = field(default_factory=Counter)
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    idle_ms: list[float] = field(default_factory=list)
    flood_ms: list[float] = field(default_factory=list)
    probe_failures: int = 0


def _sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    token = CSRF.search(client.get("/login").text)
    if token is None:
        raise RuntimeError("the login page carries no CSRF token")
    data = {"username": USER, "password": PASSWORD, "csrf_token": token[1]}
    answer = client.post("/login", data=data)
    if answer.status_code != 303:
        raise RuntimeError(f"the inspector could not sign in: {answer.status_code}")
    return client


def _probe(client: httpx.Client, seconds: float, times: list[float]) -> int:
    """Open the item page every PROBE_EVERY s for `seconds`; page times in ms; failures."""
    url = f"/lists/{DAY}/NLRTM/item?declaration_id={declaration_id('NLRTM', DAY, 1)}&item_no=1"
    failures = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            ok = client.get(url).status_code == 200
        except httpx.TransportError:
            ok = False
        elapsed = time.perf_counter() - started
        if ok:
            times.append(elapsed * 1000)
        else:
            failures += 1
        time.sleep(max(0.0, PROBE_EVERY - elapsed))
    return failures


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=size))


async def _flood_client(base: str, address: str, seconds: float, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    answers: Counter[str] = Counter()
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=base, timeout=60, transport=transport) as client:
        end = time.monotonic() + seconds
        token = None
        while time.monotonic() < end:
            try:
                if token is None:
                    found = CSRF.search((await client.get("/login")).text)
                    token = found[1] if found else ""
                data = {
                    "username": _random_text(rng, 8),
                    "password": _random_text(rng, 14),
                    "csrf_token": token,
                }
                answer = await client.post("/login", data=data)
                answers[str(answer.status_code)] += 1
            except httpx.TransportError:  # a timeout or a refused connection: no answer
                answers["error"] += 1
                await asyncio.sleep(0.05)
    return answers


async def _flood_all(base: str, addresses: list[str], seconds: float) -> Counter[str]:
    tasks = [_flood_client(base, address, seconds, seed) for seed, address in enumerate(addresses)]
    # In-flight requests may outlive the deadline; give them a bounded grace.
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 90)
    total: Counter[str] = Counter()
    for answers in results:
        total.update(answers)
    return total


def _flood_process(
    base: str, addresses: list[str], seconds: float, queue: multiprocessing.Queue[Counter[str]]
) -> None:
    queue.put(asyncio.run(_flood_all(base, addresses, seconds)))


def _sample_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        except psutil.Error:
            return
        time.sleep(0.1)


def run_scenario(
    base: str, pid: int, scenario: str, *, clients: int, seconds: float, idle: float
) -> Outcome:
    """One scenario against a running server (see the module docstring)."""
    outcome = Outcome(scenario)
    inspector = _sign_in(base)
    try:
        outcome.probe_failures += _probe(inspector, idle, outcome.idle_ms)
        outcome.rss_before_mb = psutil.Process(pid).memory_info().rss / 2**20
        if scenario == "one-address":
            addresses = ["127.0.0.1"] * clients
        else:
            addresses = [f"127.0.0.{10 + k}" for k in range(clients)]
        # The flood runs in its own process so its event loop does not slow the probe's timing.
        queue: multiprocessing.Queue[Counter[str]] = multiprocessing.Queue()
        flood = multiprocessing.Process(
            target=_flood_process, args=(base, addresses, seconds, queue)
        )
        peak = [outcome.rss_before_mb]
        stop = threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(pid, stop, peak))
        sampler.start()
        flood.start()
        time.sleep(1.0)  # let the flood build up before timing the page
        outcome.probe_failures += _probe(inspector, seconds - 1.0, outcome.flood_ms)
        outcome.answers = queue.get(timeout=seconds + 120)
        flood.join(timeout=30)
        stop.set()
        sampler.join()
        outcome.rss_peak_mb = peak[0]
    finally:
        inspector.close()
    return outcome


def _quantiles(times: list[float]) -> str:
    if len(times) < 2:
        return "n/a"
    p95 = statistics.quantiles(times, n=20)[-1]
    return f"{statistics.median(times):.0f} / {p95:.0f} / {max(times):.0f} ({len(times)})"


def render(outcomes: list[Outcome], args: argparse.Namespace, started: datetime) -> str:
    """The results as a Markdown table with how and where they were measured."""
    load = os.getloadavg()
    lines = [
        "# Login flood: server memory and a signed-in inspector's page time",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average after the "
        f"run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (the machine is shared).",
        f"Command: `python -m benchmarks.login_flood --clients {args.clients} "
        f"--seconds {args.seconds:g} --idle-seconds {args.idle_seconds:g}`"
        + (f" ({args.label})" if args.label else "")
        + ".",
        f"Flood: {args.clients} clients posting random names and passwords for "
        f"{args.seconds:g} s; the production argon2 profile (64 MiB, 3 passes per hash). "
        "Page time: a signed-in inspector opening an item page every 0.25 s.",
        "",
        "| scenario | flood requests | 401 checked | 429 throttled | 503 busy | other | "
        "no answer | server RSS before → peak | page ms median / p95 / max (loads), idle "
        "| under flood | page failures |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        total = sum(o.answers.values())
        named = sum(o.answers[k] for k in ("401", "429", "503", "error"))
        lines.append(
            f"| {o.scenario} | {total} | {o.answers['401']} | {o.answers['429']} | "
            f"{o.answers['503']} | {total - named} | {o.answers['error']} | "
            f"{o.rss_before_mb:.0f} → {o.rss_peak_mb:.0f} MB | "
            f"{_quantiles(o.idle_ms)} | {_quantiles(o.flood_ms)} | {o.probe_failures} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Run the scenarios, print the table and write it to --out; returns the text."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="", help="a note printed with the command")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 200:
        parser.error("--clients must lie between 1 and 200")
    started = datetime.now(UTC)
    outcomes = []
    for scenario in args.scenarios:
        # A fresh home and server per scenario: the first one's throttle state stays out.
        with tempfile.TemporaryDirectory(prefix="login-flood-") as work:
            home = Path(work) / "home"
            build_sample_home(home, DAY)
            settings = load_settings(environ={}, home=home)
            create_user(
                settings,
                USER,
                PASSWORD,
                "inspector",
                ["NLRTM"],
                config=InspectorConfig.from_settings(settings),
            )
            with serving(home, 120) as server:  # production argon2: no options
                base, pid = server.base, server.pid
                outcomes.append(
                    run_scenario(
                        base,
                        pid,
                        scenario,
                        clients=args.clients,
                        seconds=args.seconds,
                        idle=args.idle_seconds,
                    )
                )
    text = render(outcomes, args, started)
    print(text)
    write_text(text, args.out)
    return text


if __name__ == "__main__":
    main()
