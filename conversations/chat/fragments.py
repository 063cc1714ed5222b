"""The fragments pages swap in: one turn as `/t/<id>/live/` serves it and a pushed update carries it.

One renderer for both (chat/views.py and live/stream.py), so a pushed turn is exactly what a fetch
would get, and neither calls the other.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string

from conversations.generation import scheduler
from conversations.models import Turn
from conversations.usage import budgets

from . import selectors


def turn_html(request: HttpRequest, turn: Turn) -> str:
    """The turn's article (`_turn.html`), with its versions; once it has ended, the conversation's
    token and cost totals, the budget line and the next prompt's estimate too (out of band), since
    its answer changed them."""
    turn.versions = selectors.turn_versions(turn)
    context: dict[str, Any] = {"turn": turn, "conversation": turn.conversation}
    if turn.is_waiting:
        context["place"] = scheduler.waiting_place(turn=turn)
    if turn.is_active or turn.is_waiting:
        return render_to_string("conversations/_turn.html", context, request=request)
    context.update(oob_usage=True, usage=selectors.conversation_usage(conversation=turn.conversation))
    html = render_to_string("conversations/_turn.html", context, request=request)
    cost = budgets.composer_cost(conversation=turn.conversation, leaf=turn.pk)
    money = {"composer_cost": cost, "oob": True}
    return html + render_to_string("conversations/_composer_money.html", money, request=request)
