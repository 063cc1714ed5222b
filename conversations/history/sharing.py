"""Sharing: the snapshot a share freezes, and the reads of its pages.

A share's writes are `chat.services.share_create/share_revoke`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.utils.safestring import mark_safe

from conversations.attachments import selectors as attachment_selectors
from conversations.chat import rendering, selectors
from conversations.models import Conversation, Share, Turn

from .export_format import TOKEN_FIELDS, iso_time, money_text


def share_snapshot(
    *, conversation: Conversation, show_cost: bool, show_thinking: bool = False, show_attachments: bool = False
) -> list[dict]:
    """The turns a share shows, frozen now: prompt, rendered answer, status (and usage, and the model's
    thinking, if the owner chose to show them).

    The version on screen only (the path the owner reads); turns still being generated are
    left out. The rendered answer is the turn's own output_html, produced by rendering.py
    when the answer arrived; an answer without it (imported and not rendered yet, or text kept
    from before partial answers were rendered) is rendered now, the same way.
    """
    tree = selectors.conversation_tree(conversation=conversation)
    path = tree.path(tree.leaf(current=conversation.current_turn_id))
    turns = {turn.pk: turn for turn in conversation.turns.filter(pk__in=path).defer("response_json", "history")}
    files = attachment_selectors.turn_attachments(turn_ids=turns) if show_attachments else {}
    snapshot = []
    for turn in (turns[turn_id] for turn_id in path if turn_id in turns):
        if turn.status in Turn.OPEN:
            continue
        html = turn.output_html or (rendering.markdown_to_html(turn.output_text) if turn.output_text else "")
        item: dict[str, object] = {
            "prompt": turn.prompt,
            "answer_html": html,
            "answer_text": "" if html else turn.output_text,
            "status": turn.status,
            "error_message": turn.error_message if turn.status != Turn.Status.COMPLETED else "",
            "model": turn.model,
            "created_at": iso_time(turn.created_at),
            "completed_at": iso_time(turn.completed_at),
        }
        if files.get(turn.pk):  # served through the share's own URL while the share lives
            item["attachments"] = [attachment_selectors.file_facts(row) for row in files[turn.pk]]
        if show_thinking and turn.thinking:
            item["thinking"] = turn.thinking  # plain text, shown escaped (rendering.thinking_to_html)
        if show_cost:
            item.update({name: getattr(turn, name) for name in TOKEN_FIELDS})
            item["cost_usd"] = money_text(turn.cost_usd)
        snapshot.append(item)
    return snapshot


def share_turns(share: Share) -> list[dict]:
    """The snapshot, ready for the template (times parsed, answers marked safe)."""
    turns = []
    for item in share.snapshot:
        turn = dict(item)
        # Produced by rendering.markdown_to_html (sanitised with nh3) when the answer arrived.
        turn["answer_html"] = mark_safe(item.get("answer_html", ""))  # noqa: S308
        turn["status_label"] = Turn.Status(item["status"]).label
        for name in ("created_at", "completed_at"):
            turn[name] = datetime.fromisoformat(item[name]) if item.get(name) else None
        turn["cost_usd"] = Decimal(item["cost_usd"]) if item.get("cost_usd") else None
        turns.append(turn)
    return turns


def share_get(*, token: str) -> Share:
    """A live share, for any signed-in user; Share.DoesNotExist for a revoked and an unknown token alike."""
    return Share.objects.select_related("owner").get(token=token, revoked_at__isnull=True)


def share_named(*, token: str) -> Share:
    """A live share's title and owner only (the sign-in page names what a link shows); Share.DoesNotExist else."""
    return (
        Share.objects.select_related("owner").only("title", "owner__username").get(token=token, revoked_at__isnull=True)
    )


def share_get_owned(*, user: User, token: str) -> Share:
    """One of the user's live shares; Share.DoesNotExist otherwise."""
    return Share.objects.get(token=token, owner=user, revoked_at__isnull=True)


def shares_of(*, conversation: Conversation) -> list[Share]:
    """The conversation's live shares, newest first (for its owner's share panel)."""
    return list(
        Share.objects.filter(conversation=conversation, revoked_at__isnull=True)
        .defer("snapshot")
        .order_by("-created_at", "-id")
    )
