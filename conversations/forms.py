from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator

from . import catalog


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
        # Browsers post textarea line breaks as CRLF; store what the user saw.
        prompt = self.cleaned_data["prompt"].replace("\r\n", "\n")
        if not prompt.strip():
            raise forms.ValidationError("Type a prompt before sending.")
        return prompt


class ConversationSettingsForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    model = forms.ChoiceField(choices=())
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    max_output_tokens = forms.IntegerField(
        min_value=16,
        max_value=272_000,
        required=False,
        help_text="Caps the answer plus its reasoning. Too low, and gpt-5-pro may spend it all on reasoning. "
        "Empty: no cap.",
    )
    reasoning_effort = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args, model: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        # Sent with every turn of the conversation: bounded like a prompt.
        self.fields["instructions"].validators.append(MaxLengthValidator(settings.MAX_INSTRUCTIONS_CHARS))
        # The catalogue's enabled models; the current one stays listed even if an admin disabled it.
        choices = [(m.provider_id, str(m)) for m in catalog.models_enabled()]
        if model and model not in dict(choices):
            choices.append((model, model))
        self.fields["model"].choices = choices
        # Only parameters the model accepts are offered (and sent).
        efforts = catalog.accepted_efforts(model)
        self.fields["reasoning_effort"].choices = [("", "Model default")] + [(e, e.capitalize()) for e in efforts]
        if not efforts:
            self.fields["reasoning_effort"].disabled = True
            self.fields["reasoning_effort"].help_text = f"{model} takes no reasoning effort setting."


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200)


class RegenerateForm(PromptForm):
    """Regenerate as is (no `prompt` posted) or with an edited prompt."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].required = False

    def clean_prompt(self) -> str | None:
        if "prompt" not in self.data:
            return None
        return super().clean_prompt()
