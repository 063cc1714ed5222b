"""Search on SQLite: the FTS5 table `conversations_fts` and its search rows (search_index.py)."""

from __future__ import annotations

import logging
import uuid

from django.db import connection

from . import search_index
from .errors import SearchError
from .search_filters import PAGE, Filters
from .search_query import Query

logger = logging.getLogger(__name__)

# Up to this many matches are ranked by bm25; more (a common word) by where the words are.
BM25_MAX = 300


def sqlite_rows(user, query: Query, filters: Filters, page: int, *, ranked_max: int) -> tuple[list[tuple], int, bool]:
    """(turn id or None, conversation id) of the page's hits, how many were ranked, and whether more matched.

    1. The newest `ranked_max` matches of this user: FTS5 seeks to the user's row id range and
       walks it backwards, the filters read from the small search rows beside it.
    2. Ranked: by bm25 when at most BM25_MAX match (bm25 reads every match of each word in the
       whole index to weigh it, which is quick for rare words and slow for common ones); else
       by where the words are (title, then prompt, then answer), two more range-bounded lookups.
       Then newest first.
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
        f"SELECT {fts}.rowid FROM {fts} JOIN {rows} r ON r.id = {fts}.rowid WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY {fts}.rowid DESC LIMIT {ranked_max + 1}"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(newest, params)
            ids = [rowid for (rowid,) in cursor.fetchall()]
            capped = len(ids) > ranked_max
            ids = ids[:ranked_max]
            if not ids:
                return [], 0, False
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
            shown = ranked[(page - 1) * PAGE : page * PAGE + 1]
            cursor.execute(
                f"SELECT id, turn_id, conversation_id FROM {rows} WHERE id IN ({', '.join(['%s'] * len(shown))})",  # noqa: S608
                shown,
            )
            found = {rowid: (_uuid(turn), _uuid(conversation)) for rowid, turn, conversation in cursor.fetchall()}
    except Exception as exc:  # an FTS5 error: our quoting should prevent it, but the page must not 500
        logger.warning("search failed: %s (%r)", exc, query.fts5())
        raise SearchError("That search could not be run. Try plain words.") from None
    return [found[rowid] for rowid in shown if rowid in found], len(ids), capped


def _uuid(value) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None
