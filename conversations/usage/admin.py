"""The ledger in the admin (read-only: one row per upstream attempt that reported usage), the model
catalogue (admin_catalog.py) and budgets on the user's page (admin_users.py).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html

from conversations.models import USAGE_COLUMNS, Charge, Turn

from . import admin_catalog, admin_users, periods, reports  # noqa: F401 (admin_catalog, admin_users register their admins)
from .admin_filters import DayRangeFilter, ModelFilter, StatusFilter, UserFilter
from .admin_lists import USAGE_CSV_COLUMNS, IdSearchMixin, UsageListMixin, usage_sums_of

# --- The ledger -----------------------------------------------------------------------------


@admin.register(Charge)
class ChargeAdmin(IdSearchMixin, UsageListMixin, admin.ModelAdmin):
    """The ledger, read-only: one row per upstream attempt that reported usage."""

    list_display = (
        "created_at",
        "user_name",
        "model",
        "status",
        "attempt",
        "turn_link",
        *USAGE_COLUMNS,
        "duration",
    )
    list_filter = (DayRangeFilter, UserFilter, ModelFilter, StatusFilter, "purpose", "usage_unknown")
    search_fields = ("=response_id",)
    search_help_text = "An exact response id or username (a deleted user's charges: filter by “(deleted users)”)."
    ordering = ("-created_at",)
    sortable_by = ("created_at", "cost_usd")
    csv_name = "charges"
    csv_columns = [
        "created_at", ("charge_id", "id"), "user_id", ("user", "username"), "conversation_id", "turn_id", "attempt",
        "model", "status", "response_id", *USAGE_CSV_COLUMNS, "duration_ms",
    ]  # fmt: skip

    def id_match(self, queryset, term):
        # Each on its own index: `response_id = x OR username = x` would read the whole ledger.
        if Charge.objects.filter(response_id=term).exists():
            return queryset.filter(response_id=term)
        return queryset.filter(user_id__in=get_user_model().objects.filter(username=term).values("pk"))

    def usage_sums(self, request, changelist):
        if changelist.query:
            figures = usage_sums_of(changelist.queryset)
            figures.failed = changelist.queryset.filter(status=Turn.Status.FAILED).count()
            return figures
        # The filters are the rollup's dimensions: read the (small) rollup, which equals the ledger.
        spec = {type(f): f for f in changelist.filter_specs}
        days = spec.get(DayRangeFilter)
        filters = periods.Filters(
            user=request.GET.get("user", ""), model=request.GET.get("model", ""), status=request.GET.get("status", "")
        )
        return reports.rollup_totals(days.start if days else None, days.end if days else None, filters)

    @admin.display(description="user", ordering="username")
    def user_name(self, charge):
        return charge.username or "-"

    @admin.display(description="turn")
    def turn_link(self, charge):
        if charge.turn_id is None:
            return "(deleted)"
        url = reverse("admin:conversations_turn_change", args=[charge.turn_id])
        return format_html('<a href="{}">view</a>', url)

    @admin.display(description="time")
    def duration(self, charge):
        if charge.duration_ms is None:
            return "-"
        seconds = charge.duration_ms / 1000
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# The model catalogue and users' budgets have modules of their own.
