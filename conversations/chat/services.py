"""Chat's writes: create a conversation or turn, cancel, retry,
edit, settings, delete, pin and archive (import and share: history/services.py).

Generating an answer is the worker's side (`worker.py`); charges are written by
`ledger.py`. Rules that keep prompts safe and answers single:
- A turn is committed (status `queued`) before anything talks to the provider.
- The provider is never called from a web request, nor inside a transaction.
- Each state change is a conditional UPDATE (`status=..., attempts=n`), so a
  late worker never overwrites a cancel, a retry or another worker's result.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import tasks
from conversations.models import Conversation, Turn
from conversations.usage import budgets, catalog, continuity

from . import selectors, titles

logger = logging.getLogger(__name__)


class TurnInFlight(Exception):
    """The conversation already has a turn that is queued or being generated."""

    message = "An answer is still being generated in this conversation. Wait for it or press Stop, then send again."


class TurnNotRetryable(Exception):
    message = "Only failed, incomplete or cancelled answers can be retried."


class FormTokenTaken(TurnInFlight):
    """The form's one-time token belongs to another user's turn (a copied or forged form)."""

    message = "This form had already been used. Your prompt is still in the box: press Send again."


class UserLimitReached(Exception):
    """Too many answers running, or too many prompts this hour, for this user (HTTP 429)."""

    status = 429

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Creating turns --------------------------------------------------------------


def _turn_by_token(owner: User, client_token: uuid.UUID | None) -> Turn | None:
    if not client_token:
        return None
    return Turn.objects.filter(client_token=client_token, conversation__owner=owner).first()


def _enqueue(turn: Turn) -> None:
    turn_id = turn.id
    transaction.on_commit(lambda: tasks.turn_run_task(str(turn_id)))


def user_limits_check(*, owner: User, hourly: bool = True) -> None:
    """Raise UserLimitReached when `owner` may not start another answer now.

    Call inside the transaction that queues the answer: the user's row is locked
    first (PostgreSQL; SQLite's write transaction is exclusive anyway), so two web
    processes cannot both pass the count. One user's prompts can then fill at most
    MAX_ACTIVE_TURNS_PER_USER workers: the rest stay free for everyone else.
    """
    # FOR NO KEY UPDATE: serialises these checks, yet lets rows that merely reference the user
    # (a worker writing a charge) go on; FOR UPDATE blocked those and could deadlock with them.
    list(get_user_model().objects.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk"))
    mine = Turn.objects.filter(conversation__owner=owner)
    active = mine.filter(status__in=Turn.ACTIVE).count()
    if active >= settings.MAX_ACTIVE_TURNS_PER_USER:
        raise UserLimitReached(
            f"You already have {active} answers being generated (the limit is "
            f"{settings.MAX_ACTIVE_TURNS_PER_USER}). Wait for one to finish, or stop one, then send again."
        )
    limit = settings.MAX_PROMPTS_PER_HOUR
    if hourly and limit:
        since = timezone.now() - timedelta(hours=1)
        recent = list(
            mine.filter(created_at__gte=since).order_by("-created_at").values_list("created_at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            again = timezone.localtime(recent[-1] + timedelta(hours=1))
            raise UserLimitReached(
                f"You sent {limit} prompts in the last hour, the limit here. "
                f"You can send again at {again:%H:%M} ({again.tzname()})."
            )


def _create_once(*, owner: User, client_token: uuid.UUID | None, create: Callable[[], Turn]) -> Turn:
    """Run `create()` (which makes and returns a turn) once per form token, then queue the turn.

    A repeated token returns the turn it made (double click, resubmitted form,
    two tabs). Raises TurnInFlight when the conversation already has a running
    turn: the partial unique constraint makes that hold across processes.
    """
    existing = _turn_by_token(owner, client_token)
    if existing:
        return existing
    try:
        with transaction.atomic():
            user_limits_check(owner=owner)  # UserLimitReached: nothing is created
            turn = create()
            # A retired model hands the conversation to its successor before the prompt is priced.
            continuity.turn_continue(turn=turn)
            # Raises BudgetExceeded (rolling the turn back) when the prompt could pass a budget.
            budgets.turn_reserve(turn=turn)
            # The new turn is the version on screen from now on.
            Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=turn.created_at, current_turn=turn)
            _enqueue(turn)
    except IntegrityError:
        # Another request with the same token, or another running turn, won.
        existing = _turn_by_token(owner, client_token)
        if existing:
            return existing
        if client_token and Turn.objects.filter(client_token=client_token).exists():
            raise FormTokenTaken from None
        raise TurnInFlight from None
    return turn


def conversation_create(
    *,
    owner: User,
    prompt: str,
    client_token: uuid.UUID | None = None,
    model: str = "",
    instructions: str = "",
    max_output_tokens: int | None = None,
    reasoning_effort: str = "",
) -> Turn:
    """Start a conversation with its first turn (and its settings: model, output cap, effort)."""

    def create() -> Turn:
        conversation = Conversation.objects.create(
            owner=owner,
            title=titles.title_from(prompt),
            model=model or catalog.default_model_id(),
            instructions=instructions,
            max_output_tokens=max_output_tokens,
            reasoning_effort=reasoning_effort,
        )
        return Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token, parent=None)

    return _create_once(owner=owner, client_token=client_token, create=create)


def _leaf_on_screen(conversation: Conversation) -> uuid.UUID | None:
    """The last turn of the version the conversation shows (read now: another tab may have switched)."""
    current = Conversation.objects.filter(pk=conversation.pk).values_list("current_turn_id", flat=True).first()
    return selectors.conversation_tree(conversation=conversation).leaf(current=current)


def turn_create(
    *, conversation: Conversation, prompt: str, client_token: uuid.UUID | None = None, parent: Turn | None = None
) -> Turn:
    """Add a prompt after `parent` (default: the last turn on screen) and queue its generation.

    The page posts the last turn it shows as `parent`, so a prompt continues the version the
    user reads even when another tab switched to another one meanwhile.
    """

    def create() -> Turn:
        after = parent.pk if parent is not None else _leaf_on_screen(conversation)
        return Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token, parent_id=after)

    return _create_once(owner=conversation.owner, client_token=client_token, create=create)


def turn_regenerate(*, turn: Turn, prompt: str | None = None, client_token: uuid.UUID | None = None) -> Turn:
    """Ask again (optionally with an edited prompt) as another version of `turn`.

    The new turn has the same parent, so it follows the same turns and the model sees the same
    earlier exchanges; `turn` and everything after it stay as they are, one switch away.
    """
    conversation = turn.conversation

    def create() -> Turn:
        return Turn.objects.create(
            conversation=conversation,
            prompt=turn.prompt if prompt is None else prompt,
            client_token=client_token,
            parent_id=turn.parent_id,
        )

    return _create_once(owner=conversation.owner, client_token=client_token, create=create)


def turn_show(*, turn: Turn) -> uuid.UUID | None:
    """Show this version: the conversation's page follows the path through it to its newest turn.

    Returns the id of that last turn. The conversation's order in the list does not change.
    """
    leaf = selectors.conversation_tree(conversation=turn.conversation).newest_below(turn.pk)
    Conversation.objects.filter(pk=turn.conversation_id).update(current_turn_id=leaf)
    turn.conversation.current_turn_id = leaf
    return leaf


# --- User actions ---------------------------------------------------------------


def turn_cancel(*, turn: Turn) -> bool:
    """Stop a queued or running turn at once; the worker notices and stops its call."""
    now = timezone.now()
    done = Turn.objects.filter(id=turn.id, status__in=Turn.ACTIVE).update(
        status=Turn.Status.CANCELLED,
        completed_at=now,
        updated_at=now,
        error_code="cancelled",
        error_message="Stopped by the user.",
    )
    turn.refresh_from_db()
    if done and turn.mode == "background" and turn.response_id:
        # The worker cancels upstream too, but it may be gone; never from the web request.
        tasks.response_cancel_task(turn.response_id)
    return bool(done)


def _history_entry(turn: Turn) -> dict[str, Any]:
    return {
        "attempt": turn.attempts,
        "status": turn.status,
        "error_code": turn.error_code,
        "error_message": turn.error_message,
        "response_id": turn.response_id,
        "output_tokens": turn.output_tokens,
        "input_tokens": turn.input_tokens,
        "cost_usd": str(turn.cost_usd) if turn.cost_usd is not None else None,
        "started_at": turn.started_at.isoformat() if turn.started_at else None,
        "completed_at": turn.completed_at.isoformat() if turn.completed_at else None,
    }


def turn_retry(*, turn: Turn) -> Turn:
    """Queue the same prompt again on the same turn; the earlier outcome moves to `history`."""
    if not turn.can_retry:
        raise TurnNotRetryable
    try:
        with transaction.atomic():
            user_limits_check(owner=turn.conversation.owner, hourly=False)
            updated = Turn.objects.filter(id=turn.id, status=turn.status, attempts=turn.attempts).update(
                status=Turn.Status.QUEUED,
                history=[*turn.history, _history_entry(turn)],
                updated_at=timezone.now(),
                completed_at=None,
                error_code="",
                error_message="",
            )
            if updated:
                continuity.turn_continue(turn=turn)
                budgets.turn_reserve(turn=turn)  # BudgetExceeded rolls the retry back
                _enqueue(turn)
    except IntegrityError:
        raise TurnInFlight from None
    turn.refresh_from_db()
    return turn


# --- Conversation management ---------------------------------------------------


def conversation_update(*, conversation: Conversation, **fields: Any) -> Conversation:
    for name, value in fields.items():
        setattr(conversation, name, value)
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=[*fields, "updated_at"])
    return conversation


class NoSuccessor(Exception):
    message = "This conversation's model has no successor to switch to; choose a model in the settings."


def conversation_switch_model(*, conversation: Conversation) -> Conversation:
    """Move a conversation from its retired model to the successor the catalogue names, now.

    (The next prompt would do it anyway: continuity.turn_continue.)
    """
    row = catalog.model_get(conversation.model)
    successor = row.successor if row else None
    if successor is None or not successor.enabled:
        raise NoSuccessor
    return conversation_update(conversation=conversation, **continuity.switch_fields(conversation, successor))


def conversation_delete(*, conversation: Conversation) -> None:
    for turn in conversation.turns.filter(status__in=Turn.ACTIVE):
        turn_cancel(turn=turn)
    conversation.delete()


# --- Organising the list: pin and archive (the order of the list is not changed) ------------


def _organise(conversation: Conversation, **fields: Any) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    for name, value in fields.items():
        setattr(conversation, name, value)
    return conversation


def conversation_pin(*, conversation: Conversation) -> Conversation:
    """Keep it at the top of the list (pinned ones are ordered by when they were pinned)."""
    return _organise(conversation, pinned_at=conversation.pinned_at or timezone.now(), archived_at=None)


def conversation_unpin(*, conversation: Conversation) -> Conversation:
    return _organise(conversation, pinned_at=None)


def conversation_archive(*, conversation: Conversation) -> Conversation:
    """Hide it from the list; search with the Archived filter finds it. Archiving unpins."""
    return _organise(conversation, archived_at=conversation.archived_at or timezone.now(), pinned_at=None)


def conversation_unarchive(*, conversation: Conversation) -> Conversation:
    return _organise(conversation, archived_at=None)
