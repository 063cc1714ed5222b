"""Search on PostgreSQL: the tsvector columns the database keeps (search_index.py), with GIN indexes."""

from __future__ import annotations

from django.db.models import Expression

from conversations.models import Conversation, Turn

from .search_filters import PAGE, Filters, conversation_filters, turn_filters
from .search_query import Query


class _Vector(Expression):
    """The search_vector column the database keeps on the current table (not a model field)."""

    def __init__(self):
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())

    def as_sql(self, compiler, connection):
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.search_vector", []


def postgres_rows(user, query: Query, filters: Filters, page: int, *, ranked_max: int) -> tuple[list[tuple], int, bool]:
    """(turn id or None, conversation id) of the page's hits among the newest `ranked_max` matches, how many
    were ranked, and whether more matched. Ranked by ts_rank (titles count double), then newest first."""
    from django.contrib.postgres.search import SearchQuery, SearchRank

    tsquery = SearchQuery(query.tsquery(), config="simple", search_type="raw")
    want = page * PAGE + 1
    newest = (
        Turn.objects.annotate(vector=_Vector())
        .filter(conversation__owner=user, vector=tsquery)
        .filter(turn_filters(filters))
        .order_by("-created_at", "-id")
        .values("pk")[:ranked_max]
    )
    turns = list(
        Turn.objects.filter(pk__in=newest)
        .annotate(rank=SearchRank(_Vector(), tsquery))
        .order_by("-rank", "-created_at", "-id")
        .values_list("id", "conversation_id", "rank", "created_at")[:want]
    )
    total = Turn.objects.filter(pk__in=newest).count()
    titles = []
    if not filters.turns_only:
        conversations = Conversation.objects.annotate(vector=_Vector()).filter(owner=user, vector=tsquery)
        conversations = conversations.filter(conversation_filters(filters))
        titles = list(
            conversations.annotate(rank=SearchRank(_Vector(), tsquery) * 2)
            .order_by("-rank", "-created_at")
            .values_list("id", "rank", "created_at")[:want]
        )
        total += len(titles)
    merged = [(t, c, rank, at) for t, c, rank, at in turns] + [(None, c, rank, at) for c, rank, at in titles]
    merged.sort(key=lambda row: (-row[2], -row[3].timestamp()))
    offset = (page - 1) * PAGE
    return [(t, c) for t, c, _rank, _at in merged[offset : offset + PAGE + 1]], total, total >= ranked_max
