"""Conversations and turns in the admin: read-only where they show money, fast at a million rows.

The turn list shows the count and sums of the filtered rows above it and exports them as a streamed
CSV (usage/admin_lists.py), filtered with the dashboard's indexed filters (usage/admin_filters.py).
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from conversations.models import CHARGED_COLUMNS, COST_COLUMNS, SPENT_HERE, USAGE_COLUMNS, Charge, Conversation, Turn
from conversations.usage import periods
from conversations.usage.admin_filters import (
    ConversationFilter,
    ConversationOwnerFilter,
    DayRangeFilter,
    ErrorCodeFilter,
    ModelFilter,
    OwnerFilter,
    StatusFilter,
    UpdatedDayFilter,
)
from conversations.usage.admin_lists import (
    OWN_INDEX_FILTERS,
    TURN_HEAVY,
    USAGE_CSV_COLUMNS,
    IdSearchMixin,
    SummedChangeList,
    UsageListMixin,
    pretty_json,
    usage_sums_of,
)
from conversations.usage.admin_moves import move_action

# --- Turns --------------------------------------------------------------------------


# What the turn's page shows of each charged attempt.
CHARGE_INLINE_FIELDS: tuple[str, ...] = (
    "attempt",
    "created_at",
    "status",
    "model",
    "response_id",
    *USAGE_COLUMNS,
    "duration_ms",
)


class ChargeInline(admin.TabularInline):
    """Every charged attempt of a turn (a retry keeps the earlier ones)."""

    model = Charge
    fk_name = "turn"
    extra = 0
    can_delete = False
    fields = CHARGE_INLINE_FIELDS
    readonly_fields = CHARGE_INLINE_FIELDS
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


def _tokens(turn: Turn) -> str:
    """The token columns in one cell: "1,200 in · 800 out" (cached and reasoning in brackets)."""
    if turn.total_tokens is None:
        return "–"
    cached = f" ({turn.cached_tokens:,} cached)" if turn.cached_tokens else ""
    reasoning = f" ({turn.reasoning_tokens:,} reasoning)" if turn.reasoning_tokens else ""
    return f"{turn.input_tokens or 0:,} in{cached} · {turn.output_tokens or 0:,} out{reasoning}"


@admin.register(Turn)
class TurnAdmin(IdSearchMixin, UsageListMixin, admin.ModelAdmin):
    # Fits 1280 px: the token columns as one cell ("tokens"); each one is on the turn's page, in the sums and CSV.
    list_display = (
        "created_at",
        "owner",
        "conversation_link",
        "parent_short",
        "status",
        "model",
        "tokens",
        *COST_COLUMNS,
        "attempts",
    )
    list_filter = (DayRangeFilter, StatusFilter, ModelFilter, OwnerFilter, ErrorCodeFilter, ConversationFilter)
    search_fields = ("prompt", "=conversation__owner__username")
    search_help_text = (
        "A response id, turn id or conversation id is found at once; other words are looked for in prompts "
        "(which reads every turn: slow with a million) and exact usernames."
    )
    list_select_related = ("conversation__owner",)
    ordering = ("-created_at",)
    sortable_by = ("created_at",)
    inlines = [ChargeInline]
    csv_name = "turns"
    csv_columns = [
        "created_at", ("turn_id", "id"), "conversation_id", ("user", "conversation__owner__username"), "status",
        "model", "attempts", "response_id", *USAGE_CSV_COLUMNS, "error_code",
    ]  # fmt: skip
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
                    *CHARGED_COLUMNS,
                    "estimate_usd",
                ),
            },
        ),
        ("Prompt, thinking and answer", {"fields": ("prompt", "thinking", "output_text")}),
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

    def id_match(self, queryset, term):
        by_id = Q(response_id=term) | _uuid_q(term, "id", "conversation_id")
        return queryset.filter(by_id) if Turn.objects.filter(by_id).exists() else None

    def usage_sums(self, request, changelist):
        # Imported turns are listed and counted, but their usage was not spent here.
        if changelist.query:
            return usage_sums_of(changelist.queryset, spent=SPENT_HERE)
        by_conversation = {"user", "conversation"} & set(request.GET)
        index = "turn_usage_conversation" if by_conversation else "turn_usage_time"
        return usage_sums_of(changelist.queryset, index=index, spent=SPENT_HERE)

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

    @admin.display(description="tokens")
    def tokens(self, turn):
        return format_html('<span title="{}">{}</span>', f"{turn.total_tokens or 0:,} total", _tokens(turn))

    @admin.display(description="response JSON")
    def response_json_pretty(self, turn):
        return pretty_json(turn.response_json)

    @admin.display(description="earlier attempts")
    def history_pretty(self, turn):
        return pretty_json(turn.history)


class TurnChangeList(SummedChangeList):
    def get_results(self, request):
        super().get_results(request)
        if "user" in request.GET and not (OWN_INDEX_FILTERS & set(request.GET)) and not self.query:
            # One user's turns newest first: walking the time index finds a page at once, while
            # SQLite would otherwise gather all of them (100,000+) through their conversations and sort.
            with periods.sqlite_index(Turn._meta.db_table, "turn_created"):
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
class ConversationAdmin(IdSearchMixin, admin.ModelAdmin):
    list_display = ("title_or_untitled", "owner", "model", "turn_count", "tokens", "cost", "updated_at")
    list_filter = (UpdatedDayFilter, ModelFilter, ConversationOwnerFilter)
    # Titles and owners only: no join to turns, which would repeat a conversation once per turn.
    search_fields = ("title", "owner__username")
    search_help_text = (
        "Titles and usernames; a response id or conversation id finds its conversation. "
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

    def id_match(self, queryset, term):
        by_id = Turn.objects.filter(response_id=term).values("conversation_id")
        if by_id.exists():
            return queryset.filter(pk__in=by_id)
        by_uuid = _uuid_q(term, "pk")
        return queryset.filter(by_uuid) if queryset.filter(by_uuid).exists() else None

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
