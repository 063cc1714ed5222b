"""Writes of attachments: an upload checked and stored (pending: no turn yet), given to the turn of the
prompt that sends it (a copy of the row for another version), removed; import restores them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from conversations.models import AIModel, Attachment, Turn

from . import checks, selectors, storage
from .checks import Refused

# Uploads never sent are deleted after this long (tasks.turns_recover_task's sweep).
ORPHAN_AGE = timedelta(days=1)
KIND_NAMES = {"image": "images", "pdf": "PDF files"}


def clean_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable()).strip()[:200] or "file"


def attachment_upload(*, owner: User, name: str, content: IO[bytes], size: int, model: AIModel | None) -> Attachment:
    """Check one file and store it for the composer (no turn yet); Refused names it and says why."""
    name = clean_name(name)
    if size > settings.ATTACHMENT_MAX_BYTES:
        checks.file_check(name, content, size)  # refuses with the size limit, before reading anything
    used = selectors.storage_used(user=owner)
    quota = settings.ATTACHMENT_QUOTA_BYTES
    if used + size > quota:
        raise Refused(
            name,
            f"your attachments take {filesizeformat(used)} of your {filesizeformat(quota)}; delete conversations "
            "with files you no longer need, or ask an admin for more.",
        )
    checked = checks.file_check(name, content, size)
    accepts = selectors.model_accepts(model)
    if not accepts[checked.kind]:
        raise Refused(name, f"{model} does not read {KIND_NAMES[checked.kind]}.")
    return _store(owner, name, checked)


def _store(owner: User, name: str, checked: checks.Checked, **fields: object) -> Attachment:
    path = storage.file_save(storage.file_name(owner.pk, checked.sha256, checked.extension), checked.content)
    thumbnail = ""
    if checked.thumbnail:
        thumbnail = storage.file_save(storage.file_name(owner.pk, checked.sha256, "thumb.webp"), checked.thumbnail)
    return Attachment.objects.create(
        owner=owner,
        name=name,
        kind=checked.kind,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        pages=checked.pages,
        width=checked.width,
        height=checked.height,
        tokens=checked.tokens,
        path=path,
        thumbnail_path=thumbnail,
        thumbnail_size=len(checked.thumbnail),
        **fields,
    )


def attachments_check(*, attachments: Sequence[Attachment], model: AIModel | None) -> None:
    """The limits of one prompt (files, bytes) and what its model reads; Refused says what to remove."""
    if len(attachments) > settings.ATTACHMENT_MAX_FILES:
        raise Refused(
            attachments[settings.ATTACHMENT_MAX_FILES].name,
            f"a prompt takes at most {settings.ATTACHMENT_MAX_FILES} files; remove some.",
        )
    total = sum(row.size for row in attachments)
    if total > settings.ATTACHMENT_MAX_PROMPT_BYTES:
        raise Refused(
            attachments[-1].name,
            f"this prompt's files add up to {filesizeformat(total)}, over the limit of "
            f"{filesizeformat(settings.ATTACHMENT_MAX_PROMPT_BYTES)} per prompt; remove some.",
        )
    accepts = selectors.model_accepts(model)
    for row in attachments:
        if not accepts[row.kind]:
            raise Refused(row.name, f"{model} does not read {KIND_NAMES[row.kind]}; remove it or change the model.")


def attachments_attach(*, turn: Turn, attachments: Sequence[Attachment]) -> list[Attachment]:
    """Give `turn` these attachments, in order: uploads not sent yet become its own, others (a version's
    kept files) are copied as new rows naming the same stored file. Rows of `turn` not listed are deleted."""
    kept: list[Attachment] = []
    with transaction.atomic():
        listed = {row.pk for row in attachments}
        Attachment.objects.filter(turn=turn).exclude(pk__in=listed).delete()
        for position, row in enumerate(attachments):
            if row.turn_id is None or row.turn_id == turn.pk:
                Attachment.objects.filter(pk=row.pk).update(turn=turn, position=position)
                row.turn, row.position = turn, position
            else:
                row = _copy(row, turn=turn, position=position)
            kept.append(row)
    return kept


def _copy(row: Attachment, **fields: object) -> Attachment:
    copy = Attachment.objects.get(pk=row.pk)
    copy.pk, copy.created_at = uuid.uuid4(), timezone.now()
    for name, value in fields.items():
        setattr(copy, name, value)
    copy._state.adding = True
    copy.save(force_insert=True)
    return copy


def attachments_of_version(*, turn: Turn) -> list[Attachment]:
    """What another version of `turn` keeps by default: its files."""
    return list(Attachment.objects.filter(turn=turn).order_by("position"))


def attachment_discard(*, attachment: Attachment) -> bool:
    """Remove an upload from the composer (only one not sent yet)."""
    if attachment.turn_id is not None:
        return False
    attachment.delete()
    return True


def orphans_delete(*, now: object | None = None) -> int:
    """Delete uploads never sent with a prompt (their files go once nothing names them)."""
    before = (now or timezone.now()) - ORPHAN_AGE  # type: ignore[operator]
    deleted = 0
    for row in Attachment.objects.filter(selectors.orphans(before=before)).iterator():
        row.delete()
        deleted += 1
    return deleted


def attachment_restore(
    *, owner: User, turn: Turn, name: str, content: IO[bytes], size: int, position: int
) -> Attachment:
    """An imported file, checked like an upload (a refused one raises Refused), given to its turn."""
    name = clean_name(name)
    checked = checks.file_check(name, content, size)
    existing = Attachment.objects.filter(turn=turn, sha256=checked.sha256).first()
    if existing is not None:  # imported twice: the same row
        return existing
    return _store(owner, name, checked, turn=turn, position=position)


def composer_collect(
    *, owner: User, ids: Sequence[str], uploads: Sequence[UploadedFile], model: AIModel | None
) -> tuple[list[Attachment], list[str]]:
    """What a composer posted: its listed attachments (the owner's; ids from the page) and the files of its
    plain file input (without JavaScript), each checked and stored; with a message for each refused file."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    rows = selectors.composer_attachments(user=owner, ids=wanted)
    refusals = []
    for upload in uploads:
        try:
            rows.append(
                attachment_upload(
                    owner=owner, name=upload.name or "file", content=upload, size=upload.size or 0, model=model
                )
            )
        except Refused as refused:
            refusals.append(refused.message)
    return rows, refusals
