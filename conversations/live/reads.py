"""What the live watcher reads (changes.py): in its own thread, with its own database connection.

One read for every open page of a web process: the running turns of the connected users that changed,
ended or are new, and the sidebar rows that changed (read_changes); for a page that (re)connects, what it
missed (read_catch_up); and, much cheaper, whether anything was committed at all (commits_seen).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, connections
from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.lookups import Lookup
from django.utils import timezone

from conversations.models import Conversation, Turn

# Sidebar rows a (re)connecting page is sent at most to catch up.
CATCH_UP_ROWS = 100


def stamp(when: datetime | None) -> int:
    """A change time as an integer (microseconds), as the page's `?v=` and event ids carry it."""
    return int(when.timestamp() * 1_000_000) if when else 0


def from_stamp(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


@dataclass
class Plan:
    """What one check reads: taken in the event loop, read in the watcher's thread."""

    turn_ids: list[uuid.UUID]
    user_ids: list[int]
    since: datetime
    # The rows already told, by id (the watcher's own map, only read in the thread; a row told
    # meanwhile is then read again and dropped by `dispatch`, which checks it once more).
    told: Mapping[str, tuple] = field(default_factory=dict)


@dataclass
class Changes:
    turns: list[tuple]  # (id, conversation_id, status, updated_at, owner_id)
    rows: list[dict]  # sidebar rows (see _rows)


def _running_turn() -> Subquery:
    """The conversation's queued or running turn, if any (at most one: a unique constraint)."""
    return Subquery(
        Turn.objects.filter(conversation=OuterRef("pk"), status__in=Turn.ACTIVE).order_by().values("id")[:1]
    )


def _rows(conversations, told: Mapping[str, tuple] | None = None) -> list[dict]:
    """The sidebar rows of `conversations` as events carry them (the same row a page load draws), but
    those already `told` in this very version.

    Each read's window overlaps the last one, so most rows it finds were told already: they are
    left out before their HTML is drawn, which is most of what a read costs while pages are sent.
    """
    from conversations.templatetags.history import sidebar_rows

    rows = (
        conversations.order_by()
        .only("id", "owner_id", "title", "updated_at", "pinned_at", "archived_at")
        .annotate(running_turn=_running_turn())
    )
    events = []
    for conversation in rows:
        row = _row(conversation)
        if told is None or told.get(row["id"]) != row_key(row):
            row["html"] = sidebar_rows({}, [conversation]).strip()
            events.append(row)
    return events


def _row(conversation: Conversation) -> dict:
    """A sidebar row's event, but its HTML (drawn by `_rows` only for a row to tell)."""
    from conversations.chat.selectors import group_label

    conversation.running = conversation.running_turn is not None
    conversation.list_group = group_label(conversation.updated_at, timezone.localdate())
    return {
        "id": str(conversation.id),
        "owner": conversation.owner_id,
        "running": conversation.running,
        "running_turn": str(conversation.running_turn) if conversation.running else None,
        "title": conversation.title or "Untitled",
        "v": stamp(conversation.updated_at),
        "group": conversation.list_group,
        "pinned": conversation.pinned_at is not None,
        "archived": conversation.archived_at is not None,
        "url": conversation.get_absolute_url(),
    }


def row_key(row: dict) -> tuple:
    """What a page sees change in a row: the same key is not told twice."""
    return (row["v"], row["running"], row["title"], row["pinned"], row["archived"])


class _AnyOf(Lookup):
    """`<uuid column> = ANY(<one array parameter>)`, PostgreSQL's `IN` with all its values in one parameter."""

    lookup_name = "any_of"  # never registered: used as an expression, in _turn_among only
    prepare_rhs = False  # the right-hand side is the array's text, not one UUID

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::uuid[])", (*params, self.rhs)


def _turn_among(turn_ids: list[uuid.UUID]) -> Q:
    """The turns of `turn_ids`. Every read asks it twice about every running turn of the process's pages: as
    `pk__in` that was one bound parameter per turn (2,000 with 1,000 pages open), 27-30 ms of CPU to build and
    send a read, which the watcher does up to 50 times a second while prompts are sent; on PostgreSQL the
    ids go as one array parameter, 8 ms (benchmarks.watcher_read; docs/benchmarks.md, "The watcher's read")."""
    if connection.vendor != "postgresql":
        return Q(pk__in=turn_ids)
    return Q(_AnyOf(F("pk"), "{" + ",".join(str(turn_id) for turn_id in turn_ids) + "}"))


def read_changes(plan: Plan) -> Changes:
    """Everything that changed for every connected page of this process: at most two queries.

    1. Turns: the known running ones that changed or ended (by primary key), and the connected
       users' running turns not known yet (started elsewhere, or a Retry, which does not touch
       its conversation), by the status index. (id, conversation, status, updated_at, owner).
    2. Sidebar rows: the connected users' conversations updated since the last read, and those
       whose turn ended or started in (1).
    """
    turns = []
    if plan.user_ids:
        among = _turn_among(plan.turn_ids)
        known = among & (Q(updated_at__gt=plan.since) | ~Q(status__in=Turn.OPEN))
        new = Q(status__in=Turn.OPEN, conversation__owner_id__in=plan.user_ids) & ~among
        turns = list(
            Turn.objects.filter(known | new)
            .order_by()
            .values_list("id", "conversation_id", "status", "updated_at", "conversation__owner_id")
        )
    known_ids = set(plan.turn_ids)
    changed = {
        conversation_id
        for turn_id, conversation_id, status, _, _ in turns
        if status not in Turn.OPEN or turn_id not in known_ids
    }
    rows = []
    if plan.user_ids:
        rows = _rows(
            Conversation.objects.filter(owner_id__in=plan.user_ids).filter(
                Q(updated_at__gt=plan.since) | Q(pk__in=changed)
            ),
            told=plan.told,
        )
    return Changes(turns, rows)


def read_catch_up(*, user_id: int, turn_ids: list[uuid.UUID], since: datetime) -> tuple[dict, list, list]:
    """For a page that (re)connects: the user's running turns, the page's turns, rows changed since.

    Two queries (a page connects after every send: four before): the user's open turns with the page's
    own, then the rows changed since, picked by a subquery.
    """
    wanted = set(turn_ids)
    found = list(
        Turn.objects.filter(Q(status__in=Turn.OPEN) | Q(pk__in=wanted), conversation__owner_id=user_id).values_list(
            "id", "conversation_id", "status", "updated_at"
        )
    )
    running = {turn_id: conversation_id for turn_id, conversation_id, status, _ in found if status in Turn.OPEN}
    turns = [turn for turn in found if turn[0] in wanted]
    recent = Conversation.objects.filter(owner_id=user_id, updated_at__gt=since).order_by("-updated_at")
    rows = _rows(Conversation.objects.filter(pk__in=recent.values("pk")[:CATCH_UP_ROWS]))
    return running, turns, rows


def commits_seen():
    """A value that changes whenever a write is committed to the database, or None if unknown.

    A probe much cheaper than reading what changed: SQLite's data_version (changed by every commit of
    another connection to the file), PostgreSQL's current snapshot (changed when a writing
    transaction starts or ends). The watcher reads what changed only when it moved.
    """
    if connection.vendor == "sqlite":
        sql = "PRAGMA data_version"
    elif connection.vendor == "postgresql":
        sql = "SELECT pg_current_snapshot()::text"
    else:
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def release_connections() -> None:
    """Close this thread's database connections (not one inside a transaction: a test's)."""
    for each in connections.all(initialized_only=True):
        if not each.in_atomic_block:
            each.close()
