"""Model continuity: conversations keep answering when their model retires, and admins move them.

- From a model's retirement date on, a conversation on it that has an enabled successor continues on
  the successor: the next prompt goes there, with a line above it saying so (`turn_continue`, called
  where a prompt is queued and again where the worker sends it).
- When the provider answers that the model is deprecated or unknown, the same happens once, at once
  (`turn_continue(gone=True)`, worker.py), and the successor answers that very prompt.
- An admin moves every conversation on a model (or a selection) to another one (`conversations_move`),
  after seeing how many conversations and users it touches and how the price changes (`move_plan`).

A reasoning effort the new model does not accept, or an output cap above its maximum, is cleared, so
the next request is one the new model takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import Count, QuerySet

from conversations.models import AIModel, Conversation, Turn

from . import catalog


def switch_fields(conversation: Conversation, target: AIModel) -> dict:
    """The conversation's fields on `target`: its model, and the settings it would refuse cleared."""
    fields: dict = {"model": target.provider_id}
    if conversation.reasoning_effort and conversation.reasoning_effort not in target.efforts:
        fields["reasoning_effort"] = ""
    cap = target.max_output_tokens
    if conversation.max_output_tokens and cap and conversation.max_output_tokens > cap:
        fields["max_output_tokens"] = None
    return fields


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def continuation_notice(old: AIModel | None, old_id: str, target: AIModel, *, gone: bool) -> str:
    """The line shown above the first turn on the new model."""
    name = str(old) if old is not None else old_id
    if gone or old is None or old.retires_on is None:
        return f"The AI/ML API no longer serves {name}; this conversation continues with {target}."
    return f"{name} retired on {_day(old.retires_on)}; this conversation continues with {target}."


def turn_continue(
    *, turn: Turn, gone: bool = False, today: date | None = None, row: AIModel | None = None
) -> AIModel | None:
    """Move `turn`'s conversation to its model's successor if the model retired (or `gone`); else nothing.

    Returns the new model, with `turn.conversation` updated in memory and the line set on the turn.
    `row`: the conversation's model's catalogue row, when the caller has read it already.
    """
    conversation = turn.conversation
    old_id = conversation.model
    old = row if row is not None else catalog.model_get(old_id)
    target = catalog.continuation(old_id, gone=gone, today=today, row=old)
    if target is None:
        return None
    fields = switch_fields(conversation, target)
    notice = continuation_notice(old, old_id, target, gone=gone)
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
        Turn.objects.filter(pk=turn.pk).update(notice=notice)
    for name, value in fields.items():
        setattr(conversation, name, value)
    turn.notice = notice
    return target


# --- Moving conversations (admin) ----------------------------------------------------------


@dataclass
class MoveSource:
    """The conversations of one model a move takes, and its prices beside the target's."""

    model_id: str
    row: AIModel | None
    conversations: int


@dataclass
class MovePlan:
    target: AIModel
    conversations: int = 0
    users: int = 0
    sources: list[MoveSource] = field(default_factory=list)


def move_plan(*, conversations: QuerySet[Conversation], target: AIModel) -> MovePlan:
    """What moving `conversations` to `target` touches (those already on it are left alone)."""
    moving = conversations.exclude(model=target.provider_id)
    rows = {row.provider_id: row for row in AIModel.objects.all()}
    plan = MovePlan(target=target, users=moving.values("owner").distinct().count())
    for item in moving.values("model").annotate(n=Count("id")).order_by("-n", "model"):
        plan.sources.append(MoveSource(model_id=item["model"], row=rows.get(item["model"]), conversations=item["n"]))
        plan.conversations += item["n"]
    return plan


def conversations_move(*, conversations: QuerySet[Conversation], target: AIModel) -> int:
    """Move `conversations` to `target`; returns how many moved. Answers being written finish on their model."""
    moving = conversations.exclude(model=target.provider_id)
    with transaction.atomic():
        ids = list(moving.values_list("pk", flat=True))
        chosen = Conversation.objects.filter(pk__in=ids)
        chosen.exclude(reasoning_effort="").exclude(reasoning_effort__in=target.efforts).update(reasoning_effort="")
        if target.max_output_tokens:
            chosen.filter(max_output_tokens__gt=target.max_output_tokens).update(max_output_tokens=None)
        return chosen.update(model=target.provider_id)
