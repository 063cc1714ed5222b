"""The admin's move of conversations from one model to another, after a preview of what it touches.

Two actions share it: on models ("every conversation on the selected models") and on conversations
("the selected conversations"). The first POST asks for the target model; the preview says how many
conversations and users move and how each source model's prices compare with the target's; only the
confirm button moves them (continuity.conversations_move).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from conversations.models import AIModel, Conversation

from . import continuity


class MoveForm(forms.Form):
    target = forms.ModelChoiceField(
        queryset=AIModel.objects.filter(enabled=True).order_by("-is_default", "provider_id"),
        label="Move to",
        empty_label=None,
        help_text="Only enabled models. Answers being written finish on the model they started on.",
    )


def move_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    selected: QuerySet,
    conversations: QuerySet[Conversation],
    *,
    what: str,
) -> HttpResponse | None:
    """Ask for the target, preview, then move. `what` names the selection on the page."""
    form = MoveForm(request.POST if "target" in request.POST else None)
    plan = None
    if form.is_valid():
        target = form.cleaned_data["target"]
        if "confirm" in request.POST:
            moved = continuity.conversations_move(conversations=conversations, target=target)
            modeladmin.message_user(
                request, f"{moved} conversation{'' if moved == 1 else 's'} moved to {target}.", messages.SUCCESS
            )
            return None  # back to the list
        plan = continuity.move_plan(conversations=conversations, target=target)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Move conversations to another model",
        "opts": modeladmin.model._meta,
        "form": form,
        "plan": plan,
        "what": what,
        "selected": selected.values_list("pk", flat=True),
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/conversations/move.html", context)
