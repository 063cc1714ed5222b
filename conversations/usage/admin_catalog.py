"""The model catalogue in the admin: prices, parameters, the default model and retirement."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from conversations import tasks
from conversations.generation import aimlapi, checks
from conversations.models import AIModel, Conversation

from . import holds
from .admin_moves import move_action


class AIModelForm(forms.ModelForm):
    class Meta:
        model = AIModel
        fields = (
            "provider_id", "label", "api", "enabled", "is_default", "input_price", "cached_input_price",
            "output_price", "reasoning_efforts", "max_output_tokens", "reasoning_summaries", "typical_output_tokens",
            "retires_on", "successor", "accepts_images", "accepts_files",
        )  # fmt: skip

    def _get_validation_exclusions(self):
        # Saving a new default unsets the old one (AIModelAdmin.save_model), so the
        # one-default constraint is no reason to refuse the form.
        return {*super()._get_validation_exclusions(), "is_default"}

    def clean(self):
        data = super().clean()
        if data.get("is_default") and not data.get("enabled"):
            self.add_error("is_default", "The default model must be enabled.")
        successor = data.get("successor")
        if successor is not None and self.instance.pk and successor.pk == self.instance.pk:
            self.add_error("successor", "A model cannot be its own successor.")
        return data


def _make_default(model: AIModel) -> None:
    with transaction.atomic():
        AIModel.objects.filter(is_default=True).exclude(pk=model.pk).update(is_default=False)
        AIModel.objects.filter(pk=model.pk).update(is_default=True, enabled=True)


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    form = AIModelForm
    # The columns an admin decides by first (in view at 1280 px: static/css/admin.css), then the rest.
    list_display = (
        "provider_id", "label", "enabled", "is_default", "retires_on", "successor", "api_short", "last_check_short",
        "input_price", "output_price",
    )  # fmt: skip
    list_filter = ("enabled", "is_default", "api")
    search_fields = ("provider_id", "label")
    list_select_related = ("successor",)
    actions = ["make_default", "check_models", "move_conversations"]
    readonly_fields = ("last_check", "budget_hold")
    fieldsets = (
        (None, {"fields": ("provider_id", "label", "enabled", "is_default")}),
        (
            "Endpoint",
            {
                "fields": ("api", "last_check"),
                "description": "Which AI/ML API endpoint answers this model: the one its documentation page shows. "
                "Check it (action “Check the selected models” in the list) before moving people to it.",
            },
        ),
        (
            "Prices (USD per 1M tokens)",
            {
                "fields": ("input_price", "cached_input_price", "output_price"),
                "description": "New answers are charged at these prices; earlier answers keep the prices they were "
                "charged at.",
            },
        ),
        (
            "Parameters",
            {
                "fields": (
                    "reasoning_efforts",
                    "max_output_tokens",
                    "reasoning_summaries",
                    "accepts_images",
                    "accepts_files",
                ),
                "description": "“Returns reasoning summaries”: the model's thinking is asked for and shown under "
                "“Thinking…” while it works. Off for a model whose documentation shows no reasoning field (e.g. "
                "gpt-5-pro): switch it on to try. If the provider refuses the field (400), each prompt is sent "
                "once more without it and the worker log says so: then switch it off again.",
            },
        ),
        (
            "Budgets",
            {
                "fields": ("typical_output_tokens", "budget_hold"),
                "description": "A prompt is held against budgets at its input plus this many output tokens while "
                "it runs (BUDGET_HOLD=typical); an answer that takes more is charged in full. With BUDGET_HOLD=worst, "
                "at the model's maximum output tokens.",
            },
        ),
        (
            "Retirement",
            {
                "fields": ("retires_on", "successor"),
                "description": "From 14 days before the date, admins see a banner. From the date on, a "
                "conversation on this model continues with the successor at its next prompt, with a line saying so "
                "(and at once if the provider answers that the model is deprecated or unknown).",
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        if obj.is_default:
            # One default at a time (a database constraint): the previous default gives way.
            AIModel.objects.filter(is_default=True).exclude(pk=obj.pk).update(is_default=False)
        super().save_model(request, obj, form, change)

    @admin.action(description="Make the selected model the default for new conversations")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to make it the default.", messages.ERROR)
            return
        model = queryset.get()
        _make_default(model)
        self.message_user(request, f"{model} is now the default model (and enabled).", messages.SUCCESS)

    @admin.display(description="API", ordering="api")
    def api_short(self, model: AIModel) -> str:
        if model.api == aimlapi.API_CHAT:
            note = " (streams: no background mode)" if settings.AIMLAPI_MODE == "background" else ""
            return f"Chat Completions{note}"
        return "Responses"

    @admin.display(description="held now")
    def budget_hold(self, model: AIModel) -> str:
        """What a prompt to this model is held at now (no conversation cap), and why."""
        if model.pk is None:
            return "-"
        hold = holds.output_hold(model=model.provider_id, row=model, cap=None)
        return f"{hold.output_tokens:,} output tokens: {holds.hold_reason(hold, str(model))}"

    @admin.display(description="last check")
    def last_check(self, model: AIModel) -> str:
        if model.last_check_at is None:
            return "never"
        if model.last_check_ok is None:
            started = model.last_check_at
            return format_html(
                '<span class="check-running">Checking… (started {}; reload)</span>', f"{started:%H:%M:%S}"
            )
        cost = f", ${model.last_check_cost_usd:.6f}" if model.last_check_cost_usd is not None else ""
        seconds = f"{model.last_check_ms / 1000:.1f} s" if model.last_check_ms is not None else "?"
        return format_html(
            '<span class="{}">{} {}{}</span><br><small>{} ({})</small>',
            "check-ok" if model.last_check_ok else "check-failed",
            "✔ OK" if model.last_check_ok else "✘ Failed",
            seconds,
            cost,
            model.last_check_message,
            f"{timezone.localtime(model.last_check_at):%d %b %Y %H:%M}",
        )

    @admin.display(description="last check")
    def last_check_short(self, model: AIModel) -> str:
        """The outcome in a few words; the provider's message on hover (and on the model's page)."""
        if model.last_check_at is None:
            return "never"
        if model.last_check_ok is None:
            return "Checking…"
        cost = f", ${model.last_check_cost_usd:.4f}" if model.last_check_cost_usd is not None else ""
        seconds = f"{model.last_check_ms / 1000:.1f} s" if model.last_check_ms is not None else "?"
        return format_html(
            '<span class="{}" title="{}">{} {}{}</span>',
            "check-ok" if model.last_check_ok else "check-failed",
            model.last_check_message,
            "✔ OK" if model.last_check_ok else "✘ Failed",
            seconds,
            cost,
        )

    @admin.action(description="Check the selected models (one tiny prompt each, charged to you)")
    def check_models(self, request, queryset):
        for model in queryset:
            checks.model_check_start(model=model)
            # After the commit (admin actions may run in a transaction): the worker sends it.
            transaction.on_commit(lambda pk=model.pk: tasks.model_check_task(pk, request.user.pk))
        names = ", ".join(str(model) for model in queryset)
        self.message_user(
            request,
            f"Checking {names}: the outcome, latency and cost show in the “last check” column (reload in a minute).",
            messages.INFO,
        )

    @admin.action(description="Move every conversation on the selected models to another model…")
    def move_conversations(self, request, queryset):
        ids = list(queryset.values_list("provider_id", flat=True))
        what = "every conversation on " + ", ".join(str(model) for model in queryset)
        return move_action(self, request, queryset, Conversation.objects.filter(model__in=ids), what=what)
