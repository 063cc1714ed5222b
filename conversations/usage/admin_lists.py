"""What the usage admin lists share: the count and sums of the filtered rows above the list, and the
rows as a streamed CSV (the turn list in chat/admin.py, the ledger in usage/admin.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Sum
from django.db.models.options import Options
from django.http import Http404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from conversations.models import PRICE_COLUMNS, USAGE_COLUMNS

from . import exports, periods, reports

# Filters with an index of their own in time order (models.py), used rather than the time index.
OWN_INDEX_FILTERS = {"status", "model", "error", "conversation"}
# Big columns a list never shows: never read them for one.
TURN_HEAVY = ("prompt", "output_text", "output_html", "thinking", "response_json", "history", "error_message")


def pretty_json(value):
    if value in (None, "", [], {}):
        return "-"
    return format_html('<pre class="usage-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


# The usage columns of a turn's and a charge's CSV rows (header, field): the same names and order in both,
# from the models' one list: the token counts, the unit prices they were charged at, then both costs.
USAGE_CSV_COLUMNS = [
    *((name, name) for name in USAGE_COLUMNS if name.endswith("_tokens")),
    *((f"{name}_per_1m", name) for name in PRICE_COLUMNS),
    *((name, name) for name in USAGE_COLUMNS if not name.endswith("_tokens")),
]


class IdSearchMixin:
    """The search box looks one word up as an id first, on an index (`id_match`: the rows, or None),
    before the search fields scan every row."""

    def id_match(self, queryset, term):
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if " " not in term:
            found = self.id_match(queryset, term)
            if found is not None:
                return found, False
        return super().get_search_results(request, queryset, search_term)


class UsageListMixin:
    """Count and sums of the filtered rows above the list; the rows as a streamed CSV (action and link)."""

    opts: Options[Any]  # the ModelAdmin's it is mixed into
    # Each column a field name (its own header) or (header, field).
    csv_columns: list[str | tuple[str, str]] = []
    csv_name = "rows"
    show_full_result_count = False  # one COUNT per page is enough
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan the table once per choice
    list_per_page = 50
    actions: Sequence[Callable[..., Any] | str] | None = ["export_csv"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj):
        # Django labels the box with str(obj), which for a turn reads its prompt: one query per row.
        label = f"Select the row of {timezone.localtime(obj.created_at):%Y-%m-%d %H:%M:%S}"
        checkbox = forms.CheckboxInput({"class": "action-select", "aria-label": label}, lambda value: False)
        return checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(obj.pk))

    def usage_sums(self, request, changelist) -> reports.Figures:
        raise NotImplementedError

    def get_changelist(self, request, **kwargs):
        return SummedChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        if hasattr(request, "_usage_rows"):
            paginator.count = request._usage_rows  # the sums counted them: no second COUNT(*)
        return paginator

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # not a redirect, an action's download or an error page
            query = request.GET.urlencode()
            response.context_data.update(
                usage_sums=changelist.usage_sums,
                export_url=reverse(f"admin:{self._url_prefix()}_export") + (f"?{query}" if query else ""),
                dashboard_url=reverse("usage_dashboard"),
            )
        return response

    def _url_prefix(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}"

    def get_urls(self):
        export = path("export/", self.admin_site.admin_view(self.export_view), name=f"{self._url_prefix()}_export")
        return [export, *super().get_urls()]

    def export_view(self, request):
        """The whole filtered list as CSV (the link above the list; the action exports a selection)."""
        if not self.has_view_permission(request):
            raise Http404
        changelist = self.get_changelist_instance(request)
        return self._csv(request, changelist.get_queryset(request))

    @admin.action(description="Export the selected rows as CSV")
    def export_csv(self, request, queryset):
        return self._csv(request, queryset)

    def _csv(self, request, queryset):
        return exports.queryset_csv(
            request, f"{self.csv_name}.csv", queryset.order_by(*self.ordering), self.csv_pairs()
        )

    def csv_pairs(self) -> list[tuple[str, str]]:
        return [(column, column) if isinstance(column, str) else column for column in self.csv_columns]


class SummedChangeList(ChangeList):
    """Reads the sums of the filtered rows first: their count is the list's count too."""

    def get_results(self, request):
        self.usage_sums = self.model_admin.usage_sums(request, self)
        request._usage_rows = self.usage_sums.charges
        super().get_results(request)


def usage_sums_of(queryset, *, index: str = "", spent=None) -> reports.Figures:
    """Count and usage sums of `queryset`; `index` is the covering index SQLite must read (see reports).

    `spent` limits the sums (not the count) to the rows that were spent here (turns: SPENT_HERE).
    """
    aggregates = {name: Sum(name, filter=spent) for name in USAGE_COLUMNS}
    with periods.sqlite_index(queryset.model._meta.db_table, index):
        row = queryset.aggregate(charges=Count("*"), **aggregates)
    figures = reports.Figures()
    figures.add(row)
    return figures
