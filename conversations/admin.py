"""The usage admin: conversations, turns and the ledger; read-only where it shows money, fast at a million rows.

The turn and charge lists show the count and sums of the filtered rows above them,
export them as a streamed CSV, and filter with `admin_filters` (indexed, with the
dashboard's parameters). See docs/benchmarks.md for the figures at scale.
"""

import json
import uuid

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from conversations.usage.admin_filters import (
    ConversationFilter,
    ConversationOwnerFilter,
    DayRangeFilter,
    ErrorCodeFilter,
    ModelFilter,
    OwnerFilter,
    StatusFilter,
    UpdatedDayFilter,
    UserFilter,
)
from conversations.usage.admin_moves import move_action

from .models import SPENT_HERE, USAGE_COLUMNS, Charge, Conversation, Turn
from .usage import exports, reports

# Filters with an index of their own in time order (models.py), used rather than the time index.
OWN_INDEX_FILTERS = {"status", "model", "error", "conversation"}
# Big columns a list never shows: never read them for one.
TURN_HEAVY = ("prompt", "output_text", "output_html", "response_json", "history", "error_message")


def _pretty_json(value):
    if value in (None, "", [], {}):
        return "-"
    return format_html('<pre class="usage-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


# The usage columns of a turn's and a charge's CSV rows (header, field): the same names and order in both.
USAGE_CSV_COLUMNS = [
    ("input_tokens", "input_tokens"),
    ("cached_tokens", "cached_tokens"),
    ("output_tokens", "output_tokens"),
    ("reasoning_tokens", "reasoning_tokens"),
    ("total_tokens", "total_tokens"),
    ("input_price_per_1m", "input_price"),
    ("cached_input_price_per_1m", "cached_input_price"),
    ("output_price_per_1m", "output_price"),
    ("cost_usd", "cost_usd"),
    ("provider_cost_usd", "provider_cost_usd"),
]


class UsageListMixin:
    """Count and sums of the filtered rows above the list; the rows as a streamed CSV (action and link)."""

    csv_columns: list[tuple[str, str]] = []
    csv_name = "rows"
    show_full_result_count = False  # one COUNT per page is enough
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan the table once per choice
    list_per_page = 50
    actions = ["export_csv"]

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
            request, f"{self.csv_name}.csv", queryset.order_by(*self.ordering), self.csv_columns
        )


class SummedChangeList(ChangeList):
    """Reads the sums of the filtered rows first: their count is the list's count too."""

    def get_results(self, request):
        self.usage_sums = self.model_admin.usage_sums(request, self)
        request._usage_rows = self.usage_sums.charges
        super().get_results(request)


def _sums(queryset, *, index: str = "", spent=None) -> reports.Figures:
    """Count and usage sums of `queryset`; `index` is the covering index SQLite must read (see reports).

    `spent` limits the sums (not the count) to the rows that were spent here (turns: SPENT_HERE).
    """
    aggregates = {name: Sum(name, filter=spent) for name in USAGE_COLUMNS}
    with reports.sqlite_index(queryset.model._meta.db_table, index):
        row = queryset.aggregate(charges=Count("*"), **aggregates)
    figures = reports.Figures()
    figures.add(row)
    return figures


# --- Turns --------------------------------------------------------------------------


class ChargeInline(admin.TabularInline):
    """Every charged attempt of a turn (a retry keeps the earlier ones)."""

    model = Charge
    fk_name = "turn"
    extra = 0
    can_delete = False
    fields = (
        "attempt",
        "created_at",
        "status",
        "model",
        "response_id",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_usd",
        "provider_cost_usd",
        "duration_ms",
    )
    readonly_fields = fields
    ordering = ("attempt",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.display(description="follows")
def _parent_short(self, turn):
    """The turn this one follows (its version tree), by the start of its id: no query per row."""
    if turn.parent_id is None:
        return "–"
    url = reverse("admin:conversations_turn_change", args=[turn.parent_id])
    return format_html('<a href="{}" title="{}">{}</a>', url, turn.parent_id, str(turn.parent_id)[:8])


@admin.register(Turn)
class TurnAdmin(UsageListMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "owner",
        "conversation_link",
        "parent_short",
        "status",
        "model",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
        "provider_cost_usd",
        "attempts",
    )
    list_filter = (DayRangeFilter, StatusFilter, ModelFilter, OwnerFilter, ErrorCodeFilter, ConversationFilter)
    search_fields = ("prompt", "=conversation__owner__username")
    search_help_text = (
        "A response id, turn id or conversation id is found at once; other words are looked for in prompts "
        "(which reads every turn: slow with a million) and exact user names."
    )
    list_select_related = ("conversation__owner",)
    ordering = ("-created_at",)
    sortable_by = ("created_at",)
    inlines = [ChargeInline]
    csv_name = "turns"
    csv_columns = [
        ("created_at", "created_at"),
        ("turn_id", "id"),
        ("conversation_id", "conversation_id"),
        ("user", "conversation__owner__username"),
        ("status", "status"),
        ("model", "model"),
        ("attempts", "attempts"),
        ("response_id", "response_id"),
        *USAGE_CSV_COLUMNS,
        ("error_code", "error_code"),
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "conversation_link",
                    "owner",
                    "parent_link",
                    "versions",
                    "status",
                    "attempts",
                    "mode",
                    "model",
                    "response_id",
                    "created_at",
                    "started_at",
                    "completed_at",
                    "error_code",
                    "error_message",
                )
            },
        ),
        (
            "Usage and cost",
            {
                "description": "An imported turn's usage is history from elsewhere: left out of every sum.",
                "fields": (
                    "imported",
                    "input_tokens",
                    "cached_tokens",
                    "output_tokens",
                    "reasoning_tokens",
                    "total_tokens",
                    "input_price",
                    "cached_input_price",
                    "output_price",
                    "cost_usd",
                    "provider_cost_usd",
                    "estimate_usd",
                ),
            },
        ),
        ("Prompt and answer", {"fields": ("prompt", "output_text")}),
        ("Stored response (JSON) and earlier attempts", {"fields": ("response_json_pretty", "history_pretty")}),
    )
    readonly_fields = (
        "imported",
        "conversation_link",
        "owner",
        "parent_link",
        "versions",
        "response_json_pretty",
        "history_pretty",
    )

    def get_changelist(self, request, **kwargs):
        return TurnChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if " " not in term:
            # An id is looked up on its index, not searched for in every prompt.
            ids = Turn.objects.filter(Q(response_id=term) | _uuid_q(term, "id", "conversation_id"))
            if ids.exists():
                return queryset.filter(Q(response_id=term) | _uuid_q(term, "id", "conversation_id")), False
        return super().get_search_results(request, queryset, search_term)

    def usage_sums(self, request, changelist):
        # Imported turns are listed and counted, but their usage was not spent here.
        if changelist.query:
            return _sums(changelist.queryset, spent=SPENT_HERE)
        by_conversation = {"user", "conversation"} & set(request.GET)
        index = "turn_usage_conversation" if by_conversation else "turn_usage_time"
        return _sums(changelist.queryset, index=index, spent=SPENT_HERE)

    @admin.display(ordering="conversation__owner__username")
    def owner(self, turn):
        return turn.conversation.owner.get_username()

    @admin.display(description="conversation")
    def conversation_link(self, turn):
        url = reverse("admin:conversations_conversation_change", args=[turn.conversation_id])
        return format_html('<a href="{}">{}</a>', url, turn.conversation.title or "Untitled")

    @admin.display(description="follows")
    def parent_link(self, turn):
        if turn.parent_id is None:
            return "– (a first turn)"
        parent = Turn.objects.only("prompt").get(pk=turn.parent_id)
        url = reverse("admin:conversations_turn_change", args=[turn.parent_id])
        return format_html('<a href="{}">{}</a> {}', url, str(turn.parent_id)[:8], parent.prompt[:80])

    @admin.display(description="versions at this place")
    def versions(self, turn):
        """Every version with this turn's parent (edits and regenerations), this one in bold."""
        siblings = Turn.objects.filter(conversation_id=turn.conversation_id, parent_id=turn.parent_id)
        links = [
            format_html("<strong>{} (this one)</strong>", number)
            if pk == turn.pk
            else format_html('<a href="{}">{}</a>', reverse("admin:conversations_turn_change", args=[pk]), number)
            for number, pk in enumerate(siblings.order_by("created_at", "id").values_list("pk", flat=True), start=1)
        ]
        return format_html_join(" · ", "{}", ((link,) for link in links)) if len(links) > 1 else "only this one"

    parent_short = _parent_short

    @admin.display(description="response JSON")
    def response_json_pretty(self, turn):
        return _pretty_json(turn.response_json)

    @admin.display(description="earlier attempts")
    def history_pretty(self, turn):
        return _pretty_json(turn.history)


class TurnChangeList(SummedChangeList):
    def get_results(self, request):
        super().get_results(request)
        if "user" in request.GET and not (OWN_INDEX_FILTERS & set(request.GET)) and not self.query:
            # One user's turns newest first: walking the time index finds a page at once, while
            # SQLite would otherwise gather all of them (100,000+) through their conversations and sort.
            with reports.sqlite_index(Turn._meta.db_table, "turn_created"):
                self.result_list = list(self.result_list)

    def get_queryset(self, request, exclude_parameters=None):
        # The list shows 13 small columns: never load answers, prompts or stored JSON for it.
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer(*TURN_HEAVY).only(
            *(f.attname for f in Turn._meta.concrete_fields if f.name not in TURN_HEAVY),
            "conversation__title",
            "conversation__owner__username",
        )


def _uuid_q(term: str, *fields: str) -> Q:
    try:
        value = uuid.UUID(term)
    except ValueError:
        return Q(pk__in=[])
    q = Q()
    for name in fields:
        q |= Q(**{name: value})
    return q


# --- Conversations ----------------------------------------------------------------------


class TurnInline(admin.TabularInline):
    model = Turn
    fk_name = "conversation"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "created_at",
        "status",
        "turn_short",
        "parent_short",
        "prompt_preview",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
    )
    readonly_fields = fields

    @admin.display(description="prompt")
    def prompt_preview(self, turn):
        return turn.prompt[:80]

    parent_short = _parent_short

    @admin.display(description="turn")
    def turn_short(self, turn):
        return str(turn.pk)[:8]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("output_text", "output_html", "response_json", "history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ConversationChangeList(ChangeList):
    def get_results(self, request):
        """The page's conversations, then their turns' figures in one grouped query.

        Never a join to turns in the list's own query (a search or filter on turns
        would repeat each conversation once per turn and multiply its sums), and only
        the shown page is summed: on the covering (conversation, usage...) index.
        """
        super().get_results(request)
        self.result_list = list(self.result_list)
        figures = {
            row["conversation_id"]: row
            for row in Turn.objects.filter(conversation_id__in=[c.pk for c in self.result_list])
            .values("conversation_id")
            .annotate(
                turns=Count("*"), tokens=Sum("total_tokens", filter=SPENT_HERE), cost=Sum("cost_usd", filter=SPENT_HERE)
            )
            .order_by()
        }
        for conversation in self.result_list:
            row = figures.get(conversation.pk, {})
            conversation._turns = row.get("turns", 0)
            conversation._tokens = row.get("tokens")
            conversation._cost = row.get("cost")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title_or_untitled", "owner", "model", "turn_count", "tokens", "cost", "updated_at")
    list_filter = (UpdatedDayFilter, ModelFilter, ConversationOwnerFilter)
    search_fields = ("title", "owner__username")
    search_help_text = (
        "Titles and user names; a response id or conversation id finds its conversation. "
        "Words in prompts: search the turns."
    )
    list_select_related = ("owner",)
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    raw_id_fields = ("owner",)
    readonly_fields = ("id", "created_at", "updated_at", "origin_id")
    inlines = [TurnInline]
    ordering = ("-updated_at",)
    sortable_by = ("title_or_untitled", "updated_at")
    actions = ["move_to_model"]

    @admin.action(description="Move the selected conversations to another model…")
    def move_to_model(self, request, queryset):
        count = queryset.count()
        what = f"{count} selected conversation{'' if count == 1 else 's'}"
        return move_action(self, request, queryset, queryset, what=what)

    def has_add_permission(self, request):
        return False

    def get_changelist(self, request, **kwargs):
        return ConversationChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if " " not in term:
            by_id = Turn.objects.filter(response_id=term).values("conversation_id")
            if by_id.exists():
                return queryset.filter(pk__in=by_id), False
            by_uuid = _uuid_q(term, "pk")
            if queryset.filter(by_uuid).exists():
                return queryset.filter(by_uuid), False
        # Titles and owners only: no join to turns, which would repeat a conversation once per turn.
        return super().get_search_results(request, queryset, search_term)

    def _turns_url(self, conversation):
        return reverse("admin:conversations_turn_changelist") + f"?conversation={conversation.pk}"

    @admin.display(description="title", ordering="title")
    def title_or_untitled(self, conversation):
        return conversation.title or "Untitled"

    @admin.display(description="turns")
    def turn_count(self, conversation):
        return format_html('<a href="{}">{}</a>', self._turns_url(conversation), conversation._turns)

    @admin.display(description="total tokens")
    def tokens(self, conversation):
        if conversation._tokens is None:
            return "-"
        return format_html('<a href="{}">{}</a>', self._turns_url(conversation), f"{conversation._tokens:,}")

    @admin.display(description="cost (USD)")
    def cost(self, conversation):
        if conversation._cost is None:
            return "-"
        return format_html('<a href="{}">{}</a>', self._turns_url(conversation), f"{conversation._cost:,.4f}")


# --- The ledger -----------------------------------------------------------------------------


@admin.register(Charge)
class ChargeAdmin(UsageListMixin, admin.ModelAdmin):
    """The ledger, read-only: one row per upstream attempt that reported usage."""

    list_display = (
        "created_at",
        "user_name",
        "model",
        "status",
        "attempt",
        "turn_link",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
        "provider_cost_usd",
        "duration",
    )
    list_filter = (DayRangeFilter, UserFilter, ModelFilter, StatusFilter, "purpose", "usage_unknown")
    search_fields = ("=response_id",)
    search_help_text = "An exact response id or user name (a deleted user's charges: filter by “(deleted users)”)."
    ordering = ("-created_at",)
    sortable_by = ("created_at", "cost_usd")
    csv_name = "charges"
    csv_columns = [
        ("created_at", "created_at"),
        ("charge_id", "id"),
        ("user_id", "user_id"),
        ("user", "username"),
        ("conversation_id", "conversation_id"),
        ("turn_id", "turn_id"),
        ("attempt", "attempt"),
        ("model", "model"),
        ("status", "status"),
        ("response_id", "response_id"),
        *USAGE_CSV_COLUMNS,
        ("duration_ms", "duration_ms"),
    ]

    def get_search_results(self, request, queryset, search_term):
        # Each on its own index: `response_id = x OR username = x` would read the whole ledger.
        term = search_term.strip()
        if not term:
            return queryset, False
        if Charge.objects.filter(response_id=term).exists():
            return queryset.filter(response_id=term), False
        users = get_user_model().objects.filter(username=term).values("pk")
        return queryset.filter(user_id__in=users), False

    def usage_sums(self, request, changelist):
        if changelist.query:
            figures = _sums(changelist.queryset)
            figures.failed = changelist.queryset.filter(status=Turn.Status.FAILED).count()
            return figures
        # The filters are the rollup's dimensions: read the (small) rollup, which equals the ledger.
        spec = {type(f): f for f in changelist.filter_specs}
        days = spec.get(DayRangeFilter)
        filters = reports.Filters(
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
from .usage import admin_catalog, admin_users  # noqa: E402, F401
