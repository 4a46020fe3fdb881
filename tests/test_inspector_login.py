"""Signing in under attack, against a real uvicorn server on 127.0.0.1 (issue 14, item 8).

Clients bind their own loopback addresses (127.0.0.2, 127.0.0.3, ...) so the server sees
different addresses, as it would for different machines. Thread counts and timeouts are bounded.
Nothing here asserts a time: memory is asserted, as bounded hashing is about memory.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import anyio
import httpx
import psutil
import pytest
from sqlalchemy import func, select

from inspector import audit
from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.db import AuditEvent, LoginAttempt, make_engine, session_factory
from inspector.login import GateFullError, HashingGate
from inspector.sample import build_sample_home
from pipelines.settings import Settings, load_settings
from tests.e2e.live_server import live_server

DAY = date(2026, 3, 10)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("login") / "home"
    build_sample_home(home, DAY)
    settings = load_settings(environ={}, home=home)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    # One inspector per test below, so the tests share a server without sharing a throttle.
    for name in ("ina", "ivo", "ida"):
        create_user(settings, name, PASSWORD, "inspector", ["NLRTM"], config=config)
    create_user(settings, "sam", PASSWORD, "supervisor", [], config=config)
    return settings


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    # Room for every concurrent request to reach the throttle: these tests are about counting.
    with live_server(settings.home, login_slots=8, login_queue=64) as base:
        yield base


class Browser:
    """One client on its own loopback address, with its login form's CSRF token."""

    def __init__(self, base: str, address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        self.client = httpx.Client(base_url=base, transport=transport, timeout=TIMEOUT)
        found = CSRF.search(self.client.get("/login").text)
        assert found, "the login form carries a CSRF token"
        self.token = found[1]

    def login(self, username: str, password: str) -> int:
        data = {"username": username, "password": password, "csrf_token": self.token}
        return self.client.post("/login", data=data).status_code

    def close(self) -> None:
        self.client.close()


def _count(settings: Settings, *conditions: object) -> int:
    engine = make_engine(InspectorConfig.from_settings(settings).database_url)
    try:
        with session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).where(*conditions)) or 0)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _audit_chain_intact(settings: Settings) -> bool:
    engine = make_engine(InspectorConfig.from_settings(settings).database_url)
    try:
        with session_factory(engine)() as session:
            return audit.verify(session).intact
    finally:
        engine.dispose()


def _simultaneously(browsers: list[Browser], username: str, password: str) -> Counter[int]:
    """Every browser posts the login at the same moment; the answers' status codes."""
    barrier = threading.Barrier(len(browsers), timeout=TIMEOUT)

    def post(browser: Browser) -> int:
        barrier.wait()
        return browser.login(username, password)

    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        return Counter(pool.map(post, browsers, timeout=TIMEOUT))


def test_forty_simultaneous_guesses_check_at_most_five(settings: Settings, server: str) -> None:
    browsers = [Browser(server, "127.0.0.2") for _ in range(40)]
    try:
        answers = _simultaneously(browsers, "ina", "not the password")
    finally:
        for browser in browsers:
            browser.close()
    assert set(answers) <= {401, 429}, answers
    assert 1 <= answers[401] <= 5, answers  # the limit is 5 in 15 minutes
    assert answers[429] == 40 - answers[401]
    # Every checked guess is on record, and nothing more.
    assert _count(settings, LoginAttempt.username == "ina") == answers[401]
    failed = _count(settings, AuditEvent.username == "ina", AuditEvent.action == "login_failed")
    assert failed == answers[401]
    assert _audit_chain_intact(settings)  # concurrent sign-ins keep the audit hash chain whole


def test_the_owner_signs_in_while_an_attacker_is_throttled(server: str) -> None:
    attacker = Browser(server, "127.0.0.3")
    owner = Browser(server, "127.0.0.4")
    typist = Browser(server, "127.0.0.5")
    try:
        assert [attacker.login("ivo", f"guess number {k}") for k in range(5)] == [401] * 5
        assert attacker.login("ivo", "guess number 5") == 429
        # The attacker's address stays refused for this name, even with the right password...
        assert attacker.login("ivo", PASSWORD) == 429
        # ...while the owner, elsewhere, is let in, and may mistype once.
        assert owner.login("ivo", PASSWORD) == 303
        assert typist.login("ivo", "correct horse batery") == 401
        assert typist.login("ivo", PASSWORD) == 303
        # Other names from the attacker's address are still checked.
        assert attacker.login("sam", PASSWORD) == 303
    finally:
        for browser in (attacker, owner, typist):
            browser.close()


def test_an_address_guessing_many_names_is_refused_for_all(server: str) -> None:
    guesser = Browser(server, "127.0.0.6")
    other = Browser(server, "127.0.0.7")
    try:
        answers = [guesser.login(f"name{k}", "some long guess") for k in range(20)]
        assert answers == [401] * 20
        assert guesser.login("ida", PASSWORD) == 429  # the address is throttled for every name
        page = guesser.client.post(
            "/login", data={"username": "sam", "password": PASSWORD, "csrf_token": guesser.token}
        )
        assert page.status_code == 429 and "Too many failed sign-ins" in page.text
        assert "Retry-After" in page.headers
        assert other.login("ida", PASSWORD) == 303
    finally:
        guesser.close()
        other.close()


def _peak_rss_while(pid: int, work: threading.Thread) -> tuple[float, float]:
    """(MiB before, peak MiB) of a process while `work` runs, sampled every 20 ms."""
    process = psutil.Process(pid)
    before = peak = process.memory_info().rss / 2**20
    work.start()
    while work.is_alive():
        peak = max(peak, process.memory_info().rss / 2**20)
        time.sleep(0.02)
    work.join()
    return before, peak


def test_a_login_flood_is_refused_before_hashing(tmp_path: Path) -> None:
    """16 simultaneous logins with real argon2 (64 MiB each): one is hashed at a time."""
    build_sample_home(tmp_path / "home", DAY)
    settings = load_settings(environ={}, home=tmp_path / "home")
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    create_user(settings, "ina", PASSWORD, "inspector", ["NLRTM"], config=config)
    with live_server(
        settings.home, cheap_password_hashing=False, login_slots=1, login_queue=2
    ) as base:
        server_pid = _server_pid(base)
        signed_in = Browser(base, "127.0.0.30")
        assert signed_in.login("ina", PASSWORD) == 303
        flood = [Browser(base, f"127.0.0.{40 + k}") for k in range(16)]
        answers: Counter[int] = Counter()

        def run() -> None:
            answers.update(_simultaneously(flood, "nobody.here", "a random long guess"))

        before, peak = _peak_rss_while(server_pid, threading.Thread(target=run))
        # A signed-in inspector's page is served right after, without signing in again.
        assert signed_in.client.get("/lists").status_code == 200
        for browser in (signed_in, *flood):
            browser.close()
    assert set(answers) <= {401, 503}, answers
    assert answers[503] >= 1, answers  # refused at once, no hash
    assert answers[401] <= 16 - answers[503]
    # Unbounded, 16 hashes at once take 1 GiB; bounded to one slot (and the hash made once for
    # unknown names), the server grows by about one hash.
    assert peak - before < 6 * 64, (before, peak)


def _server_pid(base: str) -> int:
    port = int(base.rsplit(":", 1)[1])
    for connection in psutil.net_connections(kind="tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == "LISTEN":
            assert connection.pid is not None
            return connection.pid
    raise AssertionError(f"nothing listens on {port}")


def test_the_gate_runs_one_check_at_a_time_and_refuses_beyond_its_queue() -> None:
    gate = HashingGate(slots=1, queue=1)
    release = threading.Event()
    running = 0
    most = 0
    lock = threading.Lock()
    outcomes: list[str] = []

    def check() -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(TIMEOUT)
        with lock:
            running -= 1
        return "checked"

    async def one() -> None:
        try:
            outcomes.append(await gate.run(check))
        except GateFullError:
            outcomes.append("refused")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(one)
            await anyio.sleep(0.2)
            assert sorted(outcomes) == ["refused"] * 3  # refused at once, not after waiting
            release.set()

    anyio.run(main)
    assert sorted(outcomes) == ["checked", "checked", "refused", "refused", "refused"]
    assert most == 1
    assert gate.admitted == 0


@pytest.mark.slow
def test_the_login_flood_benchmark_runs_and_writes_its_table(tmp_path: Path) -> None:
    """A tiny run of benchmarks/login_flood.py: it reports every column (no time is asserted)."""
    from benchmarks import login_flood

    out = tmp_path / "login_flood.md"
    text = login_flood.main(
        [
            *("--clients", "4", "--seconds", "3", "--idle-seconds", "1"),
            *("--scenarios", "many-addresses", "--out", str(out)),
        ]
    )
    assert out.read_text(encoding="utf-8") == text
    row = next(line for line in text.splitlines() if line.startswith("| many-addresses"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 11
    requests, checked, throttled, busy, other, unanswered = map(int, cells[1:7])
    assert requests == checked + throttled + busy + other + unanswered > 0
    assert re.fullmatch(r"\d+ → \d+ MB", cells[7])
