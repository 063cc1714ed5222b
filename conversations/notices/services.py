"""Notices by email when an answer ends, and budget notices: who gets what, once.

`turn_ended` runs in the worker where a turn's attempt ends (generation/worker.py's one-line hook, once the
answer and its charge are committed; and the recovery sweep's, tasks.turns_recover, for the turns it fails as
interrupted), after the answer's own work and never raising, so nothing here can fail or delay a turn:
- the owner is emailed the answer's end (completed, failed or incomplete; a Stop is the user's own
  doing) unless a page of theirs showed it (selectors.py has the rule), if they have an address and
  keep "Email me when an answer is done" on. For an answer the worker stores, that email is drawn just
  before the transaction that stores it and written in it (`answer_email_prepare`, `answer_email_write`):
  the sender threads get it as the answer commits, not after the answer's hooks and a write of its own
  (benchmarks/mail.py); `turn_ended` writes it otherwise;
- the owner at 80 % and at 100 % of their monthly budget, and the administrators when the instance's
  monthly budget passes 80 %: each once per month (local time, TIME_ZONE).
Every email is written once (accounts.models.EmailNotice: kind + key unique) and handed to the worker's
sender threads, which try again later (through Huey's schedule) while the mail server is down
(accounts/mail.py).
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import mail
from accounts import notices as account_notices
from accounts.models import EmailNotice
from conversations.models import Turn, TurnSeen
from conversations.usage import budgets, catalog

from . import selectors

logger = logging.getLogger(__name__)

NOTIFIED = (Turn.Status.COMPLETED, Turn.Status.FAILED, Turn.Status.INCOMPLETE)
ANSWER_EMAIL = "answer_done"  # the kind of an answer's email
# How much of the answer the email quotes.
EXCERPT_CHARS = 600
PROMPT_CHARS = 200
BUDGET_LEVELS = (100, 80)  # percent of the monthly budget; the highest reached is told
INSTANCE_LEVEL = 80

# Polled turns whose touch this process wrote, and when (time.monotonic()).
_polled: dict[str, float] = {}


# --- Pages that show a turn ------------------------------------------------------------


def turns_seen_record(*, turn_ids: Collection[uuid.UUID | str], lock_wait: float | None = None) -> None:
    """Note that a page of their owner shows these turns now (one upsert); the caller checked the owner.

    `lock_wait`: on SQLite, wait at most this long for the write lock, else note nothing this time (the
    live watcher, whose thread must never stall every page's updates behind a long write).
    """
    ids = sorted({str(turn_id) for turn_id in turn_ids})
    if not ids:
        return
    now = timezone.now()
    with _lock_wait(lock_wait):
        for _ in range(2):
            rows = [TurnSeen(turn_id=turn_id, seen_at=now) for turn_id in ids]
            try:
                with transaction.atomic():
                    TurnSeen.objects.bulk_create(
                        rows, update_conflicts=True, unique_fields=["turn"], update_fields=["seen_at"]
                    )
                return
            except IntegrityError:  # a turn deleted meanwhile: note the others
                ids = [str(pk) for pk in Turn.objects.filter(pk__in=ids).values_list("pk", flat=True)]
            except OperationalError:
                if lock_wait is None:
                    raise
                logger.info("pages' turns not noted this time: the database was busy")
                return


@contextmanager
def _lock_wait(seconds: float | None) -> Iterator[None]:
    if seconds is None or connection.vendor != "sqlite":
        yield
        return
    usual = int(float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5)) * 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {usual}")


def turn_seen_by_poll(*, turn_id: uuid.UUID | str) -> None:
    """A page polled the turn (`/t/<id>/live/`): noted at most every SEEN_TOUCH_SECONDS per turn and process."""
    key, now = str(turn_id), time.monotonic()
    if now - _polled.get(key, -selectors.SEEN_TOUCH_SECONDS) < selectors.SEEN_TOUCH_SECONDS:
        return
    if len(_polled) > 10_000:
        _polled.clear()
    _polled[key] = now
    turns_seen_record(turn_ids=[key])


# --- When an answer ends ------------------------------------------------------------------


def turn_ended(*, turn_id: uuid.UUID | str) -> None:
    """The worker's hook where a turn's attempt ends (generation/worker.py, after its answer and charge are
    committed and its title asked for): its emails, decided at once in that thread, written once and handed
    to the sender threads. Never raises: an error is logged, the answer is untouched."""
    if not mail.enabled():
        return
    try:
        turn_ended_notify(turn_id=turn_id)
    except Exception:
        logger.exception("turn %s: its emails could not be decided", turn_id)


def turn_ended_notify(*, turn_id: uuid.UUID | str) -> None:
    """The emails an answer's end may bring (see the module docstring). Safe to call twice. The answer's
    own email is usually written with the answer already (`answer_email_write`): then only the budgets'."""
    turn = Turn.objects.select_related("conversation__owner").filter(pk=turn_id).first()
    if turn is None or turn.status not in NOTIFIED or turn.imported:
        return
    owner = turn.conversation.owner
    if (
        not mail.email_written(kind=ANSWER_EMAIL, key=_answer_key(turn))
        and account_notices.answer_emails_on(owner)
        and not selectors.turn_shown(turn=turn)
    ):
        account_notices.notice_queue(draft=_answer_draft(turn), user=owner, in_worker=True)
    budget_notices_check(user=owner)


@dataclass(frozen=True)
class AnswerEmail:
    """An answer's email drawn before the transaction that stores the answer, written in it."""

    turn: Turn  # as that transaction stores it
    email: EmailNotice  # drawn, not saved


def answer_email_prepare(*, turn: Turn, ended: dict[str, Any]) -> AnswerEmail | None:
    """The worker, before the transaction that stores an answer (`ended`: the turn's fields as it writes
    them): the email that end brings under the module's rule, drawn now, outside the database's write
    lock, so writing it costs that transaction one insert and the sender threads get it as the answer
    commits, not after the answer's hooks and a write of its own. None when none is due. Never raises
    (the hook after the answer, `turn_ended`, then decides as it always did)."""
    if not mail.enabled() or (settings.TITLE_MODEL and turn.parent_id is None):
        # A first answer's title is asked after it is stored (generation/title_model.py): the hook after
        # the answer writes its email, with that title for a subject.
        return None
    try:
        stored = copy.copy(turn)
        for name, value in ended.items():
            setattr(stored, name, value)
        stored.completed_at = None  # "shown" is judged when it is stored: now (selectors.turn_shown)
        owner = turn.conversation.owner
        if stored.status not in NOTIFIED or stored.imported or not account_notices.answer_emails_on(owner):
            return None
        if selectors.turn_shown(turn=stored):
            return None
        email = mail.email_draw(draft=_answer_draft(stored), user=owner)
        return AnswerEmail(stored, email) if email is not None else None
    except Exception:
        logger.exception("turn %s: its email could not be drawn before the answer was stored", turn.pk)
        return None


def answer_email_write(*, prepared: AnswerEmail | None) -> None:
    """In the transaction that stores the answer: write its email (handed to the sender threads as that
    commits) unless a page showed the turn meanwhile. In a savepoint and never raising: the answer is
    stored whatever happens here (and the hook after it writes the email if this could not)."""
    if prepared is None:
        return
    try:
        with transaction.atomic():
            if not selectors.turn_shown(turn=prepared.turn):
                account_notices.notice_write(email=prepared.email, in_worker=True)
    except Exception:
        logger.exception("turn %s: its email could not be written with the answer", prepared.turn.pk)


def _answer_key(turn: Turn) -> str:
    """Once per attempt; an attempt the sweep failed as interrupted has its own, so a paid answer that
    arrives after all (worker._finish_save stores it) is emailed too."""
    return f"{turn.pk}:{turn.attempts}" + (":interrupted" if turn.error_code == "interrupted" else "")


def _answer_draft(turn: Turn) -> mail.Draft:
    subject = turn.conversation.title or "Untitled conversation"
    return mail.Draft(ANSWER_EMAIL, _answer_key(turn), subject, "notices/answer_done", _answer_context(turn))


def _excerpt(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip() + " …"


def _answer_context(turn: Turn) -> dict:
    row = catalog.model_get(turn.conversation.model)
    if turn.status == Turn.Status.COMPLETED:
        outcome = "is done"
    elif turn.status == Turn.Status.INCOMPLETE:
        outcome = "ended incomplete"
    else:
        outcome = "failed"
    charged = turn.cost_usd is not None
    return {
        "turn": turn,
        "title": mail.one_line(turn.conversation.title or "Untitled conversation", 200),
        "outcome": outcome,
        "model": (row.label if row and row.label else turn.conversation.model),
        "prompt": _excerpt(turn.prompt, PROMPT_CHARS),
        "excerpt": _excerpt(turn.output_text, EXCERPT_CHARS),
        "cut": len(turn.output_text.strip()) > EXCERPT_CHARS,
        "error": turn.error_message if turn.status != Turn.Status.COMPLETED else "",
        "cost": budgets.usd(turn.cost_usd) if charged else "nothing charged",
        "link": mail.site_link(selectors.turn_link(turn)),
    }


# --- Budgets -----------------------------------------------------------------------------------


def budget_notices_check(*, user: User) -> int:
    """Tell `user` they reached 80 % or 100 % of this month's budget, and the administrators that the
    instance passed 80 % of its own; each once per month. Returns how many emails were written."""
    today = timezone.localdate()
    month = f"{today:%Y-%m}"
    drafts: list[tuple[User, mail.Draft]] = []
    budget = budgets.budget_for(user)
    if budget is not None and budget > 0:
        spent = budgets.spend_this_month(user, today=today)
        reached = next((level for level in BUDGET_LEVELS if spent * 100 >= budget * level), None)
        if reached is not None:
            subject = f"You have used {reached} % of your aimlweb budget this month"
            context = _budget_context(reached, budget, spent, today)
            drafts.append(
                (user, mail.Draft(f"budget_{reached}", f"{user.pk}:{month}", subject, "notices/budget", context))
            )
    budget = budgets.instance_budget()
    if budget is not None and budget > 0:
        spent = budgets.spend_this_month(today=today)
        if spent * 100 >= budget * INSTANCE_LEVEL:
            subject = f"aimlweb has used {INSTANCE_LEVEL} % of its monthly budget"
            context = _budget_context(INSTANCE_LEVEL, budget, spent, today)
            kind, template = f"instance_{INSTANCE_LEVEL}", "notices/instance_budget"
            drafts += [
                (admin, mail.Draft(kind, f"{month}:{admin.pk}", subject, template, context))
                for admin in account_notices.admins()
            ]
    return sum(bool(account_notices.notice_queue(draft=draft, user=to, in_worker=True)) for to, draft in drafts)


def _budget_context(level: int, budget: Decimal, spent: Decimal, today: date) -> dict:
    return {
        "level": level,
        "budget": budgets.usd(budget),
        "spent": budgets.usd(spent),
        "percent": int(spent * 100 / budget),
        "month": today.strftime("%B %Y"),
        "over": level >= 100,
        "usage_url": mail.site_link(reverse("usage")),
        "dashboard_url": mail.site_link(reverse("usage_dashboard")),
    }
