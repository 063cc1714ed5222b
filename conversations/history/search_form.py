"""The search page's form: the text and the filters, validated, as Filters."""

from __future__ import annotations

from django import forms

from conversations.models import Turn
from conversations.usage import catalog

from .search_filters import ARCHIVED_CHOICES, PAGE, RANKED_MAX, Filters
from .search_query import SURROGATES


class SearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        strip=True,
        label="Search",
        error_messages={"null_characters_not_allowed": "A search cannot contain NUL characters."},
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.ChoiceField(required=False, label="Model")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *Turn.Status.choices])
    archived = forms.ChoiceField(required=False, label="Conversations", choices=ARCHIVED_CHOICES)
    min_cost = forms.DecimalField(
        required=False,
        label="Cost above (USD)",
        min_value=0,
        max_digits=12,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=RANKED_MAX // PAGE, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Any model")] + [(m.provider_id, str(m)) for m in catalog.models_enabled()]
        # Surrogates cannot even be stored: gone before validation, the rest is searched.
        if self.is_bound and "q" in self.data:
            self.data = self.data.copy()
            self.data["q"] = SURROGATES.sub(" ", self.data["q"])

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            model=data.get("model") or "",
            status=data.get("status") or "",
            archived=data.get("archived") or "",
            min_cost=data.get("min_cost"),
        )

    @property
    def filters_open(self) -> bool:
        return any(self.data.get(name) for name in ("date_from", "date_to", "model", "status", "archived", "min_cost"))
