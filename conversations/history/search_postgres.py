"""Search on PostgreSQL: the tsvector columns the database keeps (search_index.py), with GIN indexes."""

from __future__ import annotations

from collections.abc import Hashable

from django.db.models import Count, Expression, F, Window
from django.db.models.functions import RowNumber

from conversations.models import Conversation, Turn

from .search_filters import PAGE, Filters, conversation_filters, turn_filters
from .search_groups import SNIPPETS, Group, grouped
from .search_query import Query


class _Vector(Expression):
    """The search_vector column the database keeps on the current table (not a model field)."""

    def __init__(self):
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())

    def as_sql(self, compiler, connection):
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.search_vector", []


def postgres_groups(user, query: Query, filters: Filters, page: int, *, ranked_max: int) -> tuple[list[Group], bool]:
    """The matching conversations, best first (search_groups.py), among the newest `ranked_max` matching
    messages, and whether more matched. Ranked by ts_rank (titles count
    double), then newest first. Each conversation brings only its best SNIPPETS messages and their
    number (window functions), never all its matches."""
    from django.contrib.postgres.search import SearchQuery, SearchRank

    tsquery = SearchQuery(query.tsquery(), config="simple", search_type="raw")
    newest = (
        Turn.objects.annotate(vector=_Vector())
        .filter(conversation__owner=user, vector=tsquery)
        .filter(turn_filters(filters))
        .order_by("-created_at", "-id")
        .values("pk")[:ranked_max]
    )
    in_conversation = F("conversation_id")
    best_first = [F("rank").desc(), F("created_at").desc(), F("id").desc()]
    turns = list(
        Turn.objects.filter(pk__in=newest)
        .annotate(rank=SearchRank(_Vector(), tsquery))
        .annotate(
            place=Window(RowNumber(), partition_by=in_conversation, order_by=best_first),
            matches=Window(Count("id"), partition_by=in_conversation),
        )
        .filter(place__lte=SNIPPETS)
        .order_by()
        .values_list("id", "conversation_id", "rank", "created_at", "matches")
    )
    matches: dict[Hashable, int] = {conversation: count for _t, conversation, _r, _a, count in turns}
    titles = []
    if not filters.turns_only:
        conversations = Conversation.objects.annotate(vector=_Vector()).filter(owner=user, vector=tsquery)
        conversations = conversations.filter(conversation_filters(filters))
        titles = list(
            conversations.annotate(rank=SearchRank(_Vector(), tsquery) * 2)
            .order_by("-rank", "-created_at")
            .values_list("id", "rank", "created_at")[: page * PAGE + 1]
        )
    merged = [(t, c, rank, at) for t, c, rank, at, _count in turns] + [(None, c, rank, at) for c, rank, at in titles]
    merged.sort(key=lambda row: (-row[2], -row[3].timestamp()))
    groups = grouped((t, c) for t, c, _rank, _at in merged)
    for group in groups:
        group.matches = matches.get(group.conversation_id, 0)
    return groups, sum(matches.values()) >= ranked_max
