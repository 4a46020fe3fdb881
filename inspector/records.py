"""Recording outcomes and waivers for list items: checks, idempotent inserts and their audit.

A form post carries an idempotency key; posting it again (a retry, a double click) returns the
record already stored instead of adding a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from contracts.outcomes import FINDING_CATEGORIES, RESULTS
from inspector import audit
from inspector.db import Outcome, User, Waiver, transaction, utc_now

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_NOTES = 2000
MIN_WAIVER_REASON = 3


class RecordError(ValueError):
    """A form that cannot be recorded; the message names the field and says why."""


@dataclass(frozen=True)
class ListItem:
    """The list row an outcome or waiver is recorded against."""

    list_date: date
    port_of_discharge: str
    declaration_id: str
    item_no: int
    lane: str
    selection_reason: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ListItem:
        """From a ranked-list row (contract column names)."""
        return cls(
            list_date=row["list_date"],
            port_of_discharge=row["port_of_discharge"],
            declaration_id=row["declaration_id"],
            item_no=row["item_no"],
            lane=row["lane"],
            selection_reason=row["selection_reason"],
        )

    @property
    def target(self) -> str:
        """How the audit log names the item."""
        return f"{self.list_date} {self.port_of_discharge} {self.declaration_id}#{self.item_no}"

    @property
    def outcome_selection_reason(self) -> str:
        """Why it was inspected: the list's reason, or `manual` when the list did not select it."""
        return self.selection_reason if self.lane != "green" and self.selection_reason else "manual"


def _check_key(key: str) -> None:
    if not IDEMPOTENCY_KEY.match(key):
        raise RecordError("idempotency_key: must be 8-64 letters, digits, '-' or '_'")


def check_outcome(result: str, category: str | None, notes: str | None) -> None:
    """RecordError naming the field when the outcome is not in the outcomes contract."""
    if result not in RESULTS:
        raise RecordError(f"result: must be one of {', '.join(RESULTS)}")
    if result == "finding" and category not in FINDING_CATEGORIES:
        raise RecordError(
            f"finding_category: a finding needs one of {', '.join(FINDING_CATEGORIES)}"
        )
    if result == "no_finding" and category:
        raise RecordError("finding_category: leave it empty when nothing was found")
    if notes and len(notes) > MAX_NOTES:
        raise RecordError(f"notes: at most {MAX_NOTES} characters")


Record = TypeVar("Record", Outcome, Waiver)


def _existing(session: Session, model: type[Record], key: str, item: ListItem) -> Record | None:
    found = session.scalar(select(model).where(model.idempotency_key == key))
    if found is not None and (found.declaration_id, found.item_no) != (
        item.declaration_id,
        item.item_no,
    ):
        raise RecordError("idempotency_key: already used for another item")
    return found


def _insert_once(
    factory: sessionmaker[Session],
    record: Record,
    item: ListItem,
    audit_event: tuple[User, str, str],
) -> tuple[Record, bool]:
    """Store `record` with its audit event, or return the record an earlier post stored.

    Insert first: the unique idempotency key refuses a repeat (a retry, a double click), which
    is then looked up; that is the rare case, so the common one costs one transaction.
    """
    user, action, detail = audit_event
    try:
        with transaction(factory) as session:
            session.add(record)
            session.flush()
            audit.record(session, user, action, item.target, detail)
        return record, True
    except IntegrityError:
        with factory() as session:
            found = _existing(session, type(record), record.idempotency_key, item)
            if found is None:
                raise
            return found, False


def save_outcome(
    factory: sessionmaker[Session],
    user: User,
    item: ListItem,
    *,
    result: str,
    category: str | None,
    notes: str | None,
    key: str,
    inspected_at: datetime | None = None,
) -> tuple[Outcome, bool]:
    """Store an outcome (and its audit event) once per key; returns it and whether it is new."""
    _check_key(key)
    category = category or None
    notes = (notes or "").strip() or None
    check_outcome(result, category, notes)
    outcome = Outcome(
        idempotency_key=key,
        list_date=item.list_date,
        port_of_discharge=item.port_of_discharge,
        declaration_id=item.declaration_id,
        item_no=item.item_no,
        selection_reason=item.outcome_selection_reason,
        result=result,
        finding_category=category,
        notes=notes,
        inspector_id=user.username,
        user_id=user.id,
        inspected_at=inspected_at or utc_now(),
    )
    detail = result + (f" ({category})" if category else "")
    return _insert_once(factory, outcome, item, (user, "record_outcome", detail))


def save_waiver(
    factory: sessionmaker[Session], user: User, item: ListItem, *, reason: str, key: str
) -> tuple[Waiver, bool]:
    """Waive a selected item with a stated reason, once per key; returns it and if it is new."""
    _check_key(key)
    reason = reason.strip()
    if item.lane == "green":
        raise RecordError("waiver: only a selected (red or yellow) item can be waived")
    if len(reason) < MIN_WAIVER_REASON:
        raise RecordError("reason: a waiver needs a stated reason")
    if len(reason) > MAX_NOTES:
        raise RecordError(f"reason: at most {MAX_NOTES} characters")
    waiver = Waiver(
        idempotency_key=key,
        list_date=item.list_date,
        port_of_discharge=item.port_of_discharge,
        declaration_id=item.declaration_id,
        item_no=item.item_no,
        lane=item.lane,
        selection_reason=item.outcome_selection_reason,
        reason=reason,
        waived_by=user.username,
        user_id=user.id,
    )
    return _insert_once(factory, waiver, item, (user, "record_waiver", f"lane {item.lane}"))


def item_records(
    session: Session, declaration_id: str, item_no: int
) -> tuple[list[Outcome], list[Waiver]]:
    """Outcomes and waivers recorded for one item, oldest first."""
    outcomes = session.scalars(
        select(Outcome)
        .where(Outcome.declaration_id == declaration_id, Outcome.item_no == item_no)
        .order_by(Outcome.id)
    ).all()
    waivers = session.scalars(
        select(Waiver)
        .where(Waiver.declaration_id == declaration_id, Waiver.item_no == item_no)
        .order_by(Waiver.id)
    ).all()
    return list(outcomes), list(waivers)
