"""Import: validate a whole export file and spool what it adds, before anything is written.

The caller (`chat.services.conversations_import`) then writes the spooled conversations in one
short transaction. The file is read by import_reader.py and checked by import_checks.py.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from conversations.chat import rendering

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


def prepare(file: IO[bytes], spool: IO[bytes], *, known_ids: set[uuid.UUID]) -> ImportPlan:
    """Validate the whole file and spool each conversation to import, with its answers rendered.

    Everything slow happens here, before any write: the caller then writes the
    spooled conversations in one short transaction. A conversation whose id is
    in `known_ids` (imported before, or still the user's own) is skipped.
    Answers are rendered from their Markdown with rendering.py: a file carries no HTML.
    """
    plan = ImportPlan()
    for conversation in read(file):
        plan.conversations += 1
        if conversation["id"] in known_ids:
            plan.skipped += 1
            continue
        for turn in conversation["turns"]:
            turn["output_html"] = rendering.markdown_to_html(turn["output_text"])
            plan.turns += 1
            plan.interrupted += turn.pop("was_active")
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
