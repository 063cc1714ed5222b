from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator


class PromptForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask anything…", "autofocus": True}),
        error_messages={"required": "Type a prompt before sending."},
    )
    # One-time token: a double click or a resubmitted form lands on the same turn.
    client_token = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].validators.append(MaxLengthValidator(settings.MAX_PROMPT_CHARS))

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"]
        if not prompt.strip():
            raise forms.ValidationError("Type a prompt before sending.")
        return prompt


class ConversationSettingsForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField(choices=())
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    max_output_tokens = forms.IntegerField(min_value=16, max_value=272_000, required=False)
    reasoning_effort = forms.ChoiceField(
        choices=[("", "Model default"), ("low", "Low"), ("medium", "Medium"), ("high", "High")], required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m, m) for m in settings.AIMLAPI_MODELS]


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200)
