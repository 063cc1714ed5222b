import uuid

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def version(value) -> str:
    """A turn's change stamp, as the live poll compares it."""
    return str(int(value.timestamp() * 1_000_000)) if value else "0"


@register.filter
def answer_html(turn) -> str:
    # output_html was produced by rendering.markdown_to_html (sanitised with nh3),
    # so it is the one place where marking HTML safe is correct.
    return mark_safe(turn.output_html)  # noqa: S308


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
