import re
from typing import cast

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator

from conversations.models import AIModel
from conversations.usage import catalog


class PromptField(forms.CharField):
    """A prompt as the user typed it: line breaks are one character, as in the text box.

    Browsers post a textarea's line breaks as CRLF; they are made LF before the length is
    checked, so the limit counts what the user saw (static/js/app.js counts the same way).
    """

    def to_python(self, value):
        return super().to_python(value).replace("\r\n", "\n").replace("\r", "\n")


_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


def _too_long(limit: int):
    def check(value: str) -> None:
        if len(value) > limit:
            raise forms.ValidationError(
                f"This prompt has {len(value):,} characters, over the limit of {limit:,}: shorten it by "
                f"{len(value) - limit:,} {'character' if len(value) - limit == 1 else 'characters'} "
                "(or send it in parts), then send again.",
                code="max_length",
            )

    return check


class PromptForm(forms.Form):
    prompt = PromptField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask anything…", "autofocus": True}),
        error_messages={"required": "Type a prompt before sending."},
        strip=False,
    )
    # One-time token: a double click or a resubmitted form lands on the same turn.
    client_token = forms.UUIDField(widget=forms.HiddenInput, required=False)
    # The last turn the page shows: the new prompt follows it (the version the user reads).
    parent = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].validators.append(_too_long(settings.MAX_PROMPT_CHARS))

    @property
    def max_chars(self) -> int:
        return settings.MAX_PROMPT_CHARS

    def clean_prompt(self) -> str | None:  # None: RegenerateForm's "as is"; here always the prompt
        # Kept as typed (the first line's indentation too: pasted code), without blank lines
        # before it or whitespace after it.
        prompt = _LEADING_BLANK_LINES.sub("", self.cleaned_data["prompt"]).rstrip()
        if not prompt.strip():
            raise forms.ValidationError("Type a prompt before sending.")
        return prompt


class NewChatForm(PromptForm):
    """The first prompt of a conversation, and the model to ask (one an admin enabled)."""

    model = forms.ChoiceField(
        choices=(),
        required=False,
        error_messages={"invalid_choice": "That model is no longer offered here. Choose another one, then send."},
    )

    # The new conversation's settings (its settings popover changes them later). Posted with the
    # composer (form="composer"); static/js/new-chat.js offers only the efforts the chosen model takes.
    max_output_tokens = forms.IntegerField(
        min_value=16,
        max_value=272_000,
        required=False,
        widget=forms.NumberInput(attrs={"form": "composer", "placeholder": "No cap", "step": 1}),
        help_text="Caps the answer plus its reasoning, and what the prompt is held at against your budget. "
        "Too low, and the model may spend it all on reasoning. Empty: no cap.",
    )
    reasoning_effort = forms.ChoiceField(
        choices=(), required=False, label="Effort", widget=forms.Select(attrs={"form": "composer"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = list(catalog.models_enabled())
        self.fields["model"].choices = [(m.provider_id, str(m)) for m in self.models]
        self.fields["model"].initial = catalog.default_model_id()
        # Every effort some enabled model takes; clean() checks the chosen model takes it.
        efforts = list(dict.fromkeys(effort for m in self.models for effort in m.efforts))
        cast(forms.ChoiceField, self.fields["reasoning_effort"]).choices = [("", "Model default")] + [
            (e, e.capitalize()) for e in efforts
        ]
        self.efforts_offered = bool(efforts)

    @property
    def model_label(self) -> str:
        """The label of the model the form shows selected (the composer's placeholder names it)."""
        chosen = self["model"].value() or self.fields["model"].initial
        return next((str(m) for m in self.models if m.provider_id == chosen), chosen or "the model")

    @property
    def chosen_row(self) -> AIModel | None:
        """The catalogue row of the model chosen (read with the others: the service need not read it again)."""
        chosen = self.cleaned_data.get("model") or self.fields["model"].initial
        return next((m for m in self.models if m.provider_id == chosen), None)

    def clean(self):
        data = super().clean()
        row = self.chosen_row
        if row is None:
            return data  # the model's own error says why
        effort = data.get("reasoning_effort")
        if effort and effort not in row.efforts:
            takes = f"takes these efforts: {', '.join(row.efforts)}" if row.efforts else "takes no effort setting"
            self.add_error("reasoning_effort", f"{row} {takes}. Choose another, or Model default, then send.")
        cap = data.get("max_output_tokens")
        if cap and row.max_output_tokens and cap > row.max_output_tokens:
            most = f"{row} writes at most {row.max_output_tokens:,} output tokens: enter that or less."
            self.add_error("max_output_tokens", most)
        return data


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
        cast(forms.ChoiceField, self.fields["model"]).choices = choices
        # The composer's placeholder names it ("Ask GPT-5 Pro anything…") without another query.
        self.model_label = dict(choices).get(model, model)
        # Only parameters the model accepts are offered (and sent).
        efforts = catalog.accepted_efforts(model)
        cast(forms.ChoiceField, self.fields["reasoning_effort"]).choices = [("", "Model default")] + [
            (e, e.capitalize()) for e in efforts
        ]
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
