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

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import connection
from django.utils.html import escape
from django.utils.safestring import SafeString

from conversations.models import Conversation, Turn
from conversations.usage import catalog

from .search_filters import PAGE, RANKED_MAX, Filters, turn_filters
from .search_highlight import highlight, plain
from .search_postgres import postgres_rows
from .search_query import Query, clean, parse
from .search_sqlite import sqlite_rows


@dataclass
class Hit:
    conversation: Conversation
    turn: Turn | None
    title_html: SafeString
    snippet_html: SafeString | str = ""
    snippet_label: str = ""
    model_label: str = ""

    @property
    def url(self) -> str:
        url = self.conversation.get_absolute_url()
        # `?turn=`: the page shows the path through the turn, even on a version not on screen.
        return f"{url}?turn={self.turn.id}#turn-{self.turn.id}" if self.turn else url


@dataclass
class Results:
    hits: list[Hit]
    page: int
    has_more: bool
    total: int  # matches ranked (at most RANKED_MAX)
    capped: bool  # more matched than were ranked

    @property
    def next_page(self) -> int:
        return self.page + 1


def find(*, user: User, text: str, filters: Filters | None = None, page: int = 1) -> Results | None:
    """The user's messages (and titles) matching `text` and `filters`, best first.

    None when there is nothing to search for (no words, no filters): the page shows the list.
    Raises SearchError with a message for the page when the text cannot be searched.
    """
    results = _find(user=user, text=text, filters=filters, page=page)
    if results is not None and results.hits:
        labels = catalog.labels()  # the models' names, once for the page
        for hit in results.hits:
            hit.model_label = labels.get(hit.conversation.model, hit.conversation.model)
    return results


def _find(*, user: User, text: str, filters: Filters | None, page: int) -> Results | None:
    filters = filters or Filters()
    page = max(1, min(page, RANKED_MAX // PAGE))
    if not clean(text).strip():
        if not filters.active:
            return None
        return _filtered(user, filters, page)
    query = parse(text)
    if connection.vendor == "postgresql":
        rows, total, capped = postgres_rows(user, query, filters, page, ranked_max=RANKED_MAX)
    else:
        rows, total, capped = sqlite_rows(user, query, filters, page, ranked_max=RANKED_MAX)
    hits = _hits(rows[:PAGE], query)
    return Results(hits, page, has_more=len(rows) > PAGE, total=total, capped=capped)


def _filtered(user: User, filters: Filters, page: int) -> Results:
    """Filters without words: the newest matching messages (archived only: the archived conversations)."""
    offset = (page - 1) * PAGE
    if filters.archived == "only" and not (filters.turns_only or filters.model or filters.date_from or filters.date_to):
        conversations = list(
            Conversation.objects.filter(owner=user, archived_at__isnull=False).order_by("-archived_at", "-id")[
                offset : offset + PAGE + 1
            ]
        )
        hits = [Hit(c, None, escape(c.title or "Untitled")) for c in conversations[:PAGE]]
        return Results(hits, page, has_more=len(conversations) > PAGE, total=len(hits), capped=False)
    matching = Turn.objects.filter(conversation__owner=user).filter(turn_filters(filters))
    turns = list(
        matching.select_related("conversation")
        .defer("response_json", "output_html", "history")
        .order_by("-created_at", "-id")[offset : offset + PAGE + 1]
    )
    hits = [_hit(turn.conversation, turn, None) for turn in turns[:PAGE]]
    return Results(hits, page, has_more=len(turns) > PAGE, total=len(hits), capped=False)


def _hit(conversation: Conversation, turn: Turn | None, query: Query | None) -> Hit:
    title = conversation.title or "Untitled"
    if query is None:
        snippet = plain(turn.output_text or turn.prompt)[:200] if turn else ""
        label = ("Answer" if turn.output_text else "You") if turn else ""
        return Hit(conversation, turn, escape(title), snippet, label)
    title_html = highlight(title, query, width=200)
    if turn is None:
        return Hit(conversation, None, title_html)
    pattern = query.pattern()
    if turn.output_text and not turn.is_active and not pattern.search(turn.prompt):
        return Hit(conversation, turn, title_html, highlight(turn.output_text, query), "Answer")
    return Hit(conversation, turn, title_html, highlight(turn.prompt, query), "You")


def _hits(rows: list[tuple], query: Query) -> list[Hit]:
    turn_ids = [t for t, _c in rows if t]
    turns = {
        turn.id: turn
        for turn in Turn.objects.filter(id__in=turn_ids)
        .select_related("conversation")
        .defer("response_json", "output_html", "history", "conversation__instructions")
    }
    title_ids = [c for t, c in rows if not t]
    conversations = Conversation.objects.in_bulk(title_ids) if title_ids else {}
    # A title hit says nothing more when one of the conversation's messages is on the page too.
    with_messages = {turn.conversation_id for turn in turns.values()}
    hits = []
    for turn_id, conversation_id in rows:
        if turn_id:
            if turn_id in turns:  # gone since the index was read: skip it
                hits.append(_hit(turns[turn_id].conversation, turns[turn_id], query))
        elif conversation_id in conversations and conversation_id not in with_messages:
            hits.append(_hit(conversations[conversation_id], None, query))
    return hits
