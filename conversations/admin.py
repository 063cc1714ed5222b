from django.contrib import admin
from django.db.models import Count, Sum
from django.utils.html import format_html

from .models import Conversation, Turn


class TurnInline(admin.TabularInline):
    model = Turn
    fk_name = "conversation"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "created_at",
        "status",
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

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "model", "turn_count", "tokens", "cost", "updated_at")
    list_filter = ("model", "updated_at")
    search_fields = ("title", "owner__username", "turns__prompt")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [TurnInline]
    date_hierarchy = "updated_at"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_turns=Count("turns"), _tokens=Sum("turns__total_tokens"), _cost=Sum("turns__cost_usd"))
        )

    @admin.display(ordering="_turns", description="turns")
    def turn_count(self, obj):
        return obj._turns

    @admin.display(ordering="_tokens", description="total tokens")
    def tokens(self, obj):
        return obj._tokens

    @admin.display(ordering="_cost", description="cost (USD)")
    def cost(self, obj):
        return obj._cost


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = (
        "created_at", "owner", "conversation_link", "status", "model", "input_tokens", "cached_tokens",
        "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "attempts",
    )  # fmt: skip
    list_filter = ("status", "model", "created_at", "error_code")
    search_fields = ("prompt", "output_text", "response_id", "conversation__owner__username")
    list_select_related = ("conversation", "conversation__owner")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Turn._meta.fields]
    exclude = ("output_html",)

    @admin.display(ordering="conversation__owner__username")
    def owner(self, turn):
        return turn.conversation.owner

    @admin.display(description="conversation")
    def conversation_link(self, turn):
        return format_html('<a href="../conversation/{}/change/">{}</a>', turn.conversation_id, turn.conversation)

    def has_add_permission(self, request):
        return False


# The model catalogue and users' budgets have modules of their own.
from . import admin_catalog, admin_users  # noqa: E402, F401
