"""The model catalogue in the admin: prices, parameters, the default model and retirement."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from .models import AIModel


class AIModelForm(forms.ModelForm):
    class Meta:
        model = AIModel
        fields = (
            "provider_id", "label", "enabled", "is_default", "input_price", "cached_input_price", "output_price",
            "reasoning_efforts", "max_output_tokens", "retires_on", "successor",
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
    list_display = (
        "provider_id", "label", "input_price", "cached_input_price", "output_price", "max_output_tokens",
        "reasoning_efforts", "enabled", "is_default", "retires_on", "successor",
    )  # fmt: skip
    list_filter = ("enabled", "is_default")
    search_fields = ("provider_id", "label")
    list_select_related = ("successor",)
    actions = ["make_default"]
    fieldsets = (
        (None, {"fields": ("provider_id", "label", "enabled", "is_default")}),
        (
            "Prices (USD per 1M tokens)",
            {
                "fields": ("input_price", "cached_input_price", "output_price"),
                "description": "New answers are charged at these prices; earlier answers keep the prices they were "
                "charged at.",
            },
        ),
        ("Parameters", {"fields": ("reasoning_efforts", "max_output_tokens")}),
        (
            "Retirement",
            {
                "fields": ("retires_on", "successor"),
                "description": "From 14 days before the date, admins see a banner; after it, conversations on this "
                "model offer a one-click switch to the successor.",
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
