"""What is sent for a turn: the path on screen as user/assistant messages, then the turn's prompt.

The worker sends it; budgets estimate it before the turn is queued. Either endpoint takes it
(aimlapi.build_body puts the instructions first, in its own way).
"""

from __future__ import annotations

import uuid

from conversations.chat import selectors
from conversations.models import Turn


def conversation_input(turn: Turn, *, path: list[uuid.UUID] | None = None) -> list[dict]:
    """The completed turns of this turn's path (prompt, answer) in order, then this turn's prompt.

    Only the path: the versions on other branches of the conversation are never sent. `path`: the
    turn's path (selectors.turn_path) when the caller has read it already.
    """
    path = selectors.turn_path(turn) if path is None else path
    completed = Turn.objects.filter(pk__in=path, status=Turn.Status.COMPLETED)
    answered = {
        turn_id: (prompt, answer) for turn_id, prompt, answer in completed.values_list("id", "prompt", "output_text")
    }
    items: list[dict] = []
    for turn_id in path:
        if turn_id in answered:
            prompt, answer = answered[turn_id]
            items.append({"role": "user", "content": prompt})
            items.append({"role": "assistant", "content": answer})
    items.append({"role": "user", "content": turn.prompt})
    return items
