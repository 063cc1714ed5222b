"""History's views: the conversation list page by page, pin and archive, search; export, import and
share links. Thin: validate, call one service or selector, render or redirect.
"""

import uuid
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_POST

from aimlweb.http import SignedInRequest
from conversations.chat import pages, selectors, services
from conversations.models import Conversation
from conversations.usage import exports

from . import export_json, export_markdown, importer, search, search_form, search_query, sharing
from . import services as history_services
from .errors import ImportRefused, SearchError

# --- Export, import and share (formats and snapshots: export_*.py, importer.py, sharing.py) ------------------------


def _download(content: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = cast(str, content_disposition_header(True, filename))  # an attachment: never None
    return response


def _export_name(conversation: Conversation, extension: str) -> str:
    return f"{slugify(conversation.title)[:60] or 'conversation'}.{extension}"


@login_required
@require_GET
def conversation_export_markdown(request: SignedInRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = pages.or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
    text = export_markdown.export_markdown(conversation=conversation, now=timezone.now())
    return _download(text.encode(), _export_name(conversation, "md"), "text/markdown; charset=utf-8")


@login_required
@require_GET
def conversation_export_json(request: SignedInRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = pages.or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
    content = export_json.export_conversation(conversation=conversation, now=timezone.now())
    return _download(content, _export_name(conversation, "json"), "application/json")


@login_required
@require_GET
def export_all(request: SignedInRequest) -> StreamingHttpResponse:
    """Every conversation of the user as one JSON file, streamed (flat memory at any size)."""
    now = timezone.now()
    response = exports.streaming_response(
        request, export_json.export_stream(user=request.user, now=now), "application/json"
    )
    response["Content-Disposition"] = cast(
        str, content_disposition_header(True, f"aimlweb-export-{now:%Y-%m-%d}.json")
    )  # an attachment: never None
    return response


def _import_limit() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", importer.DEFAULT_IMPORT_MAX_BYTES)


def _transfer_page(request: SignedInRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "conversation_count": request.user.conversations.count(),
        "import_max_mb": _import_limit() // (1024 * 1024),
        "import_error": error,
    }
    return render(request, "conversations/transfer.html", context, status=status)


@login_required
@require_GET
def transfer_page(request: SignedInRequest) -> HttpResponse:
    return _transfer_page(request)


class _ImportUpload(TemporaryFileUploadHandler):
    """Spools the upload to a temporary file whatever its size; stops reading past the import limit."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.limit:
            self.too_large = True
            # Read the rest and drop it, so the browser gets the page that explains, not a reset.
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


@csrf_exempt  # checked below by csrf_protect, once the upload handler is in place
@login_required
@require_POST
def import_upload(request: SignedInRequest) -> HttpResponse:
    handler = _ImportUpload(request, _import_limit())
    request.upload_handlers = [handler]
    return _import_upload(request, handler)


@csrf_protect
def _import_upload(request: SignedInRequest, handler: _ImportUpload) -> HttpResponse:
    upload = request.FILES.get("file")
    if handler.too_large:
        error = (
            f"This file is larger than {_import_limit() // (1024 * 1024)} MB, the most this site imports at once. "
            "Import the conversations you need one by one (each conversation's Share menu exports it)."
        )
        return _transfer_page(request, error=error, status=413)
    if upload is None:
        return _transfer_page(request, error="Choose an export file (.json) to import.", status=400)
    try:
        plan = history_services.conversations_import(owner=request.user, file=upload)
    except ImportRefused as exc:
        return _transfer_page(request, error=f"Nothing was imported: {exc.message}", status=400)
    finally:
        upload.close()
    imported = plan.conversations - plan.skipped
    text = f"Imported {imported} conversation{pluralize(imported)} ({plan.turns} turn{pluralize(plan.turns)})."
    if plan.skipped == 1:
        text += " One conversation was already here, so it was left unchanged."
    elif plan.skipped:
        text += f" {plan.skipped} conversations were already here, so they were left unchanged."
    if plan.interrupted:
        text += (
            f" {plan.interrupted} answer{pluralize(plan.interrupted)} still being written when exported"
            " came in as interrupted."
        )
    messages.success(request, text)
    return redirect("transfer")


@login_required
@require_POST
def share_create(request: SignedInRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = pages.or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
    share = history_services.share_create(
        conversation=conversation,
        show_cost=request.POST.get("show_cost") == "on",
        show_thinking=request.POST.get("show_thinking") == "on",
        show_attachments=request.POST.get("show_attachments") == "on",
    )
    messages.success(request, "Link created. Anyone signed in here who has it can read this snapshot.")
    return redirect(f"{conversation.get_absolute_url()}?shared={share.token}")


@login_required
@require_POST
def share_revoke(request: SignedInRequest, token: str) -> HttpResponse:
    share = pages.or_404(sharing.share_get_owned, user=request.user, token=token)
    history_services.share_revoke(share=share)
    messages.success(request, "Link revoked: it now leads nowhere.")
    return redirect(f"{reverse('conversation', args=[share.conversation_id])}?shared=")


@login_required
@require_GET
def share_view(request: SignedInRequest, token: str) -> HttpResponse:
    """A share's read-only snapshot, for any signed-in user with the link (404 once revoked)."""
    share = pages.or_404(sharing.share_get, token=token)
    context = {"share": share, "turns": sharing.share_turns(share), "is_owner": share.owner_id == request.user.id}
    response = render(request, "conversations/shared.html", context)
    # A link pasted somewhere public must not put someone's conversation in a search engine.
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- History: the list page by page, pin and archive, search ------------------------------------


@login_required
@require_GET
@gzip_page
def conversation_list(request: SignedInRequest) -> HttpResponse:
    """The next page of the sidebar list: a fragment for app.js, a page of its own without JavaScript."""
    try:
        page = selectors.conversation_list(
            user=request.user, after=request.GET.get("after", ""), group=request.GET.get("g", "")[:40]
        )
    except selectors.BadCursor as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
        return redirect("home")
    if request.htmx:
        response = render(request, "conversations/_sidebar_page.html", {"page": page})
    else:
        response = render(request, "conversations/history.html", {"more": page, **pages.sidebar(request)})
    patch_vary_headers(response, ["HX-Request"])
    return response


ORGANISED = {
    "pin": "Pinned “{}”.",
    "unpin": "Unpinned “{}”.",
    "archive": "Archived “{}”. It is hidden from the list; search with the Archived filter finds it.",
    "unarchive": "“{}” is back in the list.",
}


@login_required
@require_POST
def conversation_organise(request: SignedInRequest, conversation_id: uuid.UUID, action: str) -> HttpResponse:
    """Pin, unpin, archive or unarchive (`action` comes from the URL pattern, never from the user)."""
    conversation = pages.or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
    getattr(services, f"conversation_{action}")(conversation=conversation)
    messages.success(request, ORGANISED[action].format(conversation.title or "Untitled"))
    return pages.next_or(request, conversation)


@login_required
@require_GET
@gzip_page
def search_page(request: SignedInRequest) -> HttpResponse:
    """Full-text search with filters; an empty search shows the list. Asked by the sidebar's search as
    the user types (`HX-Request`, static/js/search-live.js): the results alone, as a fragment."""
    if request.htmx:
        return _search_panel(request)
    form = search_form.SearchForm(request.GET)
    context = {"form": form, "query": request.GET.get("q", ""), "results": None, **pages.sidebar(request)}
    status = 200
    if form.is_valid():
        filters = form.filters()
        try:
            context["results"] = search.find(
                user=request.user, text=form.cleaned_data["q"], filters=filters, page=form.cleaned_data["page"] or 1
            )
        except SearchError as exc:
            form.add_error("q", exc.message)
            status = 400
        if context["results"] is None and not form.errors:
            return redirect("home")
    else:
        status = 400
    context["query"] = search_query.clean(context["query"])
    response = render(request, "conversations/search.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _search_panel(request: SignedInRequest) -> HttpResponse:
    """The sidebar's results: the words only (the filters are the search page's), first page, or why not."""
    form = search_form.SearchForm({"q": request.GET.get("q", "")})
    context: dict = {"results": None, "error": "", "query": ""}
    if form.is_valid():
        context["query"] = search_query.clean(form.cleaned_data["q"]).strip()
        try:
            context["results"] = search.find(user=request.user, text=form.cleaned_data["q"], snippet_width=110)
        except SearchError as exc:
            context["error"] = exc.message
    else:
        context["error"] = " ".join(str(e) for e in form.errors.get("q", [])) or "That search could not be run."
    response = render(request, "conversations/_search_panel.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response
