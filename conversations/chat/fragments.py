"""The fragments pages swap in: one turn as `/t/<id>/live/` serves it and a pushed update carries it.

One renderer for both (chat/views.py and live/stream.py), so a pushed turn is exactly what a fetch
would get, and neither calls the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.template.loader import render_to_string

from aimlweb.http import SignedInRequest
from conversations.generation import scheduler
from conversations.models import Turn
from conversations.usage import budgets

from . import selectors

T = TypeVar("T")


class Shared:
    """What the fragments of one change have in common for one user's pages, drawn once for all of them.

    An ended turn's fragment carries the conversation's totals, the budget line and the next prompt's
    estimate (about ten queries): the same for every open page of its user. The watcher
    (live/changes.py) hands one `Shared` to all the pages of a user told of one change; the first
    page's draw computes each part, the others reuse it. Only ever for `user_id`'s pages
    (`turn_html` ignores it for another user). Draws may run in several threads: one lock.
    """

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self._lock = threading.RLock()
        self._parts: dict[Hashable, Any] = {}

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._parts:
                self._parts[key] = compute()
            return self._parts[key]


def turn_html(request: SignedInRequest, turn: Turn, shared: Shared | None = None) -> str:
    """The turn's article (`_turn.html`), with its versions; once it has ended, the conversation's
    token and cost totals, the budget line and the next prompt's estimate too (out of band), since
    its answer changed them. `shared`: those last parts as other pages of the user drew them."""
    turn.versions = selectors.turn_versions(turn)
    context: dict[str, Any] = {"turn": turn, "conversation": turn.conversation}
    if turn.is_waiting:
        context["place"] = scheduler.waiting_place(turn=turn)
    if turn.is_active or turn.is_waiting:
        return render_to_string("conversations/_turn.html", context, request=request)
    if shared is None or shared.user_id != request.user.pk:
        shared = Shared(request.user.pk)
    conversation = turn.conversation
    usage = shared.once(("usage", conversation.pk), lambda: selectors.conversation_usage(conversation=conversation))
    context.update(oob_usage=True, usage=usage)
    html = render_to_string("conversations/_turn.html", context, request=request)
    return html + shared.once(("money", turn.pk), lambda: _money_html(request, turn, shared))


def _money_html(request: SignedInRequest, turn: Turn, shared: Shared) -> str:
    """The composer's figures (`_composer_money.html`, out of band) after `turn`: what the next prompt
    may cost and what is left of the budget (the user's, read once per `shared`)."""
    user = request.user
    money = {
        "composer_cost": budgets.composer_cost(conversation=turn.conversation, leaf=turn.pk),
        "budget_shown": shared.once("budget", lambda: budgets.composer_status(user)),
        "oob": True,
    }
    return render_to_string("conversations/_composer_money.html", money, request=request)
