"""History's writes: import an export file (all of it or nothing), and share links to snapshots.

Formats, validation and snapshots live beside this module in history/ (importer, sharing); the
conversation and turn actions are chat/services.py's.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from typing import IO, Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from conversations import tasks
from conversations.attachments import selectors as attachment_selectors
from conversations.chat import titles
from conversations.models import Charge, Conversation, Share, Turn

from . import import_files, importer, sharing
from .errors import ImportRefused

# Conversations written per statement on import (a savepoint each; one at a time only after a collision).
IMPORT_BATCH = 200


def conversations_import(*, owner: User, file: IO[bytes]) -> importer.ImportPlan:
    """Import an export file (one conversation or all) for `owner`: all of it, or nothing.

    The whole file is validated before anything is written; then one transaction
    creates the new conversations, and the worker renders their answers afterwards. A conversation
    already imported (its id is a conversation's `origin_id`) or still the
    owner's own is skipped, so importing twice creates nothing new. Turns arrive
    in their final states and nothing is queued or sent to the model. No ledger
    charge is written: the money was spent, and recorded, where the answers were
    generated. Raises history.errors.ImportRefused with the reason.
    """
    mine = Conversation.objects.filter(owner=owner)
    # The origins are not null (filtered so).
    origins = cast("set[uuid.UUID]", set(mine.filter(origin_id__isnull=False).values_list("origin_id", flat=True)))
    known = set(mine.values_list("id", flat=True)) | origins
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        plan = importer.prepare(file, spool, known_ids=known)
        _quota_check(owner, plan)
        with transaction.atomic():
            batch: list[dict[str, Any]] = []
            for data in importer.spooled(spool):
                batch.append(data)
                if len(batch) == IMPORT_BATCH:
                    _batch_insert(owner, batch, plan)
                    batch = []
            if batch:
                _batch_insert(owner, batch, plan)
    if plan.turns:  # committed: their answers are rendered by the worker (pages render them meanwhile)
        tasks.imported_answers_render_task(owner.pk)
    return plan


def _quota_check(owner: User, plan: importer.ImportPlan) -> None:
    """The files an import brings count in the user's storage, as uploads do: over the quota, nothing is
    imported (before any write)."""
    if not plan.file_bytes:
        return
    used, quota = attachment_selectors.storage_used(user=owner), settings.ATTACHMENT_QUOTA_BYTES
    if used + plan.file_bytes > quota:
        raise ImportRefused(
            f"This file's attachments take {filesizeformat(plan.file_bytes)}; with the "
            f"{filesizeformat(used)} yours take already, that is over your {filesizeformat(quota)}. "
            "Nothing was imported: delete conversations with files you no longer need, or ask an admin for more."
        )


def _batch_insert(owner: User, batch: list[dict[str, Any]], plan: importer.ImportPlan) -> None:
    """Write a batch of conversations with a few statements; if another request imported one of them
    meanwhile (the unique origin), write them one at a time and skip those already here."""
    try:
        with transaction.atomic():
            _conversations_insert(owner, batch)
    except IntegrityError:
        for data in batch:
            try:
                with transaction.atomic():
                    _conversations_insert(owner, [data])
            except IntegrityError:
                plan.skipped += 1
                plan.turns -= len(data["turns"])


def _conversations_insert(owner: User, batch: list[dict[str, Any]]) -> None:
    conversations: list[Conversation] = []
    turns: list[Turn] = []
    shown: list[Conversation] = []
    files: list[tuple[uuid.UUID, list[tuple[str, bytes]]]] = []  # each new turn's files (version 4)
    for data in batch:
        fields = {name: value for name, value in data.items() if name not in ("turns", "id", "current_turn")}
        conversation = Conversation(owner=owner, origin_id=data["id"], **fields)
        conversations.append(conversation)
        # New ids (the file's may be another user's turns here); each turn keeps following its parent.
        new_ids = {turn["id"]: uuid.uuid4() for turn in data["turns"]}
        turns += [
            Turn(
                **{name: value for name, value in turn.items() if name not in ("id", "parent", "attachments")},
                id=new_ids[turn["id"]],
                parent_id=new_ids.get(turn["parent"]),
                conversation=conversation,
                imported=True,
            )
            for turn in data["turns"]
        ]
        files += [(new_ids[turn["id"]], turn["attachments"]) for turn in data["turns"] if turn.get("attachments")]
        if data["current_turn"] in new_ids:
            conversation.current_turn_id = new_ids[data["current_turn"]]
            shown.append(conversation)
    # The version on screen is set once its turn exists (a foreign key to it).
    current = {conversation.pk: conversation.current_turn_id for conversation in shown}
    for conversation in shown:
        conversation.current_turn_id = None
    Conversation.objects.bulk_create(conversations)
    Turn.objects.bulk_create(turns, batch_size=500)
    for conversation in shown:
        conversation.current_turn_id = current[conversation.pk]
    Conversation.objects.bulk_update(shown, ["current_turn"], batch_size=500)
    for turn_id, turn_files in files:  # checked as uploads when the file was read (import_files.py)
        import_files.files_restore(owner=owner, turn=Turn(pk=turn_id), files=turn_files)


def _share_title(conversation: Conversation, snapshot: list[dict[str, Any]]) -> str:
    """The title of what is shared: an automatic title made from a first prompt that was since
    edited would show the edited-away wording, so it is made again from the shared first prompt.
    A title the user chose (a rename) is kept."""
    first = conversation.turns.filter(parent__isnull=True).order_by("created_at", "id").first()
    if not snapshot or first is None or snapshot[0]["prompt"] == first.prompt:
        return conversation.title or "Untitled"
    # A title from TITLE_MODEL was made from the first prompt too (a charge with no turn says it was asked).
    automatic = (
        conversation.title == titles.title_from(first.prompt)
        or Charge.objects.filter(conversation=conversation, turn=None).exists()
    )
    if conversation.title and not automatic:
        return conversation.title
    return titles.title_from(snapshot[0]["prompt"]) or "Untitled"


def share_create(
    *, conversation: Conversation, show_cost: bool = False, show_thinking: bool = False, show_attachments: bool = False
) -> Share:
    """A read-only link to a snapshot of the conversation as it is now (the version on screen); the
    tokens and cost, the model's thinking, and the prompts' files only if the owner chose to show them."""
    snapshot = sharing.share_snapshot(
        conversation=conversation, show_cost=show_cost, show_thinking=show_thinking, show_attachments=show_attachments
    )
    return Share.objects.create(
        token=secrets.token_urlsafe(24),
        conversation=conversation,
        owner=conversation.owner,
        title=_share_title(conversation, snapshot),
        snapshot=snapshot,
        show_cost=show_cost,
        show_thinking=show_thinking,
        show_attachments=show_attachments,
    )


def share_revoke(*, share: Share) -> bool:
    """Turn a share's link off for good (its page answers 404 from now on)."""
    return bool(Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))
