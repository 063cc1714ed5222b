"""Reads for pages and admin. Every user-facing read is scoped to its owner."""

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from .models import Conversation, Turn


def conversation_list(*, user, query: str = "") -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(owner=user)
    if query:
        matching = Turn.objects.filter(
            Q(prompt__icontains=query) | Q(output_text__icontains=query), conversation__owner=user
        ).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=query) | Q(id__in=matching))
    return conversations.annotate(
        turn_count=Count("turns"),
        active_count=Count("turns", filter=Q(turns__status__in=Turn.ACTIVE)),
    ).order_by("-updated_at")


def conversation_get(*, user, conversation_id) -> Conversation:
    """The user's conversation, or 404 (never 403: do not reveal that it exists)."""
    return get_object_or_404(Conversation, pk=conversation_id, owner=user)


def turn_get(*, user, turn_id) -> Turn:
    return get_object_or_404(Turn.objects.select_related("conversation"), pk=turn_id, conversation__owner=user)


def turn_version(*, user, turn_id):
    """The turn's last change time: a single indexed lookup for the live poll."""
    return get_object_or_404(Turn.objects.values_list("updated_at", flat=True), pk=turn_id, conversation__owner=user)


def conversation_turns(*, conversation: Conversation) -> QuerySet[Turn]:
    return conversation.turns.defer("response_json").order_by("created_at")


def conversation_usage(*, conversation: Conversation) -> dict:
    return conversation.turns.aggregate(
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        total_tokens=Sum("total_tokens"),
        cost_usd=Sum("cost_usd"),
        last=Max("completed_at"),
    )
