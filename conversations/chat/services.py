"""Chat's writes: create a conversation or turn, cancel, retry,
edit, settings, delete, pin and archive (import and share: history/services.py).

Generating an answer is the worker's side (`worker.py`); charges are written by
`ledger.py`; prompts that wait to start: `waiting.py` (here) and `generation/scheduler.py`. Rules that keep prompts safe
and answers single:
- A turn is committed (status `queued`, or `waiting` in the queue) before anything talks to the provider.
- The provider is never called from a web request, nor inside a transaction.
- Each state change is a conditional UPDATE (`status=..., attempts=n`), so a
  late worker never overwrites a cancel, a retry or another worker's result.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import tasks
from conversations.attachments import services as attachments_writes
from conversations.generation import scheduler
from conversations.models import AIModel, Attachment, Conversation, Turn
from conversations.usage import budgets, catalog, continuity

from . import selectors, titles
from . import waiting as waiting_writes

logger = logging.getLogger(__name__)


class TurnInFlight(Exception):
    """The conversation already has a turn that is queued or being generated."""

    message = "An answer is still being generated in this conversation. Wait for it or press Stop, then send again."


class TurnWaiting(TurnInFlight):
    """The conversation already has a prompt waiting to start (one at a time)."""

    message = "A prompt is already queued in this conversation: edit or cancel it, then try again."


class TurnNotRetryable(Exception):
    message = "Only failed, incomplete or cancelled answers can be retried."


class FormTokenTaken(TurnInFlight):
    """The form's one-time token belongs to another user's turn (a copied or forged form)."""

    message = "This form had already been used. Your prompt is still in the box: press Send again."


class UserLimitReached(Exception):
    """Too many prompts this hour for this user (HTTP 429). Past the running limit, a prompt waits."""

    status = 429

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Creating turns --------------------------------------------------------------


def _turn_by_token(owner: User, client_token: uuid.UUID | None) -> Turn | None:
    if not client_token:
        return None
    return Turn.objects.filter(client_token=client_token, conversation__owner=owner).first()


def user_limits_check(*, owner: User, hourly: bool = True) -> int:
    """Raise UserLimitReached past the hourly prompt limit; else return how many answers `owner` runs.

    Call inside the transaction that accepts the prompt: the user's row is locked first (PostgreSQL;
    SQLite's write transaction is exclusive anyway), so two web processes, or a web process and a
    worker starting a queued prompt, cannot both pass the count. Past MAX_ACTIVE_TURNS_PER_USER a
    prompt waits (generation/scheduler.py), so one user's prompts fill at most that many workers.
    """
    scheduler.owner_lock(owner.pk)
    if hourly:
        _hourly_check(owner)
    return scheduler.running_count(owner.pk)


def _hourly_check(owner: User) -> None:
    limit = settings.MAX_PROMPTS_PER_HOUR
    if not limit:
        return
    since = timezone.now() - timedelta(hours=1)
    mine = Turn.objects.filter(conversation__owner=owner, created_at__gte=since)
    recent = list(mine.order_by("-created_at").values_list("created_at", flat=True)[:limit])
    if len(recent) >= limit:
        again = timezone.localtime(recent[-1] + timedelta(hours=1))
        raise UserLimitReached(
            f"You sent {limit} prompts in the last hour, the limit here. "
            f"You can send again at {again:%H:%M} ({again.tzname()})."
        )


def _running_in(conversation_id: uuid.UUID) -> Turn | None:
    return Turn.objects.filter(conversation_id=conversation_id, status__in=Turn.ACTIVE).first()


# A new prompt, from `Turn.Status` (QUEUED: it starts now, or WAITING: it is queued) and its hold (inserted
# with it: no second write), or the
# waiting prompt it replaces: (the waiting turn, whether it may start now, the running turn, the new
# prompt's hold as priced before the transaction).
Create = Callable[[str, Decimal | None], Turn]
Replace = Callable[[Turn, bool, "uuid.UUID | None", budgets.Quote], Turn]


def _create_once(
    *,
    owner: User,
    client_token: uuid.UUID | None,
    create: Create,
    draft: Turn,
    row: AIModel | None,
    conversation: Conversation | None = None,
    replace: Replace | None = None,
    files: Sequence[Attachment] = (),
) -> Turn:
    """Run `create(status, hold)` (which makes and returns a turn) once per form token, started or queued.

    A repeated token returns the turn it made (double click, resubmitted form, two tabs). The turn
    waits past the user's running limit, or while `conversation`'s answer runs when `replace` is
    given (a new prompt: then it is a follow-up, sent right after that answer); `replace` takes the
    prompt instead while one of the conversation waits. Otherwise a running answer refuses it
    (TurnInFlight) and a waiting prompt too (TurnWaiting): the partial unique constraints make both
    hold across processes.

    `draft`: the turn `create` makes, not saved (its conversation, prompt and parent), priced before the
    transaction (budgets.turn_quote) with `row`, its model's catalogue row, read once per request: the
    transaction, which locks the user's running count and budget, only compares and writes. `files`:
    the attachments `create` (or `replace`) attaches, counted in that price.
    """
    existing = _turn_by_token(owner, client_token)
    if existing:
        return existing
    quote = budgets.turn_quote(turn=draft, row=row, files=sum(file.tokens for file in files))
    try:
        with transaction.atomic():
            running = user_limits_check(owner=owner, hourly=False)
            busy, waiting = selectors.conversation_open_turns(conversation=conversation)
            free = running < settings.MAX_ACTIVE_TURNS_PER_USER
            if busy is not None and replace is None:
                raise TurnInFlight
            if waiting is not None:
                if replace is None:
                    raise TurnWaiting
                # An edit: not one more prompt this hour.
                return replace(waiting, busy is None and free, busy, quote)
            _hourly_check(owner)  # UserLimitReached: nothing is created
            start = busy is None and free
            turn = create(Turn.Status.QUEUED if start else Turn.Status.WAITING, quote.found.usd)
            # A retired model hands the conversation to its successor before the prompt is priced.
            continuity.turn_continue(turn=turn, row=row)
            # Raises BudgetExceeded (rolling the turn back) when the prompt could pass a budget.
            budgets.turn_reserve(turn=turn, quote=quote)
            # The new turn is the version on screen from now on.
            Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=turn.created_at, current_turn=turn)
            waiting_writes.turn_start_or_wait(turn=turn, start=start, busy=busy)
    except IntegrityError:
        # Another request with the same token, or another running or waiting turn, won.
        existing = _turn_by_token(owner, client_token)
        if existing:
            return existing
        if client_token and Turn.objects.filter(client_token=client_token).exists():
            raise FormTokenTaken from None
        raise TurnInFlight from None
    return turn


def _model_row(model: str, row: AIModel | None) -> AIModel | None:
    """The catalogue row of `model`: `row` when the caller read it already (the new-chat form), else read."""
    return row if row is not None and row.provider_id == model else catalog.model_get(model)


def conversation_create(
    *,
    owner: User,
    prompt: str,
    client_token: uuid.UUID | None = None,
    model: str = "",
    instructions: str = "",
    max_output_tokens: int | None = None,
    reasoning_effort: str = "",
    row: AIModel | None = None,
    attachments: Sequence[Attachment] = (),
) -> Turn:
    """Start a conversation with its first turn (and its settings: model, output cap, effort; its files).

    `row`: the model's catalogue row, when the caller has read it (the new-chat form reads them all)."""
    model = model or catalog.default_model_id()
    fields = {
        "owner": owner,
        "title": titles.title_from(prompt),
        "model": model,
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "reasoning_effort": reasoning_effort,
    }

    def create(status: str, hold: Decimal | None) -> Turn:
        conversation = Conversation.objects.create(**fields)
        turn = Turn.objects.create(
            conversation=conversation,
            prompt=prompt,
            client_token=client_token,
            parent=None,
            status=status,
            estimate_usd=hold,
        )
        if attachments:  # a new turn has none to drop
            attachments_writes.attachments_attach(turn=turn, attachments=attachments)
        return turn

    draft = Turn(conversation=Conversation(**fields), prompt=prompt)
    return _create_once(
        owner=owner,
        client_token=client_token,
        create=create,
        draft=draft,
        row=_model_row(model, row),
        files=attachments,
    )


def _leaf_on_screen(conversation: Conversation) -> uuid.UUID | None:
    """The last turn of the version the conversation shows (read now: another tab may have switched)."""
    current = Conversation.objects.filter(pk=conversation.pk).values_list("current_turn_id", flat=True).first()
    return selectors.conversation_tree(conversation=conversation).leaf(current=current)


def turn_create(
    *,
    conversation: Conversation,
    prompt: str,
    client_token: uuid.UUID | None = None,
    parent: Turn | None = None,
    attachments: Sequence[Attachment] = (),
) -> Turn:
    """Add a prompt after `parent` (default: the last turn on screen): started now, or queued.

    The page posts the last turn it shows as `parent`, so a prompt continues the version the
    user reads even when another tab switched to another one meanwhile. While the conversation's
    answer runs, the prompt is a follow-up: it waits and is sent right after that answer (which it
    follows). While a prompt of the conversation waits, sending again replaces its text.
    """
    after = parent.pk if parent is not None else _leaf_on_screen(conversation)

    def create(status: str, hold: Decimal | None) -> Turn:
        turn = Turn.objects.create(
            conversation=conversation,
            prompt=prompt,
            client_token=client_token,
            parent_id=after,
            status=status,
            estimate_usd=hold,
        )
        if attachments:  # a new turn has none to drop
            attachments_writes.attachments_attach(turn=turn, attachments=attachments)
        return turn

    def replace(waiting: Turn, start: bool, busy: uuid.UUID | None, quote: budgets.Quote) -> Turn:
        # The waiting turn follows `after` from now on, as the draft priced did (unless `after` is itself).
        priced = quote if after is not None and after != waiting.pk else None
        attachments_writes.attachments_attach(turn=waiting, attachments=attachments)  # the new prompt's files
        return waiting_writes.turn_waiting_replace(
            waiting=waiting, prompt=prompt, client_token=client_token, after=after, start=start, busy=busy, quote=priced
        )

    return _create_once(
        owner=conversation.owner,
        client_token=client_token,
        create=create,
        draft=Turn(conversation=conversation, prompt=prompt, parent_id=after),
        row=catalog.model_get(conversation.model),
        conversation=conversation,
        replace=replace,
        files=attachments,
    )


def turn_regenerate(
    *,
    turn: Turn,
    prompt: str | None = None,
    client_token: uuid.UUID | None = None,
    attachments: Sequence[Attachment] | None = None,
) -> Turn:
    """Ask again (optionally with an edited prompt, and other files: None keeps `turn`'s) as another version.

    The new turn has the same parent, so it follows the same turns and the model sees the same
    earlier exchanges; `turn` and everything after it stay as they are, one switch away.
    """
    conversation = turn.conversation
    text = turn.prompt if prompt is None else prompt

    files = attachments_writes.attachments_of_version(turn=turn) if attachments is None else attachments

    def create(status: str, hold: Decimal | None) -> Turn:
        version = Turn.objects.create(
            conversation=conversation,
            prompt=text,
            client_token=client_token,
            parent_id=turn.parent_id,
            status=status,
            estimate_usd=hold,
        )
        if files:  # the version's own rows
            attachments_writes.attachments_attach(turn=version, attachments=files)
        return version

    return _create_once(
        owner=conversation.owner,
        client_token=client_token,
        create=create,
        draft=Turn(conversation=conversation, prompt=text, parent_id=turn.parent_id),
        row=catalog.model_get(conversation.model),
        conversation=conversation,
        files=files,
    )


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
    """Stop a running turn at once (the worker notices and stops its call), or take a waiting one out
    of the queue. What waited for the freed slot starts."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": Turn.Status.CANCELLED, "completed_at": now, "updated_at": now}
    with transaction.atomic():
        running = Turn.objects.filter(id=turn.id, status__in=Turn.ACTIVE).update(
            **fields, error_code="cancelled", error_message="Stopped by the user."
        )
        waiting = not running and Turn.objects.filter(id=turn.id, status=Turn.Status.WAITING).update(
            **fields, error_code="cancelled", error_message="Cancelled before it was sent. Retry sends it."
        )
        scheduler.turn_unwait(turn=turn)
    turn.refresh_from_db()
    if running and turn.mode == "background" and turn.response_id:
        # The worker cancels upstream too, but it may be gone; never from the web request.
        tasks.response_cancel_task(turn.response_id)
    if running:
        scheduler.turn_ended(turn=turn, run=tasks.turn_run_task)
    return bool(running or waiting)


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
    """Send the same prompt again on the same turn, or queue it past the user's running limit;
    the earlier outcome moves to `history`.

    An attempt that wrote something (an answer stopped or cut short, its thinking) is not written
    over: the prompt is asked again as another version (`turn_regenerate`), and what it wrote stays
    one `‹ ›` away. Unless a prompt waits in the conversation (a follow-up held behind this one,
    which a retry in place sends after it): then in place, as before."""
    if not turn.can_retry:
        raise TurnNotRetryable
    if (turn.output_text.strip() or turn.thinking.strip()) and not Turn.objects.filter(
        conversation_id=turn.conversation_id, status=Turn.Status.WAITING
    ).exists():
        return turn_regenerate(turn=turn)
    row = catalog.model_get(turn.conversation.model)
    quote = budgets.turn_quote(turn=turn, row=row)  # before the transaction that locks the budget
    try:
        with transaction.atomic():
            running = user_limits_check(owner=turn.conversation.owner, hourly=False)
            if _running_in(turn.conversation_id) is not None:
                raise TurnInFlight
            start = running < settings.MAX_ACTIVE_TURNS_PER_USER
            updated = Turn.objects.filter(id=turn.id, status=turn.status, attempts=turn.attempts).update(
                status=Turn.Status.QUEUED if start else Turn.Status.WAITING,
                history=[*turn.history, _history_entry(turn)],
                updated_at=timezone.now(),
                completed_at=None,
                error_code="",
                error_message="",
            )
            if updated:
                continuity.turn_continue(turn=turn, row=row)
                budgets.turn_reserve(turn=turn, quote=quote)  # BudgetExceeded rolls the retry back
                waiting_writes.turn_start_or_wait(turn=turn, start=start, busy=None)
    except IntegrityError:
        raise TurnWaiting from None
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
    # Waiting turns first, so the slots the running ones free go to other conversations.
    for turn in sorted(conversation.turns.filter(status__in=Turn.OPEN), key=lambda turn: not turn.is_waiting):
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
