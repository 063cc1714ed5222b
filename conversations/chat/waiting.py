"""Writes for prompts that wait to start (status `waiting`, shown as "Queued"): hand a turn to the
worker or put it in the queue, replace or edit a waiting prompt, send a held follow-up.

When a waiting turn starts is the scheduler's (`generation/scheduler.py`); whether a new prompt
starts or waits is decided where it is accepted (`services._create_once`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations import tasks
from conversations.attachments import services as attachments_writes
from conversations.generation import scheduler
from conversations.models import Attachment, Conversation, Turn
from conversations.usage import budgets


def turn_enqueue(*, turn: Turn) -> None:
    """Hand the (queued) turn to the worker once the transaction commits: its id, as a Huey task."""
    turn_id = turn.id
    transaction.on_commit(lambda: tasks.turn_run_task(str(turn_id)))


def turn_start_or_wait(*, turn: Turn, start: bool, busy: uuid.UUID | None) -> None:
    """Hand a started turn to the worker, or put a waiting one in its owner's queue: a follow-up of
    the running answer `busy` when that is its parent."""
    if start:
        turn_enqueue(turn=turn)
    else:
        scheduler.turn_wait(turn=turn, follows_id=busy if busy is not None and busy == turn.parent_id else None)


def turn_waiting_replace(
    *,
    waiting: Turn,
    prompt: str,
    client_token: uuid.UUID | None,
    after: uuid.UUID | None,
    start: bool,
    busy: uuid.UUID | None,
    quote: budgets.Quote | None = None,
) -> Turn:
    """Sent again while a prompt of the conversation waits: the new text replaces the waiting one's, which
    now follows the turn the page shows last (unless that is itself), and starts if it now may.

    Call in the transaction that accepts the prompt (services._create_once); `quote`: the new text's
    hold as priced before it (budgets.turn_quote), else priced here.
    """
    fields: dict[str, Any] = {"prompt": prompt, "updated_at": timezone.now()}
    if client_token:
        fields["client_token"] = client_token
    if after is not None and after != waiting.pk:
        fields["parent_id"] = after
    if start:
        fields["status"] = Turn.Status.QUEUED
        scheduler.turn_unwait(turn=waiting)
    Turn.objects.filter(pk=waiting.pk).update(**fields)
    waiting.refresh_from_db()
    budgets.turn_reserve(turn=waiting, quote=quote)  # the new text may cost more: refused at once (BudgetExceeded)
    Conversation.objects.filter(pk=waiting.conversation_id).update(current_turn=waiting)
    turn_start_or_wait(turn=waiting, start=start, busy=busy)
    return waiting


def turn_waiting_edit(*, turn: Turn, prompt: str, attachments: Sequence[Attachment] | None = None) -> bool:
    """Change the prompt of a turn that waits to start (it was never sent), and its files when the editor
    posted its list (`attachments`: those kept, then those added); False once it started.

    Held against budgets again, as the new text or files may cost more (BudgetExceeded: nothing changes).
    """
    with transaction.atomic():
        if not Turn.objects.filter(id=turn.id, status=Turn.Status.WAITING).update(
            prompt=prompt, updated_at=timezone.now()
        ):
            return False
        if attachments is not None:
            attachments_writes.attachments_attach(turn=turn, attachments=attachments)
        turn.refresh_from_db()
        budgets.turn_reserve(turn=turn)
    return True


def turn_waiting_send(*, turn: Turn) -> list[str]:
    """Send a follow-up held after the answer it follows failed or was stopped, as it is.

    It starts once its conversation is free and its user has a slot, as any queued prompt.
    """
    scheduler.turn_release(turn=turn)
    return scheduler.turns_start(owner_id=turn.conversation.owner_id, run=tasks.turn_run_task)
