"""Uploading from the composer (static/js/attach.js) and serving files: only to their owner (404 to anyone
else), or through a share that includes them; never from a public URL. Each file goes with
Content-Disposition, nosniff and a CSP that allows nothing to run."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from aimlweb.http import SignedInRequest
from conversations.chat import pages
from conversations.chat import selectors as chat_selectors
from conversations.history import sharing
from conversations.models import Attachment, Share
from conversations.usage import catalog

from . import selectors, services, storage
from .checks import Refused

# Images may be shown, nothing may run; a PDF opens in the browser's viewer (a sandbox would block it).
IMAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
PDF_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'"


def _served(row: Attachment, thumbnail: bool, download: bool) -> FileResponse:
    if thumbnail and row.thumbnail_path:
        path, content_type, name = row.thumbnail_path, "image/webp", f"{row.name}.thumb.webp"
    else:
        path, content_type, name = row.path, row.content_type, row.name
    response = FileResponse(storage.file_open(path), content_type=content_type, as_attachment=download, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = IMAGE_POLICY if row.is_image else PDF_POLICY
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@login_required
@require_GET
def attachment_file(request: SignedInRequest, attachment_id: uuid.UUID, thumbnail: bool = False) -> FileResponse:
    row = pages.or_404(selectors.attachment_get, user=request.user, attachment_id=attachment_id)
    return _served(row, thumbnail, "download" in request.GET)


@login_required
@require_GET
def shared_file(
    request: SignedInRequest, token: str, attachment_id: uuid.UUID, thumbnail: bool = False
) -> FileResponse:
    """A file of a shared snapshot, for whoever may see the share (signed in), when its owner included files."""
    share: Share = pages.or_404(sharing.share_get, token=token)
    row = pages.or_404(selectors.shared_attachment_get, share=share, attachment_id=attachment_id)
    return _served(row, thumbnail, "download" in request.GET)


@login_required
@require_POST
def attachment_upload(request: SignedInRequest) -> HttpResponse:
    """One file from the composer (drop, paste, the button with JavaScript): its preview row, or 400 and why."""
    model = catalog.model_get(_model_id(request))
    upload = request.FILES.get("file")
    if upload is None:
        return HttpResponse("No file was sent.", status=400, content_type="text/plain; charset=utf-8")
    try:
        row = services.attachment_upload(
            owner=request.user, name=upload.name or "file", content=upload, size=upload.size or 0, model=model
        )
    except Refused as refused:
        return HttpResponse(refused.message, status=400, content_type="text/plain; charset=utf-8")
    return render(request, "attachments/_pending.html", {"attachment": row})


def _model_id(request: SignedInRequest) -> str:
    """The model the composer asks: its conversation's, or a new chat's choice."""
    try:
        conversation = chat_selectors.conversation_get(
            user=request.user, conversation_id=uuid.UUID(request.POST.get("conversation", ""))
        )
        return conversation.model
    except (ValueError, chat_selectors.Conversation.DoesNotExist):
        return request.POST.get("model") or catalog.default_model_id()


@login_required
@require_POST
def attachment_discard(request: SignedInRequest, attachment_id: uuid.UUID) -> HttpResponse:
    """The composer's remove button: an upload not sent yet is deleted (a sent one stays with its turn)."""
    row = pages.or_404(selectors.attachment_get, user=request.user, attachment_id=attachment_id)
    services.attachment_discard(attachment=row)
    return HttpResponse(status=204)
