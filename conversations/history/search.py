"""Full-text search over a user's own conversations: titles, prompts and answers.

Pages call `find(user=, text=, filters=, page=)` and never care which database runs it:

- SQLite (the default): an FTS5 table, `conversations_fts`, kept in step by triggers on the
  turn and conversation tables. It is contentless (the text already lives in the turns), so
  each indexed turn or title gets a stable integer row id from `conversations_searchrow` (our
  primary keys are UUIDs, and SQLite may renumber implicit rowids on VACUUM), in a range of
  its owner's own. That row also carries the filter columns, so a search never reads the big
  turn rows.
- PostgreSQL: tsvector columns the database computes itself (GENERATED ... STORED) on turns
  and conversations, with GIN indexes, queried through django.contrib.postgres.search.

The index is created and kept in step by search_index.py (migration 0005, re-checked after
every `migrate`); `manage.py search_rebuild` rebuilds it from the turns.

What the user types is parsed by search_query.py (words, "phrases", -excluded, prefix*, a OR b)
and passed to the database only as quoted strings, so FTS syntax (NEAR, column:, ^, parentheses)
is just text. The filters and the number of results ranked are search_filters.py's, the page's
form search_form.py's; the two databases are search_sqlite.py and search_postgres.py. A word
matching many thousands of messages is ranked among the newest RANKED_MAX of them, which keeps a
search of a common word fast at any size. Snippets are cut and highlighted by search_highlight.py
from the stored text, escaped piece by piece (model output is never marked safe). This module
runs a search and turns its rows into hits for the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import connection
from django.utils.html import escape
from django.utils.safestring import SafeString

from conversations.models import Conversation, Turn
from conversations.usage import catalog

from .search_filters import PAGE, RANKED_MAX, Filters, turn_filters
from .search_groups import Group
from .search_highlight import highlight, plain
from .search_postgres import postgres_groups
from .search_query import Query, clean, parse
from .search_sqlite import sqlite_groups

# What a snippet and the page read of a turn (created_at: of the best one only).
SNIPPET_FIELDS = ("id", "prompt", "status", "output_text", "cost_usd")


def _turn_url(conversation: Conversation, turn: Turn) -> str:
    # `?turn=`: the page shows the path through the turn, even on a version not on screen.
    return f"{conversation.get_absolute_url()}?turn={turn.id}#turn-{turn.id}"


@dataclass
class Snippet:
    """One matching message of a result: a window of it around the words, and a link to it."""

    turn: Turn
    html: SafeString | str
    label: str  # "You" (the prompt) or "Answer"

    @property
    def url(self) -> str:
        return _turn_url(self.turn.conversation, self.turn)


@dataclass
class Hit:
    """One conversation: its best matching messages (`snippets`, best first) and how many matched."""

    conversation: Conversation
    title_html: SafeString
    snippets: list[Snippet] = field(default_factory=list)
    matches: int = 0  # its matching messages (0: only the title matched, or a list without words)
    model_label: str = ""

    @property
    def turn(self) -> Turn | None:
        """The best matching message (None: the title matched)."""
        return self.snippets[0].turn if self.snippets else None

    @property
    def url(self) -> str:
        return _turn_url(self.conversation, self.turn) if self.turn else self.conversation.get_absolute_url()

    @property
    def snippet_html(self) -> SafeString | str:
        return self.snippets[0].html if self.snippets else ""

    @property
    def snippet_label(self) -> str:
        return self.snippets[0].label if self.snippets else ""

    @property
    def more(self) -> int:
        """Matching messages not shown as a snippet."""
        return max(0, self.matches - len(self.snippets))


@dataclass
class Results:
    hits: list[Hit]  # one per conversation
    page: int
    has_more: bool
    total: int  # conversations matching, among the messages ranked
    capped: bool  # more matched than were ranked
    messages: int = 0  # matching messages ranked (at most RANKED_MAX)

    @property
    def next_page(self) -> int:
        return self.page + 1


def find(
    *, user: User, text: str, filters: Filters | None = None, page: int = 1, snippet_width: int = 220
) -> Results | None:
    """The user's conversations whose messages (or title) match `text` and `filters`, best first, one
    result per conversation with its best matching messages.

    None when there is nothing to search for (no words, no filters): the page shows the list.
    Raises SearchError with a message for the page when the text cannot be searched. `snippet_width`:
    the characters of a snippet (the sidebar's are short).
    """
    results = _find(user=user, text=text, filters=filters, page=page, width=snippet_width)
    if results is not None and results.hits:
        labels = catalog.labels()  # the models' names, once for the page
        for hit in results.hits:
            hit.model_label = labels.get(hit.conversation.model, hit.conversation.model)
    return results


def _find(*, user: User, text: str, filters: Filters | None, page: int, width: int) -> Results | None:
    filters = filters or Filters()
    page = max(1, min(page, RANKED_MAX // PAGE))
    if not clean(text).strip():
        if not filters.active:
            return None
        return _filtered(user, filters, page)
    query = parse(text)
    if connection.vendor == "postgresql":
        groups, capped = postgres_groups(user, query, filters, page, ranked_max=RANKED_MAX)
    else:
        groups, capped = sqlite_groups(user, query, filters, ranked_max=RANKED_MAX)
    shown = groups[(page - 1) * PAGE : page * PAGE]
    return Results(
        _hits(shown, query, width),
        page,
        has_more=len(groups) > page * PAGE,
        total=len(groups),
        capped=capped,
        messages=sum(group.matches for group in groups),
    )


def _filtered(user: User, filters: Filters, page: int) -> Results:
    """Filters without words: the newest matching messages (archived only: the archived conversations)."""
    offset = (page - 1) * PAGE
    if filters.archived == "only" and not (filters.turns_only or filters.model or filters.date_from or filters.date_to):
        conversations = list(
            Conversation.objects.filter(owner=user, archived_at__isnull=False).order_by("-archived_at", "-id")[
                offset : offset + PAGE + 1
            ]
        )
        hits = [Hit(c, escape(c.title or "Untitled")) for c in conversations[:PAGE]]
        return Results(hits, page, has_more=len(conversations) > PAGE, total=len(hits), capped=False)
    matching = Turn.objects.filter(conversation__owner=user).filter(turn_filters(filters))
    turns = list(
        matching.select_related("conversation")
        .defer("response_json", "output_html", "history")
        .order_by("-created_at", "-id")[offset : offset + PAGE + 1]
    )
    hits = []
    for turn in turns[:PAGE]:
        snippet = Snippet(turn, plain(turn.output_text or turn.prompt)[:200], "Answer" if turn.output_text else "You")
        hits.append(Hit(turn.conversation, escape(turn.conversation.title or "Untitled"), [snippet]))
    return Results(hits, page, has_more=len(turns) > PAGE, total=len(hits), capped=False)


def _snippet(turn: Turn, query: Query, width: int) -> Snippet:
    if turn.output_text and not turn.is_active and not query.pattern().search(turn.prompt):
        return Snippet(turn, highlight(turn.output_text, query, width=width), "Answer")
    return Snippet(turn, highlight(turn.prompt, query, width=width), "You")


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _hits(groups: list[Group], query: Query, width: int) -> list[Hit]:
    """The page's conversations with their snippets: three queries, whatever the number of matches."""
    if not groups:
        return []
    conversations = Conversation.objects.defer("instructions").in_bulk([_uuid(g.conversation_id) for g in groups])
    turn_ids = [_uuid(turn_id) for group in groups for turn_id in group.turn_ids]
    # Only the columns before the stored response: SQLite then never reads a turn's long response JSON
    # (created_at comes after it: read for each result's best message only, the one whose date it shows).
    turns = Turn.objects.only(*SNIPPET_FIELDS).in_bulk(turn_ids) if turn_ids else {}
    best = [_uuid(group.turn_ids[0]) for group in groups if group.turn_ids]
    dates = dict(Turn.objects.filter(id__in=best).values_list("id", "created_at")) if best else {}
    for turn_id, created_at in dates.items():
        if turn_id in turns:
            turns[turn_id].created_at = created_at
    hits = []
    for group in groups:
        conversation = conversations.get(_uuid(group.conversation_id))
        if conversation is None:  # deleted since the index was read
            continue
        snippets = []
        for turn_id in group.turn_ids:
            turn = turns.get(_uuid(turn_id))
            if turn is not None:  # gone since the index was read: skip it
                turn.conversation = conversation
                snippets.append(_snippet(turn, query, width))
        if group.turn_ids and not snippets and not group.title:
            continue
        title_html = highlight(conversation.title or "Untitled", query, width=200)
        hits.append(Hit(conversation, title_html, snippets, matches=group.matches))
    return hits
