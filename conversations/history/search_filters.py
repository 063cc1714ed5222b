"""What a search covers: its filters (dates, model, status, archived, cost) and how many results it ranks.

The filters are written once as Q objects over Turn and Conversation (the SQLite backend, which
reads them from its own search rows, says them again in SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

PAGE = 20
# A search ranks (by relevance, then recency) at most this many of the newest matching messages.
RANKED_MAX = 2000
# Up to this many matches are ranked by bm25; more (a common word) by where the words are.

ARCHIVED_CHOICES = [("", "Not archived"), ("only", "Archived only"), ("all", "Archived too")]


@dataclass
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    model: str = ""
    status: str = ""
    archived: str = ""
    min_cost: Decimal | None = None

    @property
    def active(self) -> bool:
        return any(
            value not in (None, "")
            for value in (self.date_from, self.date_to, self.model, self.status, self.archived, self.min_cost)
        )

    @property
    def turns_only(self) -> bool:
        """Filters only a turn can meet (a title hit has no status or cost)."""
        return bool(self.status) or self.min_cost is not None

    def span(self) -> tuple[datetime | None, datetime | None]:
        """The date range as instants: from the start of the first day to the end of the last, in TIME_ZONE."""
        zone = timezone.get_current_timezone()
        start = timezone.make_aware(datetime.combine(self.date_from, time.min), zone) if self.date_from else None
        end = (
            timezone.make_aware(datetime.combine(self.date_to + timedelta(days=1), time.min), zone)
            if self.date_to
            else None
        )
        return start, end


def _where(filters: Filters, prefix: str = "") -> Q:
    """Archived and model, on the conversation (`prefix`: the path to it), and the date range on created_at."""
    q = Q()
    if filters.archived == "only":
        q &= Q(**{f"{prefix}archived_at__isnull": False})
    elif filters.archived != "all":
        q &= Q(**{f"{prefix}archived_at__isnull": True})
    if filters.model:
        q &= Q(**{f"{prefix}model": filters.model})
    start, end = filters.span()
    if start:
        q &= Q(created_at__gte=start)
    if end:
        q &= Q(created_at__lt=end)
    return q


def turn_filters(filters: Filters) -> Q:
    """The filters as a Q over Turn."""
    q = _where(filters, "conversation__")
    if filters.status:
        q &= Q(status=filters.status)
    if filters.min_cost is not None:
        q &= Q(cost_usd__gt=filters.min_cost)
    return q


def conversation_filters(filters: Filters) -> Q:
    """The filters a conversation (its title) can meet, as a Q over Conversation."""
    return _where(filters)
