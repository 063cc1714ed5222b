"""The files of an imported turn (export format version 4): each checked like an upload (attachments/checks.py)
before anything is written, then stored and given to its new turn."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from conversations.attachments import services as attachment_services
from conversations.attachments.checks import Refused, file_check
from conversations.models import Turn

from .errors import ImportRefused
from .export_format import ATTACHMENT_FIELDS


def checked_files(value: Any, where: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of each file of a turn, or ImportRefused naming the turn, the file and why."""
    if not isinstance(value, list):
        raise ImportRefused(f"{where} field 'attachments' must be a list.")
    if len(value) > settings.ATTACHMENT_MAX_FILES:
        raise ImportRefused(f"{where} has {len(value)} files, over the limit of {settings.ATTACHMENT_MAX_FILES}.")
    files = []
    for index, item in enumerate(value, start=1):
        place = f"{where}, file {index}"
        if not isinstance(item, dict) or set(item) != set(ATTACHMENT_FIELDS):
            raise ImportRefused(f"{place} must have the fields {', '.join(ATTACHMENT_FIELDS)}.")
        name, data = item["name"], item["data"]
        if not isinstance(name, str) or not name or not isinstance(data, str) or ";base64," not in data:
            raise ImportRefused(f"{place} needs a name and its bytes as a base64 data URL.")
        if len(data) > settings.ATTACHMENT_MAX_BYTES * 4 // 3 + 200:
            raise ImportRefused(
                f"{place} (“{name[:60]}”) is over the limit of {settings.ATTACHMENT_MAX_BYTES:,} bytes."
            )
        try:
            raw = base64.b64decode(data.split(";base64,", 1)[1], validate=True)
        except (binascii.Error, ValueError):
            raise ImportRefused(f"{place} (“{name[:60]}”) is not valid base64.") from None
        try:
            file_check(name[:200], io.BytesIO(raw), len(raw))  # as an upload: by its content
        except Refused as refused:
            raise ImportRefused(f"{place}: {refused.message}") from None
        files.append((name, raw))
    return files


def files_restore(*, owner: User, turn: Turn, files: list[tuple[str, bytes]]) -> None:
    for position, (name, raw) in enumerate(files):
        attachment_services.attachment_restore(
            owner=owner, turn=turn, name=name, content=io.BytesIO(raw), size=len(raw), position=position
        )
