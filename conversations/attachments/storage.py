"""Where attachment files live: Django's storage API, `STORAGES["attachments"]` (DATA_DIR/media/attachments by
default; any django-storages backend in production). Never served from a public URL: views.py serves them.

A file is named by its owner and the hash of its content, so the same content is stored once per user; rows
that name it (versions of a turn, the same file sent twice) share it, and it is deleted once the last row that
names it is gone (after the transaction commits).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import transaction

from conversations.models import Attachment


def storage() -> Storage:
    return storages["attachments"]


def file_name(owner_id: int, sha256: str, extension: str) -> str:
    return f"{owner_id}/{sha256[:2]}/{sha256}.{extension}"


def file_save(name: str, content: IO[bytes] | bytes) -> str:
    """Store `content` under `name` unless a file of that content is there already; the name stored."""
    files = storage()
    if files.exists(name):
        return name
    wrapped = ContentFile(content) if isinstance(content, bytes) else File(content)
    return files.save(name, wrapped)


def file_open(name: str) -> IO[bytes]:
    return storage().open(name, "rb")


def files_release(names: Iterable[str]) -> None:
    """Once the transaction commits: delete each of these files that no row names any more."""
    wanted = {name for name in names if name}
    if not wanted:
        return

    def delete() -> None:
        used = set(Attachment.objects.filter(path__in=wanted).values_list("path", flat=True))
        used |= set(Attachment.objects.filter(thumbnail_path__in=wanted).values_list("thumbnail_path", flat=True))
        files = storage()
        for name in wanted - used:
            files.delete(name)

    transaction.on_commit(delete)


def attachment_deleted(sender: type, instance: Attachment, **kwargs: object) -> None:
    """post_delete (also for the rows a conversation's or a user's delete cascades to)."""
    files_release([instance.path, instance.thumbnail_path])
