"""The assessments zone: one SQLite file holding every pre-loading assessment, every rejected row,
the callers' tokens and the audit log (`layout.assessments_database`).

Grains: `assessments` one row per (declaration_id, item_no, version) assessed, version being the
filing's `filed_at` (an amendment re-sends the key with a later one), never updated; `rejections`
one row per (rejected row, broken rule) of a request, as the quarantine holds them; `tokens` one row
per caller token (only its SHA-256 is kept); `audit` one row per request or token change, never
updated or deleted. Each request is written in one transaction, so it is stored whole or not at all.
SQLite in WAL mode lets the night and the intraday DAG read while the service writes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000
TOKEN_PREFIX = "crk"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    system TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS assessments (
    declaration_id TEXT NOT NULL,
    item_no INTEGER NOT NULL,
    version TEXT NOT NULL,
    filing_date TEXT NOT NULL,
    answer TEXT NOT NULL,
    risk_score REAL NOT NULL,
    cbrn_score REAL,
    salw_score REAL,
    reasons TEXT NOT NULL,
    rule_hits TEXT NOT NULL,
    watchlist_hits TEXT NOT NULL,
    model_version TEXT NOT NULL,
    history_as_of TEXT NOT NULL,
    provisional_history INTEGER NOT NULL,
    system TEXT NOT NULL,
    source TEXT NOT NULL,
    request_id TEXT NOT NULL,
    assessed_at TEXT NOT NULL,
    declaration TEXT NOT NULL,
    PRIMARY KEY (declaration_id, item_no, version)
);
CREATE INDEX IF NOT EXISTS assessments_by_day ON assessments (filing_date);
CREATE TABLE IF NOT EXISTS rejections (
    request_id TEXT NOT NULL,
    system TEXT NOT NULL,
    received_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    field TEXT,
    value TEXT,
    reason TEXT NOT NULL,
    rule TEXT,
    original TEXT
);
CREATE TABLE IF NOT EXISTS intraday_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    assessed INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    system TEXT NOT NULL,
    action TEXT NOT NULL,
    request_id TEXT,
    detail TEXT NOT NULL
);
"""

ASSESSMENT_COLUMNS = (
    "declaration_id",
    "item_no",
    "version",
    "filing_date",
    "answer",
    "risk_score",
    "cbrn_score",
    "salw_score",
    "reasons",
    "rule_hits",
    "watchlist_hits",
    "model_version",
    "history_as_of",
    "provisional_history",
    "system",
    "source",
    "request_id",
    "assessed_at",
    "declaration",
)
JSON_COLUMNS = ("reasons", "rule_hits", "watchlist_hits")


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def token_sha256(token: str) -> str:
    """What is stored of a token. Tokens are 256 random bits, so a plain hash cannot be reversed
    by guessing; a slow password hash would cost milliseconds on every call for nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the token's id and the system it was issued to."""

    token_id: str
    system: str


@dataclass(frozen=True)
class Recorded:
    """What one call leaves in the store: its new assessments and how many it replayed, or the
    problems of its rejected rows."""

    caller: Caller
    request_id: str
    source: str
    assessments: Sequence[dict[str, Any]]
    replayed: int
    problems: Sequence[dict[str, Any]]


class AssessmentStore:
    """The SQLite file of the assessments zone, shared by the threads of one process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _audit(
        self,
        db: sqlite3.Connection,
        system: str,
        action: str,
        request_id: str | None,
        **detail: Any,
    ) -> None:
        db.execute(
            "INSERT INTO audit (at, system, action, request_id, detail) VALUES (?, ?, ?, ?, ?)",
            (utc_now().isoformat(), system, action, request_id, json.dumps(detail, sort_keys=True)),
        )

    # Tokens.

    def create_token(self, system: str) -> tuple[str, str]:
        """A new token for `system`: (token id, the token itself, shown once and never stored)."""
        if not system.strip():
            raise ValueError("a token needs the name of the calling system")
        token_id = secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tokens (token_id, system, token_sha256, created_at) VALUES (?,?,?,?)",
                (token_id, system, token_sha256(token), utc_now().isoformat()),
            )
            self._audit(db, system, "token_created", None, token_id=token_id)
        return token_id, token

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token; False when no live token has this id."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT system FROM tokens WHERE token_id = ? AND revoked_at IS NULL", (token_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ?",
                (utc_now().isoformat(), token_id),
            )
            self._audit(db, str(row[0]), "token_revoked", None, token_id=token_id)
        return True

    def tokens(self) -> list[dict[str, Any]]:
        """Every token issued (never the token itself)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT token_id, system, created_at, revoked_at FROM tokens ORDER BY created_at"
            ).fetchall()
        return [
            dict(zip(("token_id", "system", "created_at", "revoked_at"), r, strict=True))
            for r in rows
        ]

    def caller(self, token: str) -> Caller | None:
        """The live token's caller, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT token_id, system FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL",
                (token_sha256(token),),
            ).fetchone()
        return None if row is None else Caller(str(row[0]), str(row[1]))

    # Assessments.

    def stored(
        self, keys: Sequence[tuple[str, int, str]]
    ) -> dict[tuple[str, int, str], dict[str, Any]]:
        """Stored assessments of (declaration_id, item_no, version) keys, by key."""
        found: dict[tuple[str, int, str], dict[str, Any]] = {}
        if not keys:
            return found
        with self._lock:
            for start in range(0, len(keys), 300):
                chunk = keys[start : start + 300]
                where = " OR ".join(
                    ["(declaration_id = ? AND item_no = ? AND version = ?)"] * len(chunk)
                )
                args = [value for key in chunk for value in key]
                rows = self._db.execute(
                    f"SELECT {', '.join(ASSESSMENT_COLUMNS)} FROM assessments WHERE {where}",
                    args,
                ).fetchall()
                for row in rows:
                    record = _record(row)
                    found[(record["declaration_id"], record["item_no"], record["version"])] = record
        return found

    def record_batch(self, calls: Sequence[Recorded]) -> None:
        """Store several calls in one transaction (the service's coalesced calls): each call's
        rejected rows, new assessments and audit line, as `record_rejections` and
        `record_assessments` would, all or nothing. Returns once committed."""
        now = utc_now().isoformat()
        with self._transaction() as db:
            for call in calls:
                if call.problems:
                    self._insert_rejections(db, call.caller, call.request_id, now, call.problems)
                    self._audit(
                        db,
                        call.caller.system,
                        "rejected",
                        call.request_id,
                        token_id=call.caller.token_id,
                        source=call.source,
                        rows=len({p["position"] for p in call.problems}),
                    )
                if call.assessments or call.replayed:
                    self._insert_assessments(db, call)

    def record_assessments(
        self,
        caller: Caller,
        request_id: str,
        source: str,
        rows: Sequence[dict[str, Any]],
        replayed: int,
    ) -> None:
        """Store a request's new assessments and its audit line in one transaction (a key already
        stored is left as it was: the first answer stands)."""
        with self._transaction() as db:
            self._insert_assessments(db, Recorded(caller, request_id, source, rows, replayed, []))

    def _insert_assessments(self, db: sqlite3.Connection, call: Recorded) -> None:
        caller, request_id, source = call.caller, call.request_id, call.source
        rows, replayed = call.assessments, call.replayed
        db.executemany(
            f"INSERT OR IGNORE INTO assessments ({', '.join(ASSESSMENT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(ASSESSMENT_COLUMNS))})",
            [_values(row) for row in rows],
        )
        answers: dict[str, int] = {}
        for row in rows:
            answers[row["answer"]] = answers.get(row["answer"], 0) + 1
        self._audit(
            db,
            caller.system,
            "assessed",
            request_id,
            token_id=caller.token_id,
            source=source,
            new=len(rows),
            replayed=replayed,
            answers=answers,
        )

    def record_rejections(
        self, caller: Caller, request_id: str, source: str, rejected: Sequence[dict[str, Any]]
    ) -> None:
        """Store a refused request's rejected rows (position, field, value, reason, rule)."""
        now = utc_now().isoformat()
        with self._transaction() as db:
            self._insert_rejections(db, caller, request_id, now, rejected)
            self._audit(
                db,
                caller.system,
                "rejected",
                request_id,
                token_id=caller.token_id,
                source=source,
                rows=len({r["position"] for r in rejected}),
            )

    def _insert_rejections(
        self,
        db: sqlite3.Connection,
        caller: Caller,
        request_id: str,
        now: str,
        rejected: Sequence[dict[str, Any]],
    ) -> None:
        db.executemany(
            "INSERT INTO rejections (request_id, system, received_at, position, field, value, "
            "reason, rule, original) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    request_id,
                    caller.system,
                    now,
                    r["position"],
                    r.get("field"),
                    r.get("value"),
                    r["reason"],
                    r.get("rule"),
                    r.get("original"),
                )
                for r in rejected
            ],
        )

    def audit_refusal(self, system: str, action: str, **detail: Any) -> None:
        """Audit a refused call (unknown token, rate limit) without a request body."""
        with self._transaction() as db:
            self._audit(db, system, action, None, **detail)

    def assessments_on(self, day: date, source: str | None = None) -> list[dict[str, Any]]:
        """Every assessment of filings dated `day` (of one source when given), oldest first."""
        query = f"SELECT {', '.join(ASSESSMENT_COLUMNS)} FROM assessments WHERE filing_date = ?"
        args: list[Any] = [day.isoformat()]
        if source is not None:
            query += " AND source = ?"
            args.append(source)
        with self._lock:
            rows = self._db.execute(
                query + " ORDER BY assessed_at, declaration_id, item_no", args
            ).fetchall()
        return [_record(row) for row in rows]

    def rejections(self, request_id: str | None = None) -> list[dict[str, Any]]:
        """Rejected rows (of one request when given)."""
        query = "SELECT request_id, system, position, field, value, reason, rule FROM rejections"
        args: list[Any] = []
        if request_id is not None:
            query += " WHERE request_id = ?"
            args.append(request_id)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        names = ("request_id", "system", "position", "field", "value", "reason", "rule")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def file_assessed(self, sha256: str) -> bool:
        """Whether the intraday run has assessed a landed file with this content."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM intraday_files WHERE sha256 = ?", (sha256,)
            ).fetchone()
        return row is not None

    def mark_file(
        self, sha256: str, name: str, assessed: int, rejected: int, error: str | None
    ) -> None:
        """Record a landed file as assessed (or as unreadable), with its audit line."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO intraday_files VALUES (?, ?, ?, ?, ?, ?)",
                (sha256, name, assessed, rejected, error, utc_now().isoformat()),
            )
            self._audit(
                db,
                "intraday",
                "file_assessed",
                None,
                file=name,
                sha256=sha256,
                assessed=assessed,
                rejected=rejected,
                error=error,
            )

    def audit_events(self) -> list[dict[str, Any]]:
        """The audit log, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT at, system, action, request_id, detail FROM audit ORDER BY event_id"
            ).fetchall()
        return [
            {"at": r[0], "system": r[1], "action": r[2], "request_id": r[3], **json.loads(r[4])}
            for r in rows
        ]


def _values(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        json.dumps(row[c])
        if c in JSON_COLUMNS
        else (int(row[c]) if c == "provisional_history" else row[c])
        for c in ASSESSMENT_COLUMNS
    )


def _record(row: Sequence[Any]) -> dict[str, Any]:
    record = dict(zip(ASSESSMENT_COLUMNS, row, strict=True))
    for column in JSON_COLUMNS:
        record[column] = json.loads(record[column])
    record["provisional_history"] = bool(record["provisional_history"])
    return record
