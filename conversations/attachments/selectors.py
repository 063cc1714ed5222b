"""Reads of attachments, scoped to their owner (a foreign id is a DoesNotExist, a 404 in views)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max, Q

from conversations.models import AIModel, Attachment, Share


def attachment_get(*, user: User, attachment_id: uuid.UUID) -> Attachment:
    return Attachment.objects.get(pk=attachment_id, owner=user)


def shared_attachment_get(*, share: Share, attachment_id: uuid.UUID) -> Attachment:
    """An attachment of a share that includes them, named in its snapshot (else DoesNotExist)."""
    listed = {str(item.get("id")) for turn in share.snapshot for item in (turn.get("attachments") or [])}
    if not share.show_attachments or share.revoked_at is not None or str(attachment_id) not in listed:
        raise Attachment.DoesNotExist
    return Attachment.objects.get(pk=attachment_id, owner=share.owner)


def composer_attachments(*, user: User, ids: Iterable[uuid.UUID]) -> list[Attachment]:
    """The user's attachments the composer posted, in the order posted (unknown and foreign ids are dropped)."""
    wanted = list(dict.fromkeys(ids))
    found = {row.pk: row for row in Attachment.objects.filter(owner=user, pk__in=wanted)}
    return [found[pk] for pk in wanted if pk in found]


def turn_attachments(*, turn_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Attachment]]:
    rows: dict[uuid.UUID, list[Attachment]] = {}
    for row in Attachment.objects.filter(turn_id__in=list(turn_ids)).order_by("position", "created_at"):
        rows.setdefault(row.turn_id, []).append(row)  # type: ignore[arg-type]
    return rows


def storage_used(*, user: User) -> int:
    """Bytes the user's attachments take: each stored file once (rows may share one), thumbnails included."""
    files = Attachment.objects.filter(owner=user).order_by().values("path")
    sizes = files.annotate(bytes=Max("size"), thumb=Max("thumbnail_size"))
    return sum(row["bytes"] + row["thumb"] for row in sizes)


def stored(*, user: User, sha256: str) -> bool:
    """The user already stores this content (it takes no more space)."""
    return Attachment.objects.filter(owner=user, sha256=sha256).exists()


def model_accepts(row: AIModel | None) -> dict[str, bool]:
    """Which kinds the model takes (an unknown model: both, as the catalogue's default)."""
    return {
        "image": row.accepts_images if row is not None else True,
        "pdf": row.accepts_files if row is not None else True,
    }


def orphans(*, before: object) -> Q:
    """Uploads never sent with a prompt, older than `before`."""
    return Q(turn__isnull=True, created_at__lt=before)


ACCEPT = {"image": "image/png,image/jpeg,image/webp,image/gif", "pdf": "application/pdf,.pdf"}


def composer_state(
    *, model: AIModel | None, rows: Iterable[Attachment] = (), refusals: Iterable[str] = ()
) -> dict[str, object]:
    """What the composer's Attach shows: whether the model reads files (else no button), the files so far,
    refused files and why (one over the quota says how much of it is used), the limits."""
    accepts = model_accepts(model)
    kinds = [name for kind, name in (("image", "Images"), ("pdf", "PDFs")) if accepts[kind]]
    return {
        "accepts": any(accepts.values()),
        "accept": ",".join(ACCEPT[kind] for kind in ACCEPT if accepts[kind]),
        "kinds": " and ".join(kinds),
        "rows": list(rows),
        "refusals": list(refusals),
        "max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "max_files": settings.ATTACHMENT_MAX_FILES,
    }


def file_facts(row: Attachment) -> dict[str, object]:
    """What a share's snapshot or an export says of a file (the file itself: its id's URL, or base64)."""
    return {
        "id": str(row.pk),
        "kind": row.kind,
        "name": row.name,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "pages": row.pages,
        "width": row.width,
        "height": row.height,
        "long_side": row.long_side,
    }
