"""The queue: prompts accepted but not started yet (status `waiting`, shown as "Queued"), started when they may.

A turn waits when its user already has MAX_ACTIVE_TURNS_PER_USER answers running, or when its
conversation's answer is still running (a follow-up, sent right after the answer it follows, so the
model sees that answer). It starts by itself:

- where a slot frees: a turn ends in the worker (`worker._run_attempt`), the user stops one
  (`chat/services.turn_cancel`): `turns_start(owner_id=...)` for that user, then at once;
- in the sweep (`tasks.turns_recover`: each worker's heartbeat at start-up and every 15 s, and a
  periodic task every minute): `turns_start_all()`, after a restart or a lost hand-over.

Fair across users: a prompt waits only for its own user's slots (the per-user limit is the one thing
that holds one back), so one user's 50 never hold up another's one; one user's start oldest first.
The pick is ONE indexed query on WaitingTurn (owner, created_at), whatever the queue's length: it
reads the user's oldest rows and skips only those that cannot start (a follow-up behind a running
answer: at most one per running answer; a follow-up held for the user after its answer failed).

Safe across processes: a start runs in a transaction that first locks the user's row (as the check of
a new prompt does, chat/services.user_limits_check; SQLite's write transaction is exclusive anyway),
so two workers never pass the user's limit together; the turn moves waiting -> queued with a
conditional UPDATE, so it never starts twice; the partial unique constraint keeps one answer at a
time per conversation. Each started turn is held against budgets again (as when it was accepted);
one that no longer fits fails with the budget's message and Retry, its prompt kept.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from conversations.models import Turn, WaitingTurn
from conversations.usage import budgets, continuity

logger = logging.getLogger(__name__)

# How a started turn is handed to generation: a Huey task (web processes), the worker's own pool.
Run = Callable[[str], object]
# The statuses of a running answer, written out as in the partial unique index's WHERE clause, so
# SQLite (and PostgreSQL) can prove that index applies (a bound parameter would hide it).
_RUNNING_SQL = "status IN ({})".format(", ".join(f"'{status}'" for status in Turn.ACTIVE))


def owner_lock(owner_id: int, *, skip_locked: bool = False) -> bool:
    """Lock the user's row until the transaction ends; False when `skip_locked` and another holds it.

    FOR NO KEY UPDATE: serialises the checks of one user's running answers (new prompts, starts), yet
    lets rows that merely reference the user (a worker writing a charge) go on.
    """
    rows = get_user_model().objects.select_for_update(no_key=True, skip_locked=skip_locked).filter(pk=owner_id)
    return bool(list(rows.values_list("pk", flat=True)))


def running_count(owner_id: int) -> int:
    """The user's answers queued or running (each holds one of their slots)."""
    return Turn.objects.filter(conversation__owner_id=owner_id, status__in=Turn.ACTIVE).count()


def _busy() -> Exists:
    """The waiting turn's conversation has an answer queued or running: one probe of the partial index."""
    return Exists(
        Turn.objects.filter(conversation_id=OuterRef("turn__conversation_id")).extra(where=[_RUNNING_SQL])  # noqa: S610
    )


def _startable() -> QuerySet[WaitingTurn]:
    """Waiting turns that may start once their user has a slot, oldest first (filter by owner)."""
    return (
        WaitingTurn.objects.filter(turn__status=Turn.Status.WAITING)
        .filter(Q(follows__isnull=True) | Q(follows__status=Turn.Status.COMPLETED))
        .filter(~_busy())
        .order_by("created_at", "turn_id")
    )


def pick(owner_id: int) -> QuerySet[WaitingTurn]:
    """The user's waiting turns that can start now, oldest first: an index range scan of (owner, created_at)."""
    return _startable().filter(owner_id=owner_id)


def next_waiting(owner_id: int) -> uuid.UUID | None:
    """The pick: the user's oldest waiting turn that can start now. One indexed query."""
    return pick(owner_id).values_list("turn_id", flat=True).first()


# --- Writes ------------------------------------------------------------------------------------


def turn_wait(*, turn: Turn, follows_id: uuid.UUID | None = None) -> None:
    """Put a (waiting) turn in its owner's queue; `follows_id`: the running answer it is sent after.

    Call in the transaction that made the turn `waiting`. Its place is kept when it is there already.
    """
    owner_id = turn.conversation.owner_id
    WaitingTurn.objects.update_or_create(
        turn_id=turn.pk,
        defaults={"owner_id": owner_id, "follows_id": follows_id},
        create_defaults={"owner_id": owner_id, "follows_id": follows_id, "created_at": turn.created_at},
    )


def turn_unwait(*, turn: Turn) -> None:
    """Out of the queue (it started, or was cancelled)."""
    WaitingTurn.objects.filter(turn_id=turn.pk).delete()


def turn_release(*, turn: Turn) -> bool:
    """A follow-up held after its answer failed or was stopped: send it as it is (Send now)."""
    return bool(WaitingTurn.objects.filter(turn_id=turn.pk, turn__status=Turn.Status.WAITING).update(follows=None))


def _start(turn_id: uuid.UUID) -> bool:
    """waiting -> queued, held against budgets; False when another process took it, or it failed."""
    now = timezone.now()
    WaitingTurn.objects.filter(turn_id=turn_id).delete()
    if not Turn.objects.filter(pk=turn_id, status=Turn.Status.WAITING).update(
        status=Turn.Status.QUEUED, updated_at=now
    ):
        return False
    turn = Turn.objects.select_related("conversation__owner").get(pk=turn_id)
    try:
        with transaction.atomic():
            # Accepted before its model's retirement date, started after it: the successor answers.
            continuity.turn_continue(turn=turn)
            budgets.turn_reserve(turn=turn)
    except budgets.BudgetExceeded as exc:
        Turn.objects.filter(pk=turn_id, status=Turn.Status.QUEUED).update(
            status=Turn.Status.FAILED,
            completed_at=now,
            error_code="budget_exceeded",
            error_message=f"{exc.message} Then press Retry.",
        )
        return False
    return True


def turns_start(*, owner_id: int, run: Run, skip_locked: bool = False) -> list[str]:
    """Start the user's waiting turns their free slots allow, oldest first; each is handed to `run`
    once committed. Returns their ids."""
    started: list[str] = []
    if connection.vendor == "sqlite" and next_waiting(owner_id) is None:
        # Most turns end with nothing of their user's waiting: then no write transaction, which on
        # SQLite waits for, and holds, the database's one write lock. Nothing is missed: a prompt
        # being accepted holds that lock, so it committed before this read, or began after the turn
        # ended and saw its slot free. (On PostgreSQL the user's row lock below is what waits for it.)
        return started
    with transaction.atomic():
        if not owner_lock(owner_id, skip_locked=skip_locked):
            return started
        free = settings.MAX_ACTIVE_TURNS_PER_USER - running_count(owner_id)
        while free > 0:
            picked = next_waiting(owner_id)
            if picked is None:
                break
            if _start(picked):
                started.append(str(picked))
                free -= 1
        for turn_id in started:
            transaction.on_commit(functools.partial(run, turn_id))
    if started:
        logger.info("queue: started %d waiting turns of user %s", len(started), owner_id)
    return started


def turn_ended(*, turn: Turn, run: Run) -> list[str]:
    """Where a turn ends (the hook): its slot and its conversation are free for what waits.

    Never raises: what it could not start, the next sweep starts.
    """
    try:
        return turns_start(owner_id=turn.conversation.owner_id, run=run)
    except Exception:
        logger.exception("queue: starting the turns after %s failed; the sweep will", turn.pk)
        return []


def turns_start_all(*, run: Run) -> list[str]:
    """The sweep: each user with a startable turn and a free slot, in the order their oldest waited.

    Two reads first (who has something startable, how many each runs), so a sweep that finds
    nothing to start writes nothing. A user whose row another process holds is left to that one.
    """
    first = _startable().values("owner_id").annotate(first=Min("created_at")).order_by("first")
    owners = list(first.values_list("owner_id", flat=True))
    if not owners:
        return []
    busy = dict(
        Turn.objects.filter(conversation__owner_id__in=owners, status__in=Turn.ACTIVE)
        .values("conversation__owner_id")
        .annotate(n=Count("id"))
        .values_list("conversation__owner_id", "n")
    )
    started: list[str] = []
    for owner_id in owners:
        if busy.get(owner_id, 0) < settings.MAX_ACTIVE_TURNS_PER_USER:
            started += turns_start(owner_id=owner_id, run=run, skip_locked=True)
    return started


# --- Reads for the page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a waiting turn stands, as its fragment says it."""

    follows: str  # the status of the answer it is sent after ("" when it follows none still open)
    held: bool  # that answer failed or was stopped: it waits for the user (Send now, Edit, Cancel)
    behind_answer: bool  # its conversation's answer is still running
    position: int  # among its owner's waiting prompts, oldest first: 1 starts next
    running: int  # its owner's answers running now
    limit: int


def waiting_place(*, turn: Turn) -> Place | None:
    """None when the turn is not waiting (it started meanwhile)."""
    entry = WaitingTurn.objects.filter(turn_id=turn.pk).select_related("follows").first()
    if entry is None:
        return None
    owner_id = entry.owner_id
    follows = entry.follows.status if entry.follows is not None else ""
    ahead = WaitingTurn.objects.filter(owner_id=owner_id, created_at__lt=entry.created_at).count()
    busy = Turn.objects.filter(conversation_id=turn.conversation_id).extra(where=[_RUNNING_SQL]).exists()  # noqa: S610
    return Place(
        follows=follows,
        held=bool(follows) and follows not in Turn.ACTIVE and follows != Turn.Status.COMPLETED,
        behind_answer=busy,
        position=ahead + 1,
        running=running_count(owner_id),
        limit=settings.MAX_ACTIVE_TURNS_PER_USER,
    )
