"""What is sent for a turn: the path on screen as user/assistant messages, then the turn's prompt; each user
message with its turn's attachments (images, PDFs), sent again with the history on later turns.

The worker sends it; budgets estimate it before the turn is queued. Either endpoint takes it
(aimlapi.build_body puts the instructions first, and the files as content parts, in its own way).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.db.models import Sum

from conversations.attachments import selectors as attachment_selectors
from conversations.attachments import storage
from conversations.chat import selectors
from conversations.generation.aimlapi.files import FilePart
from conversations.models import Attachment, Turn
from conversations.usage import catalog


def file_part(row: Attachment) -> FilePart:
    return FilePart(
        kind=row.kind,
        filename=row.name,
        content_type=row.content_type,
        size=row.size,
        open=partial(storage.file_open, row.path),
        detail=settings.ATTACHMENT_IMAGE_DETAIL,
    )


def conversation_input(turn: Turn, *, files: bool = True, path: list[uuid.UUID] | None = None) -> list[dict]:
    """The completed turns of this turn's path (prompt, answer) in order, then this turn's prompt.

    Only the path: the versions on other branches of the conversation are never sent. A user message
    with files has them as `attachments` (FilePart), which aimlapi makes content parts (`files=False`:
    not read; the estimate counts their tokens instead). `path`: the turn's path (selectors.turn_path)
    when the caller has read it already.
    """
    path = selectors.turn_path(turn) if path is None else path
    completed = Turn.objects.filter(pk__in=path, status=Turn.Status.COMPLETED)
    answered = {
        turn_id: (prompt, answer) for turn_id, prompt, answer in completed.values_list("id", "prompt", "output_text")
    }
    found = attachment_selectors.turn_attachments(turn_ids=[*answered, turn.pk]) if files else {}
    # A conversation moved to a model that reads no images (or PDFs) since: those files stay out of its input.
    reads = attachment_selectors.model_accepts(catalog.model_get(turn.conversation.model)) if found else {}
    items: list[dict] = []

    def user(turn_id: uuid.UUID, prompt: str) -> dict:
        item: dict = {"role": "user", "content": prompt}
        if found.get(turn_id) and any(reads[row.kind] for row in found[turn_id]):
            item["attachments"] = [file_part(row) for row in found[turn_id] if reads[row.kind]]
        return item

    for turn_id in path:
        if turn_id in answered:
            prompt, answer = answered[turn_id]
            items.append(user(turn_id, prompt))
            items.append({"role": "assistant", "content": answer})
    items.append(user(turn.pk, turn.prompt))
    return items


def attachment_tokens(turn_ids: Iterable[uuid.UUID]) -> int:
    """The input tokens the files of these turns add (attachments/tokens.py), for the estimate."""
    return Attachment.objects.filter(turn_id__in=list(turn_ids)).aggregate(total=Sum("tokens"))["total"] or 0
