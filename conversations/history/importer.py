"""Import: validate a whole export file and spool what it adds, before anything is written.

The caller (`history.services.conversations_import`) then writes the spooled conversations in one
short transaction. The file is read by import_reader.py and checked by import_checks.py.

A file carries no HTML, and rendering answers was ~97 % of an import's time: imported turns are
written with `output_html` empty and rendered afterwards, outside the request, by
`answers_render` (the worker's `tasks.imported_answers_render_task`). Until then every reader
renders a missing answer itself: the page (`templatetags.chat.answer_html`) and share snapshots
(sharing.py).
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from conversations.chat import rendering
from conversations.models import Conversation, Turn
from conversations.usage import catalog

from .import_reader import read

# Upload limit of the import page (override with settings.IMPORT_MAX_BYTES).
DEFAULT_IMPORT_MAX_BYTES = 100 * 1024 * 1024


@dataclass
class ImportPlan:
    """What a file holds, once validated: counts, and the new conversations spooled for writing."""

    conversations: int = 0
    turns: int = 0
    skipped: int = 0
    interrupted: int = 0
    file_bytes: int = 0  # the attachments of the conversations to import (they count in the user's storage)


def prepare(file: IO[bytes], spool: IO[bytes], *, known_ids: set[uuid.UUID]) -> ImportPlan:
    """Validate the whole file and spool each conversation to import (answers not rendered: see above).

    Everything slow happens here, before any write: the caller then writes the
    spooled conversations in one short transaction. A conversation whose id is
    in `known_ids` (imported before, or still the user's own) is skipped. Each model is looked
    up in the catalogue once per file.
    """
    plan = ImportPlan()
    offered: dict[str, str] = {}  # the file's model -> the model its conversation continues with here
    for conversation in read(file):
        plan.conversations += 1
        if conversation["id"] in known_ids:
            plan.skipped += 1
            continue
        model = conversation["model"]
        if model not in offered:
            # A model this instance does not offer: the next prompt goes to the default one.
            offered[model] = model if catalog.model_get(model) is not None else catalog.default_model_id()
        conversation["model"] = offered[model]
        for turn in conversation["turns"]:
            plan.turns += 1
            plan.interrupted += turn.pop("was_active")
            plan.file_bytes += sum(len(raw) for _name, raw in turn.get("attachments", ()))
        pickle.dump(conversation, spool, protocol=pickle.HIGHEST_PROTOCOL)
    spool.seek(0)
    return plan


def spooled(spool: IO[bytes]) -> Iterator[dict]:
    """The conversations `prepare` spooled (our own temporary file, so unpickling it is safe)."""
    while True:
        try:
            yield pickle.load(spool)  # noqa: S301
        except EOFError:
            return


def answers_render(*, owner_id: int, batch_size: int = 100, chunk_size: int = 20) -> int:
    """Render the imported answers of `owner_id` still without HTML; returns how many were written.

    `batch_size` conversations at a time (keyset on id), then their answers `chunk_size` at a time,
    each read whole before it is written (no write while a read is open), so memory stays flat and
    every query is short. Each write is conditional on the turn still holding the text rendered and
    no HTML, so an answer written meanwhile (a Retry) is never overwritten. `updated_at` is left as
    it is: it is the imported turn's own time, and the page showed the same HTML already. Running
    it twice, or for an owner with nothing to render, writes nothing more.
    """
    imported = Conversation.objects.filter(owner_id=owner_id, origin_id__isnull=False).order_by("id")
    written = 0
    after = None
    while True:
        batch = imported.filter(id__gt=after) if after is not None else imported
        ids = list(batch.values_list("id", flat=True)[:batch_size])
        if not ids:
            return written
        after = ids[-1]
        missing = list(
            Turn.objects.filter(conversation_id__in=ids, imported=True, output_html="")
            .exclude(output_text="")
            .order_by("id")
            .values_list("id", flat=True)
        )
        for start in range(0, len(missing), chunk_size):
            chunk = Turn.objects.filter(id__in=missing[start : start + chunk_size], output_html="")
            for turn_id, text in list(chunk.values_list("id", "output_text")):
                html = rendering.markdown_to_html(text)
                written += Turn.objects.filter(id=turn_id, output_html="", output_text=text).update(output_html=html)
