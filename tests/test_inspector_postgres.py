"""The inspector app's storage on a real PostgreSQL server (psycopg 3): the migrations, the audit
log's guards and hash chain, and the two locks that order concurrent writers (the audit chain's
and the sign-in throttle's), which SQLite takes differently.

The app's own tests (test_inspector_app, test_inspector_export) also run on PostgreSQL through
the `inspector_database_url` fixture; this module covers what only PostgreSQL can show.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy.exc
from alembic import command
from sqlalchemy import Engine, func, select, text

from inspector import audit
from inspector.db import AuditEvent, LoginAttempt, make_engine, session_factory, transaction
from inspector.migrate import alembic_config, upgrade
from inspector.throttle import ThrottlePolicy, begin_attempt
from tests.factories.postgres import fresh_postgres_database, postgres_unavailable

WRITERS = 8
EVENTS_EACH = 15


@pytest.fixture
def engine() -> Iterator[Engine]:
    missing = postgres_unavailable()
    if missing:
        pytest.skip(f"{missing}: run `scripts/services.sh start` (as root) first")
    with fresh_postgres_database("inspector") as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def _verify(engine: Engine) -> audit.ChainCheck:
    with session_factory(engine)() as session:
        return audit.verify(session)


def _together(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in work)


def test_the_migrations_match_the_models_and_rerun_as_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    command.check(alembic_config(engine.url.render_as_string(hide_password=False)))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET detail = 'x' WHERE id = 2",
        "DELETE FROM audit_events WHERE id = 2",
    ],
)
def test_the_server_refuses_rewrites_of_the_audit_log(engine: Engine, statement: str) -> None:
    factory = session_factory(engine)
    with transaction(factory) as session:
        for n in range(3):
            audit.record(session, None, "view", f"list/{n}", username="ina")
    with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"), engine.begin() as db:
        db.execute(text(statement))
    check = _verify(engine)
    assert check.intact and check.rows == 3


def test_concurrent_writers_keep_one_unbroken_chain(engine: Engine) -> None:
    """Eight sessions append at once, each in short transactions: every row must chain onto the
    row before it, which holds only if the advisory lock orders the read of the newest hash."""
    factory = session_factory(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(EVENTS_EACH):
                with transaction(factory) as session:
                    audit.record(session, None, "view", f"w{writer}/{n}", username=f"u{writer}")
                    if n % 5 == 0:  # and some flushes of several rows
                        audit.record(session, None, "export", f"w{writer}/{n}b", username="sys")
        except BaseException as error:
            errors.append(error)

    _together([threading.Thread(target=write, args=(w,)) for w in range(WRITERS)])
    assert not errors, errors
    check = _verify(engine)
    assert check.rows == WRITERS * (EVENTS_EACH + 3)
    assert check.intact, check
    with engine.connect() as db:
        hashes = db.execute(select(func.count(func.distinct(AuditEvent.chain_hash)))).scalar()
    assert hashes == check.rows


def test_simultaneous_guesses_are_let_through_at_most_the_policy_allows(engine: Engine) -> None:
    """Thirty attempts on one name from one address at once: the throttle's lock must let exactly
    five through (each decision sees the pending rows of those before it)."""
    factory = session_factory(engine)
    policy = ThrottlePolicy()
    allowed: list[int] = []
    start = threading.Barrier(30)

    def guess() -> None:
        start.wait()
        decision = begin_attempt(factory, policy, "ina", "10.0.0.9")
        if decision.attempt_id is not None:
            allowed.append(decision.attempt_id)

    _together([threading.Thread(target=guess) for _ in range(30)])
    assert len(allowed) == policy.account_failures
    with engine.connect() as db:
        assert db.execute(select(func.count()).select_from(LoginAttempt)).scalar() == len(allowed)
