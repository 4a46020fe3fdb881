"""Which filing date a run works on, resolved once at the start of a run and passed explicitly.

In Airflow 3 asset-triggered and manual runs may have no logical date, so a run never guesses later.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def resolve_partition_date(requested: str | date | None, logical_date: datetime | None) -> date:
    """The filing date to process.

    An explicit request (a `date` in the run's conf, or a CLI option) wins. Otherwise a scheduled
    night processes the day before its logical date: the night of the 2nd works on the filings of
    the 1st, which are complete by then.
    """
    if requested:
        return requested if isinstance(requested, date) else date.fromisoformat(str(requested))
    if logical_date is None:
        raise ValueError(
            "no date given and the run has no logical date: pass conf {'date': 'YYYY-MM-DD'}"
        )
    return logical_date.date() - timedelta(days=1)


def date_range(first: date, last: date) -> list[date]:
    """Every date from `first` to `last`, both included."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def dates_from_options(day: date | None, first: date | None, last: date | None) -> list[date]:
    """The dates a CLI verb's `--date D` or `--from D1 --to D2` options name."""
    if day and (first or last):
        raise ValueError("give --date, or --from and --to, not both")
    if day:
        return [day]
    if first and last:
        return date_range(first, last)
    raise ValueError("give --date D, or --from D1 --to D2")
