import uuid

from django import template
from django.utils.safestring import mark_safe

from conversations.chat import rendering
from conversations.usage import catalog

register = template.Library()


@register.filter
def version(value) -> str:
    """A turn's change stamp, as the live poll compares it."""
    return str(int(value.timestamp() * 1_000_000)) if value else "0"


@register.filter
def answer_html(turn) -> str:
    # output_html was produced by rendering.markdown_to_html (sanitised with nh3),
    # so it is the one place where marking HTML safe is correct. Text kept from before
    # partial answers were rendered (a stop, a failure) is rendered now, the same way.
    html = turn.output_html or (rendering.markdown_to_html(turn.output_text) if turn.output_text else "")
    return mark_safe(html)  # noqa: S308


@register.filter
def thinking_html(text: str) -> str:
    # Escaped whole by rendering.thinking_to_html before its only tags (<p>, <br>, <strong>) are added.
    return mark_safe(rendering.thinking_to_html(text))  # noqa: S308


def _labels(conversation) -> dict[str, str]:
    """The catalogue's model labels, read once per conversation object (so once per page)."""
    if not hasattr(conversation, "_model_labels"):
        conversation._model_labels = catalog.labels()
    return conversation._model_labels


@register.filter
def model_label(conversation) -> str:
    """The label of the conversation's model ("GPT-5 Pro"), or its id when the catalogue has none."""
    if not conversation:
        return "The model"
    return _labels(conversation).get(conversation.model) or conversation.model


@register.simple_tag
def default_model_label() -> str:
    """The label of the catalogue's default model: pages name it, never a model written into them."""
    model_id = catalog.default_model_id()
    return catalog.labels().get(model_id) or model_id


@register.filter
def written_by(turn, conversation) -> str:
    """The label of the model that wrote this answer, when it is not the conversation's model now.

    `Turn.model` is what the provider echoed ("gpt-5-pro", a dated snapshot); it is matched
    to the catalogue (catalog.model_echoed). Empty when no answer named a model, or it is
    the conversation's current one.
    """
    if not turn.model or conversation is None or turn.model in (conversation.model, conversation.model.split("/")[-1]):
        return ""
    known = _labels(conversation)
    provider_id = catalog.model_echoed(turn.model, known)
    if provider_id == conversation.model:
        return ""
    return known.get(provider_id) or turn.model


# A prompt longer than this shows collapsed, with "Show more" (lines as they wrap at ~80 characters).
PROMPT_COLLAPSE_LINES = 15


@register.filter
def long_prompt(text: str) -> bool:
    lines = 0
    for line in (text or "").split("\n"):
        lines += 1 + len(line) // 80
        if lines > PROMPT_COLLAPSE_LINES:
            return True
    return False


@register.filter
def seconds(delta) -> str:
    if delta is None:
        return ""
    total = int(delta.total_seconds())
    return f"{total // 60}:{total % 60:02d}" if total >= 60 else f"{delta.total_seconds():.1f} s"


@register.simple_tag
def new_token() -> str:
    """A one-time form token (see PromptForm.client_token)."""
    return str(uuid.uuid4())
