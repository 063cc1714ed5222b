"""Reads for pages and admin. Every user-facing read is scoped to its owner."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from .models import Conversation, Turn

# --- The sidebar list: pinned first, then every other conversation, page by page --------

LIST_PAGE = 50
PINNED_MAX = 100


class BadCursor(ValueError):
    message = "That link to more conversations or messages is not valid any more. Reload the page."


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: keyset on (time, id), never OFFSET (conversations: updated_at; turns: created_at)."""

    at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = int(self.at.timestamp() * 1_000_000)
        return f"{micros}_{self.id.hex}"

    @classmethod
    def decode(cls, raw: str) -> "Cursor":
        match = re.fullmatch(r"(\d{1,18})_([0-9a-f]{32})", raw or "")
        if not match:
            raise BadCursor(raw)
        try:
            when = datetime.fromtimestamp(int(match[1]) / 1_000_000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise BadCursor(raw) from None
        return cls(when, uuid.UUID(match[2]))


@dataclass
class ListPage:
    groups: list[tuple[str, list[Conversation]]]
    cursor: str  # of the next page; empty on the last one
    last_group: str


def _running() -> Exists:
    """Whether an answer is queued or running: one probe of the partial unique index.

    The condition is written out literally, as in the index's WHERE clause, so
    SQLite (and PostgreSQL) can prove the partial index applies; a bound
    parameter would hide that and fall back to every turn of the conversation.
    """
    active = ", ".join(f"'{status}'" for status in Turn.ACTIVE)
    return Exists(
        Turn.objects.filter(conversation=OuterRef("pk")).extra(where=[f"status IN ({active})"])  # noqa: S610
    )


def _list_rows(user) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(owner=user, archived_at__isnull=True)
        .only("id", "title", "updated_at", "pinned_at", "archived_at")
        .annotate(running=_running())
    )


def group_label(when: datetime, today: date) -> str:
    """Today / Yesterday / Previous 7 days / Previous 30 days / "November 2026", in TIME_ZONE."""
    day = timezone.localtime(when).date()
    age = (today - day).days
    if age <= 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if age <= 7:
        return "Previous 7 days"
    if age <= 30:
        return "Previous 30 days"
    return f"{day:%B %Y}"


def conversations_pinned(*, user, now=None) -> list[Conversation]:
    rows = list(_list_rows(user).filter(pinned_at__isnull=False).order_by("-pinned_at", "-id")[:PINNED_MAX])
    today = timezone.localdate(now)
    for conversation in rows:
        conversation.list_group = group_label(conversation.updated_at, today)
    return rows


def conversation_list(*, user, after: str = "", group: str = "", limit: int = LIST_PAGE, now=None) -> ListPage:
    """One page of the user's conversations that are neither pinned nor archived, newest first.

    `after` is the cursor of the previous page (raises BadCursor when it is not
    one), `group` the label that page ended in, so a page continuing a group
    does not repeat its heading.
    """
    rows = _list_rows(user).filter(pinned_at__isnull=True)
    if after:
        cursor = Cursor.decode(after)
        rows = rows.filter(Q(updated_at__lt=cursor.at) | Q(updated_at=cursor.at, id__lt=cursor.id))
    page = list(rows.order_by("-updated_at", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    today = timezone.localdate(now)
    groups: list[tuple[str, list[Conversation]]] = []
    current = group
    for conversation in page:
        label = conversation.list_group = group_label(conversation.updated_at, today)
        if not groups or label != current:
            groups.append((label if label != current else "", []))
            current = label
        groups[-1][1].append(conversation)
    next_cursor = Cursor(page[-1].updated_at, page[-1].id).encode() if more else ""
    return ListPage(groups=groups, cursor=next_cursor, last_group=current)


def conversation_get(*, user, conversation_id) -> Conversation:
    """The user's conversation, or 404 (never 403: do not reveal that it exists)."""
    return get_object_or_404(Conversation, pk=conversation_id, owner=user)


def turn_get(*, user, turn_id) -> Turn:
    return get_object_or_404(Turn.objects.select_related("conversation"), pk=turn_id, conversation__owner=user)


def turn_version(*, user, turn_id):
    """The turn's last change time: a single indexed lookup for the live poll."""
    return get_object_or_404(Turn.objects.values_list("updated_at", flat=True), pk=turn_id, conversation__owner=user)


TURNS_PAGE = 40
# What a page draws of a turn (_turn.html): loading the other columns (raw JSON, prices, history)
# for 40 turns cost more than drawing them. A template reading another field costs a query per
# turn, which the constant-query tests catch.
TURN_FIELDS = (
    "id", "conversation_id", "prompt", "status", "output_text", "output_html", "input_tokens", "cached_tokens",
    "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "error_code", "error_message", "attempts",
    "superseded_by_id", "created_at", "started_at", "completed_at", "updated_at",
)  # fmt: skip


def conversation_turns_page(
    *, conversation: Conversation, before: str = "", through: Turn | None = None, limit: int = TURNS_PAGE
) -> tuple[list[Turn], str]:
    """The newest `limit` turns (or those before cursor `before`), oldest first, and the cursor of earlier ones.

    Keyset on (created_at, id), never OFFSET. The newest page always reaches back to a running
    turn (a retried early turn runs again), read in the same query, so the composer state and
    the turns shown agree. With `through`, every turn from that one on is included (a link to
    an early turn).
    """
    turns = conversation.turns.only(*TURN_FIELDS)
    if before:
        cursor = Cursor.decode(before)
        turns = turns.filter(Q(created_at__lt=cursor.at) | Q(created_at=cursor.at, id__lt=cursor.id))
    if through is not None and through.conversation_id == conversation.id:
        start = Q(created_at__gt=through.created_at) | Q(created_at=through.created_at, id__gte=through.id)
        page = list(turns.filter(start).order_by("-created_at", "-id"))
        more = turns.exclude(start).exists()
    else:
        newest = turns.order_by("-created_at", "-id").values("pk")[: limit + 1]
        wanted = Q(pk__in=newest) if before else Q(pk__in=newest) | Q(status__in=Turn.ACTIVE)
        rows = list(turns.filter(wanted).order_by("-created_at", "-id"))
        running = next((turn for turn in rows[limit:] if turn.is_active), None)
        if running is not None:
            return conversation_turns_page(conversation=conversation, through=running)
        page, more = rows[:limit], len(rows) > limit
    page.reverse()
    earlier = Cursor(page[0].created_at, page[0].id).encode() if more and page else ""
    return page, earlier


def conversation_turns(*, conversation: Conversation) -> QuerySet[Turn]:
    return conversation.turns.defer("response_json").order_by("created_at")


def conversation_usage(*, conversation: Conversation) -> dict:
    return conversation.turns.aggregate(
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        total_tokens=Sum("total_tokens"),
        cost_usd=Sum("cost_usd"),
        last=Max("completed_at"),
        turns=Count("id"),
    )
