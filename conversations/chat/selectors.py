"""Reads for pages and admin. Every user-facing read is scoped to its owner."""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from conversations.models import SPENT_HERE, USAGE_COLUMNS, Conversation, Turn

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


def _list_rows(user: User) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(owner=user, archived_at__isnull=True)
        .only("id", "title", "updated_at", "pinned_at", "archived_at")
        # Fills Conversation.running, which the stubs take for a clash with a declared attribute.
        .annotate(running=_running())  # type: ignore[no-redef]
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


def _label(rows: list[Conversation], today: date) -> None:
    for conversation in rows:
        conversation.list_group = group_label(conversation.updated_at, today)


def _list_page(rows: list[Conversation], *, limit: int, group: str, today: date) -> ListPage:
    """A page of the list from up to `limit` + 1 rows, newest first (one more: there is a next page)."""
    more = len(rows) > limit
    page = rows[:limit]
    _label(page, today)
    groups: list[tuple[str, list[Conversation]]] = []
    current = group
    for conversation in page:
        label = conversation.list_group
        if not groups or label != current:
            groups.append((label if label != current else "", []))
            current = label
        groups[-1][1].append(conversation)
    next_cursor = Cursor(page[-1].updated_at, page[-1].id).encode() if more else ""
    return ListPage(groups=groups, cursor=next_cursor, last_group=current)


def conversation_list(
    *, user: User, after: str = "", group: str = "", limit: int = LIST_PAGE, now: datetime | None = None
) -> ListPage:
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
    return _list_page(page, limit=limit, group=group, today=timezone.localdate(now))


def conversations_sidebar(*, user: User, now: datetime | None = None) -> tuple[list[Conversation], ListPage]:
    """What every page's sidebar shows: the pinned conversations, then the first page of the others.

    Two plain queries, each by its own partial index. One query picking both with two subqueries
    (`pk IN (...) OR pk IN (...)`) cost the web process more CPU than these two together: Django
    compiles such a query in about as long as PostgreSQL takes to answer both (benchmarks.push, py-spy).
    """
    pinned = list(_list_rows(user).filter(pinned_at__isnull=False).order_by("-pinned_at", "-id")[:PINNED_MAX])
    _label(pinned, timezone.localdate(now))
    return pinned, conversation_list(user=user, now=now)


def conversation_get(*, user: User, conversation_id: uuid.UUID | str) -> Conversation:
    """The user's conversation; Conversation.DoesNotExist for another user's as for a missing one
    (the views answer 404 to both, never 403: that it exists is not revealed). Its `owner` is `user`
    (no query to read it again: a prompt sent checks the owner's limits and budget)."""
    conversation = Conversation.objects.get(pk=conversation_id, owner=user)
    conversation.owner = user
    return conversation


def turn_get(*, user: User, turn_id: uuid.UUID | str) -> Turn:
    """The user's turn with its conversation; Turn.DoesNotExist otherwise."""
    return Turn.objects.select_related("conversation").get(pk=turn_id, conversation__owner=user)


def conversation_open_turns(*, conversation: Conversation | None) -> tuple[uuid.UUID | None, Turn | None]:
    """The conversation's running turn (its id) and its waiting turn, each at most one: one query."""
    busy, waiting = None, None
    for turn in conversation.turns.filter(status__in=Turn.OPEN) if conversation is not None else ():
        if turn.is_waiting:
            waiting = turn
        else:
            busy = turn.pk
    return busy, waiting


def turn_version(*, user: User, turn_id: uuid.UUID | str) -> datetime:
    """The turn's last change time: a single indexed lookup for the live poll; Turn.DoesNotExist otherwise."""
    return Turn.objects.values_list("updated_at", flat=True).get(pk=turn_id, conversation__owner=user)


TURNS_PAGE = 20
# What a page draws of a turn (_turn.html): loading the other columns (raw JSON, prices, history)
# for 40 turns cost more than drawing them. A template reading another field costs a query per
# turn, which the constant-query tests catch.
TURN_FIELDS = (
    "id", "conversation_id", "prompt", "status", "output_text", "output_html", "input_tokens", "cached_tokens",
    "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "error_code", "error_message", "attempts",
    "model", "parent_id", "created_at", "started_at", "completed_at", "updated_at", "notice", "thinking",
)  # fmt: skip


# --- Versions: a conversation is a tree of turns; the page shows one path of it -------------------


@dataclass(frozen=True)
class Versions:
    """A turn among the versions at its place (the turns with its parent): `‹ number / count ›`."""

    number: int
    count: int
    previous: uuid.UUID | None
    next: uuid.UUID | None


class Tree:
    """The shape of a conversation: each turn's parent, children and status, in creation order (no text)."""

    def __init__(self, rows: Iterable[tuple[uuid.UUID, uuid.UUID | None, str]]) -> None:
        """`rows`: (id, parent id, status) of every turn of one conversation, oldest first."""
        self.parent: dict[uuid.UUID, uuid.UUID | None] = {}
        self.children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
        self.status: dict[uuid.UUID, str] = {}
        for turn_id, parent_id, status in rows:
            self.parent[turn_id] = parent_id
            self.status[turn_id] = status
            self.children.setdefault(parent_id, []).append(turn_id)
        self.rank = {turn_id: rank for rank, turn_id in enumerate(self.parent)}

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self.parent

    def __len__(self) -> int:
        return len(self.parent)

    def path(self, turn_id: uuid.UUID | None) -> list[uuid.UUID]:
        """From the first turn down to `turn_id`: the turns whose answers the model sees before its prompt."""
        path: list[uuid.UUID] = []
        seen: set[uuid.UUID] = set()
        while turn_id is not None and turn_id not in seen and turn_id in self.parent:
            seen.add(turn_id)
            path.append(turn_id)
            turn_id = self.parent[turn_id]
        path.reverse()
        return path

    def newest_below(self, turn_id: uuid.UUID | None = None) -> uuid.UUID | None:
        """The newest last turn (leaf) under `turn_id` (itself when it has none), or of the whole tree."""
        stack = [turn_id] if turn_id is not None else list(self.children.get(None, ()))
        best, seen = None, set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            below = self.children.get(node)
            if below:
                stack.extend(below)
            elif best is None or self.rank[node] > self.rank[best]:
                best = node
        return best

    def leaf(self, current: uuid.UUID | None = None, show: uuid.UUID | None = None) -> uuid.UUID | None:
        """The last turn of the path on screen.

        The path ends at the newest turn under `current` (the conversation's chosen version) or,
        with none, the newest turn. A turn to `show` (a link from search) that is not on that path
        picks the path through it instead.
        """
        leaf = self.newest_below(current) if current in self else self.newest_below()
        if show in self and show not in self.path(leaf):
            leaf = self.newest_below(show)
        return leaf

    def versions(self, turn_id: uuid.UUID) -> Versions | None:
        """None when the turn is the only version at its place."""
        siblings = self.children.get(self.parent.get(turn_id), [])
        if len(siblings) < 2 or turn_id not in self.parent:
            return None
        index = siblings.index(turn_id)
        return Versions(
            number=index + 1,
            count=len(siblings),
            previous=siblings[index - 1] if index else None,
            next=siblings[index + 1] if index + 1 < len(siblings) else None,
        )

    def running(self) -> uuid.UUID | None:
        return next((turn_id for turn_id, status in self.status.items() if status in Turn.ACTIVE), None)


def conversation_tree(*, conversation: Conversation) -> Tree:
    """One query of three small columns, whatever the length of the answers."""
    rows = Turn.objects.filter(conversation_id=conversation.pk).order_by("created_at", "id")
    return Tree(rows.values_list("id", "parent_id", "status"))


def turn_path(turn: Turn) -> list[uuid.UUID]:
    """The ids of the turns `turn` follows, first turn first (not `turn` itself)."""
    rows = Turn.objects.filter(conversation_id=turn.conversation_id).values_list("id", "parent_id")
    parent = dict(rows)
    path: list[uuid.UUID] = []
    step = parent.get(turn.pk, turn.parent_id)
    while step is not None and step not in path and step in parent:
        path.append(step)
        step = parent[step]
    path.reverse()
    return path


def turn_versions(turn: Turn) -> Versions | None:
    """The switcher of one turn (the live fragment): its siblings, one indexed query."""
    siblings = list(
        Turn.objects.filter(conversation_id=turn.conversation_id, parent_id=turn.parent_id)
        .order_by("created_at", "id")
        .values_list("id", "parent_id", "status")
    )
    return Tree(siblings).versions(turn.pk)


@dataclass
class TurnsPage:
    """A window of the path on screen, oldest first."""

    turns: list[Turn]
    earlier: str  # cursor of the turns above these on the same path; empty at the top
    leaf: uuid.UUID | None  # the path's last turn: a prompt sent from this page follows it
    running_elsewhere: uuid.UUID | None = None  # a turn being answered on a version not shown
    usage: dict[str, Any] | None = None  # conversation_usage's figures, read with the tree

    @property
    def path_end(self) -> list[Turn] | None:
        """The turns shown when they end the path at its last turn (all of it when `earlier` is empty)."""
        return self.turns if self.leaf is not None and self.turns and self.turns[-1].pk == self.leaf else None


def conversation_turns_page(
    *,
    conversation: Conversation,
    before: str = "",
    through: Turn | None = None,
    show: uuid.UUID | None = None,
    limit: int = TURNS_PAGE,
) -> TurnsPage:
    """The newest `limit` turns of the path on screen (or those above the turn of cursor `before`).

    The path is the tree's (selectors.Tree.leaf): the conversation's chosen version, or the
    path through turn `show`. The window always reaches back to a running turn of the path (a
    retried early turn runs again), so the composer state and the turns shown agree. With
    `through`, every turn of the path from that one on is included (a link to an early turn).
    Two queries: the tree (with what the page's header sums: `usage`), then the turns shown.
    """
    tree, usage = _tree_and_usage(conversation)
    if before:
        anchor = Cursor.decode(before).id
        if anchor not in tree:
            raise BadCursor(before)
        path = tree.path(anchor)[:-1]
        leaf = None
    else:
        leaf = tree.leaf(current=conversation.current_turn_id, show=show)
        path = tree.path(leaf) if leaf else []
    start = max(0, len(path) - limit)
    place = {turn_id: index for index, turn_id in enumerate(path)}
    wanted = [through.pk if through is not None and through.conversation_id == conversation.pk else None]
    if not before:
        wanted += [show, tree.running()]
    start = min([start, *(place[turn_id] for turn_id in wanted if turn_id in place)])
    shown = path[start:]
    shown_turns = conversation.turns.only(*TURN_FIELDS).filter(pk__in=shown).prefetch_related("attachments")
    rows = {turn.pk: turn for turn in shown_turns}
    turns = [rows[turn_id] for turn_id in shown if turn_id in rows]
    for turn in turns:
        turn.versions = tree.versions(turn.pk)
    earlier = Cursor(turns[0].created_at, turns[0].pk).encode() if start and turns else ""
    running = tree.running()
    return TurnsPage(turns, earlier, leaf, running if running is not None and running not in place else None, usage)


def _tree_and_usage(conversation: Conversation) -> tuple[Tree, dict[str, Any]]:
    """The conversation's tree and conversation_usage's figures, from one read of its turns' small columns
    (a conversation page needs both: one query where it made two)."""
    rows = list(
        Turn.objects.filter(conversation_id=conversation.pk)
        .order_by("created_at", "id")
        .values_list("id", "parent_id", "status", "imported", "completed_at", *USAGE_COLUMNS)
    )
    here = [row[5:] for row in rows if not row[3]]  # SPENT_HERE: imported turns are history from elsewhere
    usage: dict[str, Any] = {}
    for index, name in enumerate(USAGE_COLUMNS):
        values = [row[index] for row in here if row[index] is not None]
        usage[name] = sum(values) if values else None  # as SQL's SUM: NULL when nothing is summed
    usage["last"] = max((row[4] for row in rows if row[4] is not None), default=None)
    usage["turns"] = len(rows)
    return Tree(row[:3] for row in rows), usage


def conversation_turns(*, conversation: Conversation) -> QuerySet[Turn]:
    return conversation.turns.defer("response_json").order_by("created_at")


def conversation_usage(*, conversation: Conversation) -> dict[str, Any]:
    """Every usage column summed over the turns spent here, the last answer's time, how many turns.

    A conversation page reads the same figures with its tree (`_tree_and_usage`), without this query."""
    # Imported turns' usage is history from elsewhere, not what this conversation cost here.
    sums = {name: Sum(name, filter=SPENT_HERE) for name in USAGE_COLUMNS}
    return conversation.turns.aggregate(**sums, last=Max("completed_at"), turns=Count("id"))
