"""Search on SQLite: the FTS5 table `conversations_fts` and its search rows (search_index.py)."""

from __future__ import annotations

import logging

from django.db import connection

from . import search_index
from .errors import SearchError
from .search_filters import Filters
from .search_groups import Group, grouped
from .search_query import Query

logger = logging.getLogger(__name__)

# Up to this many matches are ranked by bm25; more (a common word) by where the words are.
BM25_MAX = 300


def sqlite_groups(user, query: Query, filters: Filters, *, ranked_max: int) -> tuple[list[Group], bool]:
    """The matching conversations, best first (search_groups.py), and whether more matched than were ranked.

    1. The newest `ranked_max` matches of this user: FTS5 seeks to the user's row id range and
       walks it backwards, the filters read from the small search rows beside it (which also say
       whose turn and conversation each entry is).
    2. Ranked: by bm25 when at most BM25_MAX match (bm25 reads every match of each word in the
       whole index to weigh it, which is quick for rare words and slow for common ones); else
       by where the words are (title, then prompt, then answer), two more range-bounded lookups.
       Then newest first, and grouped by conversation.
    """
    low, high = search_index.owner_range(user.pk)
    fts, rows = search_index.FTS, search_index.ROWS
    where = [f"{fts} MATCH %s", f"{fts}.rowid BETWEEN %s AND %s"]
    params: list = [query.fts5(), low, high]
    if filters.archived == "only":
        where.append("r.archived = 1")
    elif filters.archived != "all":
        where.append("r.archived = 0")
    if filters.model:
        where.append("r.model = %s")
        params.append(filters.model)
    if filters.status:
        where.append("r.status = %s")
        params.append(filters.status)
    if filters.min_cost is not None:
        where.append("r.cost_usd > %s")
        params.append(float(filters.min_cost))
    start, end = filters.span()
    if start:
        where.append("r.created_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(start))
    if end:
        where.append("r.created_at < %s")
        params.append(connection.ops.adapt_datetimefield_value(end))
    # Only our own constant SQL is pasted in (table names, column conditions); values are parameters.
    newest = (
        f"SELECT {fts}.rowid, r.turn_id, r.conversation_id FROM {fts} JOIN {rows} r ON r.id = {fts}.rowid "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {fts}.rowid DESC LIMIT {ranked_max + 1}"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(newest, params)
            entries = {rowid: (turn, conversation) for rowid, turn, conversation in cursor.fetchall()}
            ids = list(entries)
            capped = len(ids) > ranked_max
            ids = ids[:ranked_max]
            if not ids:
                return [], False
            bounds = [ids[-1], high]
            within = f"SELECT rowid{{}} FROM {fts} WHERE {fts} MATCH %s AND rowid BETWEEN %s AND %s"  # noqa: S608
            if len(ids) <= BM25_MAX:  # bm25: lower is better; columns title, prompt, answer
                cursor.execute(within.format(f", bm25({fts}, 4.0, 2.0, 1.0)"), [query.fts5(), *bounds])
                score = dict(cursor.fetchall())
            else:
                score = dict.fromkeys(ids, 0)
                for column, weight in (("prompt", -1), ("title", -2)):
                    cursor.execute(within.format(""), [query.fts5(column), *bounds])
                    score.update((rowid, weight) for (rowid,) in cursor.fetchall() if rowid in score)
            ranked = sorted(ids, key=lambda rowid: (score.get(rowid, 0), -rowid))
    except Exception as exc:  # an FTS5 error: our quoting should prevent it, but the page must not 500
        logger.warning("search failed: %s (%r)", exc, query.fts5())
        raise SearchError("That search could not be run. Try plain words.") from None
    return grouped(entries[rowid] for rowid in ranked), capped
