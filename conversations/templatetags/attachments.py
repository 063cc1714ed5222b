"""A sent prompt's files, drawn in Python (`{% turn_files files %}`): a page of 50 images stays cheap, one
reverse() per URL name instead of two per file. Thumbnails open the full image; a PDF opens or downloads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

THUMBNAIL_SIDE = 160  # CSS pixels of a turn's thumbnail (app.css .turn-file-image)
_MARK = uuid.UUID(int=0)


def _urls(share: Any) -> tuple[str, str]:
    if share:
        return (reverse("shared_attachment", args=[share.token, _MARK]),
                reverse("shared_attachment_thumbnail", args=[share.token, _MARK]))  # fmt: skip
    return reverse("attachment_file", args=[_MARK]), reverse("attachment_thumbnail", args=[_MARK])


def _get(file: Any, name: str) -> Any:
    return file.get(name) if isinstance(file, Mapping) else getattr(file, name)


def _item(file: Any, full: str, thumb: str) -> SafeString:
    name, pages = _get(file, "name"), _get(file, "pages")
    if _get(file, "kind") == "image":
        width, height = _get(file, "width") or 0, _get(file, "height") or 0
        scale = THUMBNAIL_SIDE / max(width, height, 1)
        return format_html(
            '<li class="turn-file"><a href="{}" target="_blank" rel="noopener" class="turn-file-image" title="{}">'
            '<img src="{}" alt="{}" loading="lazy" decoding="async" width="{}" height="{}"></a></li>',
            full, name, thumb, name, round(width * scale) or THUMBNAIL_SIDE, round(height * scale) or THUMBNAIL_SIDE,
        )  # fmt: skip
    facts = f"{pages} page{'s' if pages != 1 else ''} · " if pages else ""
    return format_html(
        '<li class="turn-file"><a href="{}" target="_blank" rel="noopener" class="turn-file-pdf">'
        '<span class="attach-icon" aria-hidden="true">PDF</span> {}</a> <span class="muted small">{}{} · '
        '<a href="{}?download">Download</a></span></li>',
        full, name, facts, filesizeformat(_get(file, "size")), full,
    )  # fmt: skip


@register.simple_tag
def turn_files(files: Iterable[Any], share: Any = None) -> SafeString:
    """The files of a turn (rows), or of a share's snapshot (dicts, served through the share's own URLs)."""
    full, thumb = _urls(share)
    mark = str(_MARK)
    items = [
        _item(file, full.replace(mark, str(_get(file, "id"))), thumb.replace(mark, str(_get(file, "id"))))
        for file in files
    ]
    if not items:
        return SafeString("")
    return format_html(
        '<ul class="turn-files" aria-label="Attached files">{}</ul>', format_html_join("", "{}", ((i,) for i in items))
    )
