"""List filters of the usage admin that stay fast at a million rows.

Django's stock filters read every row to list their choices (`SELECT DISTINCT model`)
and its date drill-down scans the table for the dates it offers. These filters
take their choices from small tables or from a skip-scan of an index, and filter
on indexed columns only. Their parameters are the dashboard's (`from`, `to`,
`user`, `model`, `status`), so a figure's link opens exactly its rows.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.db import connection

from conversations.models import Turn

from . import periods


def distinct_values(model, column: str, *, skip_empty: bool = False) -> list[str]:
    """The distinct values of an indexed column, one index seek per value (a "loose index scan").

    Both SQLite and PostgreSQL read a full index for SELECT DISTINCT; this recursive
    query jumps from each value to the next, so it costs a few ms at any table size.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    col = connection.ops.quote_name(column)
    above = f" WHERE {col} > ''" if skip_empty else ""
    # Table and column names come from the model's meta, quoted: no user input reaches this SQL.
    sql = (
        f"WITH RECURSIVE v(x) AS (SELECT MIN({col}) FROM {table}{above} UNION ALL "  # noqa: S608
        f"SELECT (SELECT MIN({col}) FROM {table} WHERE {col} > v.x) FROM v WHERE v.x IS NOT NULL) "
        "SELECT x FROM v WHERE x IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class DayRangeFilter(admin.ListFilter):
    """Local days `from`..`to` (both included) on an indexed datetime column; replaces date_hierarchy."""

    title = "day"
    field_name = "created_at"
    parameters = ("from", "to")
    presets = ("today", "yesterday", "7d", "30d", "month", "last_month", "12m")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        try:
            self.start = date.fromisoformat(self.used_parameters["from"]) if "from" in self.used_parameters else None
            self.end = date.fromisoformat(self.used_parameters["to"]) if "to" in self.used_parameters else None
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def queryset(self, request, queryset):
        if self.start:
            queryset = queryset.filter(**{f"{self.field_name}__gte": periods.local_midnight(self.start)})
        if self.end:
            end = periods.local_midnight(self.end + timedelta(days=1))
            queryset = queryset.filter(**{f"{self.field_name}__lt": end})
        return queryset

    def choices(self, changelist):
        yield {
            "selected": not self.used_parameters,
            "query_string": changelist.get_query_string(remove=list(self.parameters)),
            "display": "Any day",
        }
        shown = False
        for key in self.presets:
            period = periods.period_for(key)
            selected = (self.start, self.end) == (period.start, period.end)
            shown |= selected
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string(period.query()),
                "display": period.label,
            }
        if self.used_parameters and not shown:
            start = self.start.isoformat() if self.start else "…"
            end = self.end.isoformat() if self.end else "…"
            yield {
                "selected": True,
                "query_string": changelist.get_query_string(),
                "display": start if start == end else f"{start} – {end}",
            }


class UpdatedDayFilter(DayRangeFilter):
    title = "last active"
    field_name = "updated_at"


class ValueFilter(admin.SimpleListFilter):
    """An exact match on one column; subclasses say where the choices come from."""

    field_name = ""

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{self.field_name: self.value()})


class StatusFilter(ValueFilter):
    title = "status"
    parameter_name = field_name = "status"

    def lookups(self, request, model_admin):
        return Turn.Status.choices


class ModelFilter(ValueFilter):
    title = "model"
    parameter_name = field_name = "model"

    def lookups(self, request, model_admin):
        values = distinct_values(model_admin.model, "model")
        if self.value() and self.value() not in values:
            values.append(self.value())
        return [(value, value or "(none)") for value in values]


class ErrorCodeFilter(ValueFilter):
    title = "error code"
    parameter_name = "error"
    field_name = "error_code"

    def lookups(self, request, model_admin):
        return [(value, value) for value in distinct_values(model_admin.model, "error_code", skip_empty=True)]


class UserFilter(admin.SimpleListFilter):
    """The user a row belongs to; `none` is the charges of deleted users (the ledger keeps them)."""

    title = "user"
    parameter_name = "user"
    field_path = "user"  # the foreign key to the user
    deleted_choice = True

    def lookups(self, request, model_admin):
        users = list(get_user_model().objects.order_by("username").values_list("pk", "username"))
        return [(str(pk), name) for pk, name in users] + ([(periods.DELETED, "(deleted users)")] * self.deleted_choice)

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == periods.DELETED:
            return queryset.filter(**{f"{self.field_path}__isnull": True})
        if not value.isdigit():
            raise IncorrectLookupParameters(f"user={value!r}")
        return queryset.filter(**{f"{self.field_path}_id": int(value)})


class OwnerFilter(UserFilter):
    """The owner of a turn's conversation."""

    field_path = "conversation__owner"
    deleted_choice = False


class ConversationOwnerFilter(UserFilter):
    field_path = "owner"
    deleted_choice = False


class ConversationFilter(admin.SimpleListFilter):
    """The turns of one conversation (the links from the conversation list); shown only while in use."""

    title = "conversation"
    parameter_name = "conversation"

    def lookups(self, request, model_admin):
        return [(self.value(), "This conversation")] if self.value() else []

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(conversation_id=uuid.UUID(self.value()))
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc
