"""Load: 50 concurrent clients post 10,000 outcomes to a real server; none lost or duplicated.

Every 25th post is sent twice with the same idempotency key, as a retry after a lost answer
would be; the database must still hold exactly one outcome per key.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from inspector.accounts import create_user
from inspector.config import InspectorConfig
from inspector.db import Outcome, make_engine, session_factory
from inspector.sample import ITEMS_PER_PORT, build_sample_home, declaration_id
from pipelines.settings import load_settings
from tests.e2e.live_server import live_server

DAY = date(2026, 3, 10)
CLIENTS = 50
POSTS_PER_CLIENT = 200
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _client(base: str, number: int) -> int:
    """Log in, post this client's outcomes (retrying on errors), return the 303s seen."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        login_page = await client.get("/login")
        token = CSRF.search(login_page.text)
        assert token
        credentials = {"username": f"load{number % 5}", "password": PASSWORD}
        for _ in range(100):
            answer = await client.post("/login", data={**credentials, "csrf_token": token[1]})
            if answer.status_code != 503:
                break
            # 50 sign-ins at once overflow the sign-in gate's queue: wait, as a browser user would.
            await asyncio.sleep(0.2)
        assert answer.status_code == 303
        token = CSRF.search((await client.get("/lists")).text)
        assert token
        accepted = 0
        for post in range(POSTS_PER_CLIENT):
            n = 1 + (number + post) % ITEMS_PER_PORT
            data = {
                "csrf_token": token[1],
                "idempotency_key": f"load-{number:02d}-{post:04d}",
                "declaration_id": declaration_id("NLRTM", DAY, n),
                "item_no": "1",
                "result": "no_finding",
            }
            for _ in range(2 if post % 25 == 0 else 1):
                for attempt in range(5):
                    try:
                        answer = await client.post(f"/lists/{DAY}/NLRTM/outcome", data=data)
                    except httpx.TransportError:
                        await asyncio.sleep(0.1 * (attempt + 1))
                        continue
                    if answer.status_code < 500:
                        break
                assert answer.status_code == 303, answer.text[:500]
                accepted += 1
        return accepted


async def _run(base: str) -> list[int]:
    return await asyncio.gather(*(_client(base, k) for k in range(CLIENTS)))


@pytest.mark.slow
def test_fifty_clients_post_ten_thousand_outcomes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_sample_home(home, DAY)
    settings = load_settings(environ={}, home=home)
    config = InspectorConfig.from_settings(settings, cheap_password_hashing=True)
    for k in range(5):
        create_user(settings, f"load{k}", PASSWORD, "inspector", ["NLRTM"], config=config)
    with live_server(home) as base:
        started = time.perf_counter()
        accepted = asyncio.run(asyncio.wait_for(_run(base), timeout=300))
        seconds = time.perf_counter() - started
    expected = {f"load-{c:02d}-{p:04d}" for c in range(CLIENTS) for p in range(POSTS_PER_CLIENT)}
    retries = CLIENTS * len(range(0, POSTS_PER_CLIENT, 25))
    assert sum(accepted) == len(expected) + retries
    engine = make_engine(config.database_url)
    with session_factory(engine)() as session:
        keys = session.scalars(select(Outcome.idempotency_key)).all()
        rows = session.scalar(select(func.count()).select_from(Outcome))
    engine.dispose()
    assert rows == len(expected)  # nothing duplicated
    assert set(keys) == expected  # nothing lost
    # The rate depends on the machine's load, so it is reported (pytest -s), not asserted.
    print(f"{sum(accepted)} posts by {CLIENTS} clients in {seconds:.1f} s")
