"""Clearing a watch-list match as false, reviewing and withdrawing clearances (app and CLI).

Grain: one `Clearance` row per match cleared (party fingerprint x list entry as it then read).
Every clearance and withdrawal writes an audit event in the same transaction, then rewrites the
export the screen stage reads (`pipelines.watchlists.clearances`). The matches an item can clear
are worked out again from the staged declaration and the lists in force, so what is cleared is
exactly what the next night will compare against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from inspector import audit
from inspector.db import Clearance, User, utc_now
from pipelines.settings import Settings
from pipelines.watchlists import clearances as export

MIN_REASON = 10
MAX_REASON = 2000
CLEARING_ROLES = ("inspector", "supervisor", "admin")
"""Who may clear: the officer at the item (inspector, supervisor) or the data team (admin)."""


class ClearanceError(ValueError):
    """A clearance or withdrawal that cannot be made (message names the field)."""


@dataclass(frozen=True)
class Match:
    """One watch-list match of one party of a declaration item, as screening sees it now."""

    party_role: str
    party_name: str
    party_country: str
    party_id: str
    list_name: str
    entry_id: str
    matched_name: str
    score: float
    hold: bool
    entry_fingerprint: str
    party_fingerprint: str
    clearance_id: int | None

    @property
    def key(self) -> str:
        """The form value naming this match."""
        return f"{self.party_role}|{self.list_name}|{self.entry_id}"


NIGHT_MARGIN = 0.1
"""Screened alone, an item lacks the night's trade weights (`WatchlistIndex.set_trade_names`), so
its scores can differ a little: entries the night reported are looked for this far below the
threshold."""


def item_matches(
    settings: Settings, declaration: dict[str, Any], night_entries: Sequence[str] = ()
) -> list[Match]:
    """The watch-list matches of a staged declaration item against the lists in force (at the
    threshold, or down to `NIGHT_MARGIN` below it for `night_entries`, the entry ids the night
    reported), each with the active clearance that suppresses it, if any."""
    from pipelines.watchlists.screen import DECLARATION_COLUMNS, screen_declarations

    row = {
        c: None if declaration.get(c) is None else str(declaration[c]) for c in DECLARATION_COLUMNS
    }
    frame = pl.DataFrame([row], schema=dict.fromkeys(DECLARATION_COLUMNS, pl.String()))
    frame = frame.with_columns(pl.col("item_no").cast(pl.Int64))
    threshold = settings.watchlist_threshold
    hits = screen_declarations(frame, settings, threshold - NIGHT_MARGIN).filter(
        (pl.col("score") >= threshold) | pl.col("entry_id").is_in(list(night_entries))
    )
    return [
        Match(
            party_role=h["party_role"],
            party_name=h["party_name"] or "",
            party_country=h["party_country"] or "",
            party_id=h["party_id"] or "",
            list_name=h["list_name"],
            entry_id=h["entry_id"],
            matched_name=h["matched_name"] or "",
            score=h["score"],
            hold=h["hold"],
            entry_fingerprint=h["entry_fingerprint"],
            party_fingerprint=h["party_fingerprint"],
            clearance_id=h["clearance_id"],
        )
        for h in hits.iter_rows(named=True)
    ]


def active_for_parties(session: Session, declaration: dict[str, Any]) -> Sequence[Clearance]:
    """Active clearances of either party of a declaration (by its details as filed now)."""
    prints = [
        export.party_fingerprint(
            declaration.get(f"{role}_name"),
            declaration.get(f"{role}_country"),
            None if declaration.get(f"{role}_id") is None else str(declaration[f"{role}_id"]),
        )
        for role in ("shipper", "consignee")
    ]
    return session.scalars(
        select(Clearance)
        .where(Clearance.party_fingerprint.in_(prints), Clearance.withdrawn_at.is_(None))
        .order_by(Clearance.id)
    ).all()


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise ClearanceError(f"reason: say why the match is false (at least {MIN_REASON} letters)")
    if len(reason) > MAX_REASON:
        raise ClearanceError(f"reason: at most {MAX_REASON} characters")
    return reason


def _target(row: Clearance) -> str:
    return f"clearance {row.id} {row.list_name} {row.entry_id}"


def clear(
    factory: sessionmaker[Session], settings: Settings, user: User, match: Match, reason: str
) -> tuple[Clearance, bool]:
    """Clear a match as false (once: an active clearance of the same key is returned as is);
    audited, then the export is rewritten. Returns the clearance and whether it is new."""
    if user.role not in CLEARING_ROLES:
        raise ClearanceError(f"role: a {user.role} account may not clear watch-list matches")
    reason = _check_reason(reason)
    with factory() as session, session.begin():
        existing = session.scalar(
            select(Clearance).where(
                Clearance.list_name == match.list_name,
                Clearance.entry_id == match.entry_id,
                Clearance.entry_fingerprint == match.entry_fingerprint,
                Clearance.party_fingerprint == match.party_fingerprint,
                Clearance.withdrawn_at.is_(None),
            )
        )
        if existing is not None:
            return existing, False
        row = Clearance(
            list_name=match.list_name,
            entry_id=match.entry_id,
            entry_fingerprint=match.entry_fingerprint,
            party_fingerprint=match.party_fingerprint,
            party_name=match.party_name[:512],
            party_country=match.party_country,
            party_id=match.party_id,
            matched_name=match.matched_name[:512],
            reason=reason,
            cleared_by=user.username,
            user_id=user.id,
            cleared_at=utc_now(),
        )
        session.add(row)
        session.flush()
        detail = (
            f"{match.party_role} '{match.party_name}' ({match.party_country or '-'}) vs "
            f"'{match.matched_name}'; reason: {reason}"
        )
        audit.record(session, user, "clear_watchlist_match", _target(row), detail)
    write_export(factory, settings)
    return row, True


def withdraw(
    factory: sessionmaker[Session], settings: Settings, user: User, clearance_id: int, reason: str
) -> Clearance:
    """Withdraw an active clearance (supervisor, admin, or whoever made it); audited, then the
    export is rewritten, so the next night holds the match again."""
    reason = _check_reason(reason)
    with factory() as session, session.begin():
        row = session.get(Clearance, clearance_id)
        if row is None:
            raise ClearanceError(f"clearance: no clearance {clearance_id}")
        if row.withdrawn_at is not None:
            raise ClearanceError(f"clearance: {clearance_id} was already withdrawn")
        if user.role not in ("supervisor", "admin") and user.username != row.cleared_by:
            raise ClearanceError("role: only a supervisor, an admin or its author may withdraw it")
        row.withdrawn_at = utc_now()
        row.withdrawn_by = user.username
        row.withdraw_reason = reason
        audit.record(session, user, "withdraw_clearance", _target(row), f"reason: {reason}")
    write_export(factory, settings)
    return row


def listed(session: Session, *, include_withdrawn: bool = False) -> Sequence[Clearance]:
    """Clearances, newest first; active ones only unless asked."""
    query = select(Clearance).order_by(Clearance.id.desc())
    if not include_withdrawn:
        query = query.where(Clearance.withdrawn_at.is_(None))
    return session.scalars(query).all()


def write_export(factory: sessionmaker[Session], settings: Settings) -> None:
    """Rewrite the export from every clearance in the database (withdrawn ones included)."""
    with factory() as session:
        rows = [
            {
                "clearance_id": c.id,
                "list_name": c.list_name,
                "entry_id": c.entry_id,
                "entry_fingerprint": c.entry_fingerprint,
                "party_fingerprint": c.party_fingerprint,
                "party_name": c.party_name,
                "party_country": c.party_country,
                "party_id": c.party_id,
                "reason": c.reason,
                "cleared_by": c.cleared_by,
                "cleared_at": c.cleared_at,
                "withdrawn_by": c.withdrawn_by,
                "withdrawn_at": c.withdrawn_at,
            }
            for c in listed(session, include_withdrawn=True)
        ]
    export.write_export(settings, rows)
