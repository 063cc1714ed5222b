"""The usage dashboard's periods and filters, and where each figure links: the charges behind it.

Days are local days of settings.TIME_ZONE, as the daily rollup counts them.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from django.db import connection
from django.db.models import Model, QuerySet
from django.utils import timezone

DELETED = "none"  # the user filter's value for charges of deleted users
PERIODS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "last_month": "Last month",
    "12m": "Last 12 months",
    "custom": "Custom range",
}


# --- Period and filters -------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local days from `start` to `end`, both included."""

    key: str
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.key != "custom":
            return PERIODS[self.key]
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period."""
        return local_midnight(self.end + timedelta(days=1))

    def query(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def period_for(key: str, *, start: date | None = None, end: date | None = None, today: date | None = None) -> Period:
    """The period a picker key names; `custom` takes `start` and `end` (raises ValueError when unusable)."""
    today = today or timezone.localdate()
    if key == "today":
        return Period(key, today, today)
    if key == "yesterday":
        return Period(key, today - timedelta(days=1), today - timedelta(days=1))
    if key == "7d":
        return Period(key, today - timedelta(days=6), today)
    if key == "30d":
        return Period(key, today - timedelta(days=29), today)
    if key == "month":
        return Period(key, today.replace(day=1), today)
    if key == "last_month":
        return Period(key, *month_bounds(today.replace(day=1) - timedelta(days=1)))
    if key == "12m":
        months = today.year * 12 + today.month - 1 - 11  # this month and the 11 before it
        return Period(key, date(months // 12, months % 12 + 1, 1), today)
    if key == "custom":
        if start is None or end is None:
            raise ValueError("Pick both the first and the last day.")
        if start > end:
            raise ValueError("The first day must not be after the last day.")
        if (end - start).days > 3660:
            raise ValueError("Pick at most ten years.")
        return Period(key, start, end)
    raise ValueError(f"Unknown period {key!r}.")


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Filters:
    """Narrow a report: `user` is a user id, DELETED (charges of deleted users) or ""; model and status as stored."""

    user: str = ""
    model: str = ""
    status: str = ""

    def query(self) -> dict:
        return {name: value for name, value in vars(self).items() if value}

    def apply(self, rows: QuerySet[M], *, user_field: str = "user") -> QuerySet[M]:
        if self.user == DELETED:
            rows = rows.filter(**{f"{user_field}__isnull": True})
        elif self.user:
            rows = rows.filter(**{f"{user_field}_id": int(self.user)})
        if self.model:
            rows = rows.filter(model=self.model)
        if self.status:
            rows = rows.filter(status=self.status)
        return rows


@contextmanager
def sqlite_index(table: str, index: str) -> Iterator[None]:
    """On SQLite, make queries on `table` read `index` (INDEXED BY) while the block runs.

    SQLite has no statistics unless ANALYZE was run, and then prefers any index with an
    equality match (status = 'completed') even when that means reading most of a large
    table row by row; a covering index read from end to end is several times faster.
    PostgreSQL keeps statistics and needs no hint.
    """
    if not index or connection.vendor != "sqlite":
        yield
        return
    quoted = connection.ops.quote_name(table)

    def hint(execute, sql, params, many, context):
        return execute(sql.replace(f"FROM {quoted}", f"FROM {quoted} INDEXED BY {index}", 1), params, many, context)

    with connection.execute_wrapper(hint):
        yield
