"""The app's records in SQLAlchemy: users, outcomes, waivers, the audit log and export runs.

Grains: `users` one row per login account; `outcomes` one row per inspection result recorded for
one list item; `waivers` one row per waived selection of one list item; `audit_events` one row per
view or change, never updated or deleted; `export_runs` one row per export to the landing zone;
`watchlist_clearances` one row per watch-list match cleared as false (withdrawn ones kept).
SQLite (WAL, busy timeout) by default, PostgreSQL by URL; the schema is made by Alembic migrations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from inspector import audit_chain

ROLES = ("inspector", "supervisor", "admin", "data")
"""`data`: the data team, who read the quarantine and the run reports and record no outcome."""
BUSY_TIMEOUT_MS = 30_000
_PENDING_HASH = "audit_chain_pending_hash"


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    """Now, in UTC, to the microsecond."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the app's tables."""


class User(Base):
    """One login account: a role and, for inspectors, the ports they may see."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    ports: Mapped[str] = mapped_column(String(1024), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    @property
    def port_list(self) -> list[str]:
        """The UN/LOCODEs this account is assigned to."""
        return [p for p in self.ports.split(",") if p]

    def may_see_port(self, port: str) -> bool:
        """Inspectors see their own ports only; everyone else sees every port."""
        return self.role != "inspector" or port in self.port_list

    @property
    def visible_ports(self) -> tuple[str, ...] | None:
        """The ports whose data this account may see; None for every port."""
        return tuple(self.port_list) if self.role == "inspector" else None


class Outcome(Base):
    """One inspection result recorded for one list item (the label the models learn from)."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    list_date: Mapped[date] = mapped_column(Date)
    port_of_discharge: Mapped[str] = mapped_column(String(5), index=True)
    declaration_id: Mapped[str] = mapped_column(String(64), index=True)
    item_no: Mapped[int] = mapped_column(Integer)
    selection_reason: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(16))
    finding_category: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    inspector_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    export_n: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Waiver(Base):
    """One waived selection of one list item: the item is released, with a stated reason."""

    __tablename__ = "waivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    list_date: Mapped[date] = mapped_column(Date)
    port_of_discharge: Mapped[str] = mapped_column(String(5), index=True)
    declaration_id: Mapped[str] = mapped_column(String(64), index=True)
    item_no: Mapped[int] = mapped_column(Integer)
    lane: Mapped[str] = mapped_column(String(8))
    selection_reason: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    waived_by: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    waived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    export_n: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Clearance(Base):
    """One watch-list match cleared as false: this party (by fingerprint) against this entry (as
    it reads in the version cleared). Withdrawal stamps the row; it is never deleted."""

    __tablename__ = "watchlist_clearances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    entry_fingerprint: Mapped[str] = mapped_column(String(64))
    party_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    party_name: Mapped[str] = mapped_column(String(512))
    party_country: Mapped[str] = mapped_column(String(8), default="")
    party_id: Mapped[str] = mapped_column(String(128), default="")
    matched_name: Mapped[str] = mapped_column(String(512), default="")
    reason: Mapped[str] = mapped_column(Text)
    cleared_by: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    cleared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEvent(Base):
    """One view or change: who, what, when. Insert-only (triggers refuse updates and deletes)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    chain_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")


def _hold_audit_write_lock(connection: Connection) -> None:
    """Take the database's write lock before the newest audit hash is read.

    pysqlite begins a transaction only at the first write, so without this the read ran outside
    any transaction and two concurrent inserts could both chain onto the same row (seen with 40
    simultaneous sign-ins). Inside a transaction that has already written, the lock is held.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":  # tests/test_inspector_postgres.py
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")


@event.listens_for(AuditEvent, "before_insert")
def _chain_audit_event(_mapper: Any, connection: Connection, target: AuditEvent) -> None:
    # Hash in the inserting transaction, after the newest row, holding the write lock, so two
    # rows cannot chain onto the same predecessor. SQLAlchemy calls this for every row of a flush
    # before it inserts any, so the flush's own newest hash is kept on the connection until the
    # flush ends.
    if _PENDING_HASH not in connection.info:
        _hold_audit_write_lock(connection)
    previous = connection.info.get(_PENDING_HASH) or connection.scalar(
        select(AuditEvent.chain_hash).order_by(AuditEvent.id.desc()).limit(1)
    )
    target.at = target.at or utc_now()
    content = audit_chain.canonical(
        target.at,
        username=target.username,
        role=target.role,
        action=target.action,
        target=target.target or "",
        detail=target.detail or "",
    )
    target.chain_hash = audit_chain.chain_hash(previous or audit_chain.GENESIS, content)
    connection.info[_PENDING_HASH] = target.chain_hash


@event.listens_for(Session, "before_flush")
@event.listens_for(Session, "after_flush")
def _forget_pending_hash(session: Session, _context: Any, *_instances: Any) -> None:
    # Cleared before as well as after: a failed flush must not leave its hash on a pooled
    # connection.
    session.connection().info.pop(_PENDING_HASH, None)


class ExportRun(Base):
    """One export of new outcomes and waivers to the landing zone; `n` names its files."""

    __tablename__ = "export_runs"

    n: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    outcomes: Mapped[int] = mapped_column(Integer)
    waivers: Mapped[int] = mapped_column(Integer)
    outcomes_file: Mapped[str | None] = mapped_column(String(512), nullable=True)
    waivers_file: Mapped[str | None] = mapped_column(String(512), nullable=True)


class LoginAttempt(Base):
    """One sign-in attempt let through to the password check: pending, then failed or ok.

    Grain: one row per attempt checked; rows older than two throttle windows are deleted.
    """

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(8))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; the busy timeout queues writers instead of
    # failing them with "database is locked" under concurrent posts.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite files get their folder, WAL and a busy timeout."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Created owner-only before SQLite opens it; SQLite gives its -wal and -shm files
            # the database file's mode.
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(
            database_url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=20,
            max_overflow=40,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (templates read them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session
