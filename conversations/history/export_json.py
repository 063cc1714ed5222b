"""The JSON export: one conversation as a file, or all of a user's as a stream of bytes in flat memory.

The format is export_format.py's (docs/export-format.md); import_reader.py reads it back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import Q

from conversations.generation import request
from conversations.generation.aimlapi import files
from conversations.models import Attachment, Conversation, Turn

from .export_format import COST_FIELDS, FORMAT, PRICE_FIELDS, TOKEN_FIELDS, VERSION, iso_time, money_text


def attachment_data(row: Attachment) -> dict:
    """A file as the export writes it: its facts, and its bytes (a data URL streamed from storage as written)."""
    return {
        "name": row.name,
        "kind": row.kind,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "pages": row.pages,
        "data": files.DataUrl(request.file_part(row)),
    }


def _json(data: dict) -> Iterator[bytes]:
    encoded = files.encode(data, ensure_ascii=False)
    if isinstance(encoded, bytes):
        yield encoded
    else:
        yield from encoded


def turn_data(turn: Turn) -> dict:
    """One turn as the export writes it (every field of docs/export-format.md, in its order)."""
    return {
        "id": str(turn.id),
        "prompt": turn.prompt,
        "answer": turn.output_text,
        "thinking": turn.thinking,
        "attachments": [attachment_data(row) for row in turn.attachments.all()],
        "status": turn.status,
        "model": turn.model,
        "response_id": turn.response_id,
        "mode": turn.mode,
        "attempts": turn.attempts,
        **{name: getattr(turn, name) for name in TOKEN_FIELDS},
        **{name: money_text(getattr(turn, name)) for name in PRICE_FIELDS},
        **{name: money_text(getattr(turn, name)) for name in COST_FIELDS},
        "error_code": turn.error_code,
        "error_message": turn.error_message,
        "earlier_attempts": turn.history or [],
        "parent": str(turn.parent_id) if turn.parent_id else None,
        "created_at": iso_time(turn.created_at),
        "started_at": iso_time(turn.started_at),
        "completed_at": iso_time(turn.completed_at),
        "updated_at": iso_time(turn.updated_at),
    }


def conversation_data(conversation: Conversation, turns: Iterable[Turn]) -> dict:
    return {
        "id": str(conversation.id),
        "origin_id": str(conversation.origin_id) if conversation.origin_id else None,
        "title": conversation.title,
        "model": conversation.model,
        "instructions": conversation.instructions,
        "max_output_tokens": conversation.max_output_tokens,
        "reasoning_effort": conversation.reasoning_effort,
        "created_at": iso_time(conversation.created_at),
        "updated_at": iso_time(conversation.updated_at),
        "pinned_at": iso_time(conversation.pinned_at),
        "archived_at": iso_time(conversation.archived_at),
        "current_turn": str(conversation.current_turn_id) if conversation.current_turn_id else None,
        "turns": [turn_data(turn) for turn in turns],
    }


def exported_turns(conversation_ids) -> Iterator[Turn]:
    """The turns of these conversations in export order, read with a server-side iterator."""
    # Neither the rendered HTML (rebuilt on import) nor the provider's raw JSON is exported.
    return (
        Turn.objects.filter(conversation_id__in=conversation_ids)
        .defer("output_html", "response_json")
        .prefetch_related("attachments")
        .order_by("conversation__created_at", "conversation_id", "created_at", "id")
        .iterator(chunk_size=500)
    )


def _envelope_head(now: datetime) -> str:
    return f'{{"format": "{FORMAT}", "version": {VERSION}, "exported_at": "{iso_time(now)}", "conversations": [\n'


def export_conversation(*, conversation: Conversation, now: datetime) -> bytes:
    """One conversation as a complete export file (the same format as an export of everything)."""
    data = conversation_data(conversation, exported_turns([conversation.id]))
    return _envelope_head(now).encode() + b"".join(_json(data)) + b"\n]}\n"


def _conversation_batches(user, size: int) -> Iterator[list[Conversation]]:
    """The user's conversations, oldest first, in batches (keyset on created_at, id: never OFFSET)."""
    after = None
    while True:
        batch_query = Conversation.objects.filter(owner=user).order_by("created_at", "id")
        if after is not None:
            batch_query = batch_query.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
        batch = list(batch_query[:size])
        if not batch:
            return
        yield batch
        after = (batch[-1].created_at, batch[-1].id)


def export_stream(*, user, now: datetime, batch_size: int = 200) -> Iterator[bytes]:
    """Every conversation of `user` as one export file, chunk by chunk.

    Memory stays flat whatever the number of conversations: one batch of
    conversations and one conversation's turns at a time, the turns read with a
    server-side iterator in the same order as the batch (so they can be merged).
    Two queries per batch of conversations.
    """
    yield _envelope_head(now).encode()
    separator = ""
    for batch in _conversation_batches(user, batch_size):
        by_conversation = itertools.groupby(exported_turns([c.id for c in batch]), key=lambda t: t.conversation_id)
        pending = next(by_conversation, None)
        for conversation in batch:
            group = pending[1] if pending is not None and pending[0] == conversation.id else None
            data = conversation_data(conversation, group if group is not None else ())
            if group is not None:  # only now: advancing groupby ends the group just read
                pending = next(by_conversation, None)
            yield separator.encode()
            yield from _json(data)  # a file's base64 in pieces, never whole
            separator = ",\n"
    yield b"\n]}\n"
