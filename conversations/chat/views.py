"""Thin views: validate a form, call one service or selector, render or redirect."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.history import export_json, export_markdown, importer, search, search_form, search_query, sharing
from conversations.history.errors import ImportRefused, SearchError
from conversations.live import stream as live
from conversations.templatetags.chat import version as version_stamp
from conversations.usage import budgets, catalog, exports

from . import selectors, services
from .forms import ConversationSettingsForm, NewChatForm, PromptForm, RegenerateForm, RenameForm


def _new_prompt_form(data=None) -> PromptForm:
    return PromptForm(data, initial={"client_token": uuid.uuid4()})


def _retype(form: PromptForm, message: str) -> PromptForm:
    """The refused prompt, still typed, with the reason and a fresh one-time token."""
    data = form.data.copy()
    data["client_token"] = str(uuid.uuid4())
    retyped = type(form)(data)
    retyped.is_valid()
    retyped.add_error(None, message)
    return retyped


def _sidebar(request) -> dict:
    """Pinned conversations, then the first page of the others (app.js loads more as the list scrolls)."""
    return {
        "pinned": selectors.conversations_pinned(user=request.user),
        "page": selectors.conversation_list(user=request.user),
    }


def _next_or(request, fallback):
    """Back to the page the form was on (`next`, when it is a local URL), else `fallback`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        # Never `redirect(target)`: it reads "0" or "home" as a view name (NoReverseMatch: a 500).
        return HttpResponseRedirect(target)
    return redirect(fallback)


@login_required
@gzip_page
def home(request):
    if request.method == "GET" and "q" in request.GET:  # the search box of earlier versions
        return redirect(f"{reverse('search')}?{request.GET.urlencode()}")
    form = NewChatForm(initial={"client_token": uuid.uuid4()})
    status = 200
    if request.method == "POST":
        form = NewChatForm(request.POST)
        if form.is_valid():
            try:
                turn = services.conversation_create(
                    owner=request.user,
                    prompt=form.cleaned_data["prompt"],
                    client_token=form.cleaned_data["client_token"],
                    model=form.cleaned_data["model"],
                )
            except (services.TurnInFlight, services.UserLimitReached) as exc:
                form, status = _retype(form, exc.message), getattr(exc, "status", 409)
            except budgets.BudgetExceeded as exc:
                form.add_error(None, exc.message)
                status = 402
            else:
                return redirect(turn.conversation)
    return render(request, "conversations/home.html", {"form": form, **_sidebar(request)}, status=status)


def _shown_turn(request):
    """`?turn=<id>`: a link to one turn (search, a version switch): the page shows the path through it."""
    try:
        return uuid.UUID(request.GET.get("turn", ""))
    except ValueError:
        return None


def _conversation_page(request, conversation, form, status=200, before="", show=None, **extra):
    # The newest turns of the path on screen only (earlier ones load as the reader scrolls up),
    # always reaching back to a running one: the composer state comes from the same read.
    show = show or _shown_turn(request)
    page = selectors.conversation_turns_page(conversation=conversation, before=before, show=show)
    turns = page.turns
    active_turn = next((turn for turn in turns if turn.is_active), None)
    context = {
        "conversation": conversation,
        "turns": turns,
        "earlier": page.earlier,
        "before": before,
        "leaf": page.leaf,
        "running_elsewhere": page.running_elsewhere,
        "active_turn": active_turn,
        # Offered once the model retired, or as soon as the provider said it is deprecated.
        "switch_to": catalog.successor_offer(conversation.model, deprecated=bool(turns) and turns[-1].model_gone),
        "usage": selectors.conversation_usage(conversation=conversation),
        "shares": _share_links(request, conversation),
        "share_open": "shared" in request.GET,
        "new_share": request.GET.get("shared", ""),
        "form": form,
        "settings_form": ConversationSettingsForm(
            model=conversation.model,
            initial={
                "title": conversation.title,
                "model": conversation.model,
                "instructions": conversation.instructions,
                "max_output_tokens": conversation.max_output_tokens,
                "reasoning_effort": conversation.reasoning_effort,
            },
        ),
        **_sidebar(request),
        **extra,
    }
    return render(request, "conversations/conversation.html", context, status=status)


@login_required
@gzip_page
def conversation(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    form = _new_prompt_form()
    if request.method == "POST":
        form = PromptForm(request.POST)
        if form.is_valid():
            # The turn the page showed last (a stale or foreign id: the version on screen now).
            parent = conversation.turns.filter(pk=form.cleaned_data["parent"]).first()
            try:
                services.turn_create(
                    conversation=conversation,
                    prompt=form.cleaned_data["prompt"],
                    client_token=form.cleaned_data["client_token"],
                    parent=parent,
                )
            except (services.TurnInFlight, services.UserLimitReached) as exc:
                # The form keeps what was typed, with a fresh one-time token.
                form, status = _retype(form, exc.message), getattr(exc, "status", 409)
                return _conversation_page(request, conversation, form, status=status, show=parent and parent.pk)
            except budgets.BudgetExceeded as exc:
                form.add_error(None, exc.message)
                return _conversation_page(request, conversation, form, status=402, show=parent and parent.pk)
            return redirect(conversation)
        return _conversation_page(request, conversation, form, status=400)
    return _conversation_page(request, conversation, form)


@require_GET
async def events(request):
    """Pushed updates of the user's running turns and sidebar, as server-sent events (live.py)."""
    return await live.stream(request)


@login_required
@require_GET
def turn_live(request, turn_id):
    """The live fragment of one turn; 204 while nothing changed since version `v`."""
    version = selectors.turn_version(user=request.user, turn_id=turn_id)
    if request.GET.get("v") == version_stamp(version):
        return HttpResponse(status=204)
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    turn.versions = selectors.turn_versions(turn)
    context = {"turn": turn, "conversation": turn.conversation}
    if not turn.is_active:
        # The answer is in: refresh the conversation's token and cost totals too.
        context.update(oob_usage=True, usage=selectors.conversation_usage(conversation=turn.conversation))
    return render(request, "conversations/_turn.html", context)


@login_required
@require_POST
def turn_cancel(request, turn_id):
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    if not services.turn_cancel(turn=turn):
        messages.info(request, "That answer had already finished.")
    return redirect(turn.conversation)


@login_required
@require_POST
def turn_retry(request, turn_id):
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    try:
        services.turn_retry(turn=turn)
    except (services.TurnInFlight, services.TurnNotRetryable, services.UserLimitReached, budgets.BudgetExceeded) as exc:
        messages.error(request, exc.message)
    return redirect(turn.conversation)


@login_required
@require_POST
def turn_regenerate(request, turn_id):
    """Regenerate an answer, or resubmit an edited prompt (when `prompt` is posted)."""
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    form = RegenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(turn.conversation)
    try:
        services.turn_regenerate(
            turn=turn, prompt=form.cleaned_data["prompt"], client_token=form.cleaned_data["client_token"]
        )
    except (services.TurnInFlight, services.UserLimitReached) as exc:
        messages.error(request, exc.message)
    except budgets.BudgetExceeded as exc:
        if form.cleaned_data["prompt"] is None:
            messages.error(request, exc.message)
        else:
            # An edited prompt stays typed in its open editor, with the reason beside it.
            edit = {"edit_turn_id": turn.id, "edit_prompt": form.cleaned_data["prompt"], "edit_error": exc.message}
            return _conversation_page(request, turn.conversation, _new_prompt_form(), status=402, show=turn.id, **edit)
    return redirect(turn.conversation)


@login_required
@require_POST
def turn_show(request, turn_id):
    """Switch to this version (the `‹ 2 / 3 ›` buttons): the page shows the path through it."""
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    services.turn_show(turn=turn)
    return redirect(f"{turn.conversation.get_absolute_url()}?turn={turn.id}#turn-{turn.id}")


@login_required
@require_POST
def conversation_settings(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    form = ConversationSettingsForm(request.POST, model=conversation.model)
    if form.is_valid():
        data = form.cleaned_data
        services.conversation_update(
            conversation=conversation,
            title=data["title"] or conversation.title,
            model=data["model"],
            instructions=data["instructions"],
            max_output_tokens=data["max_output_tokens"],
            reasoning_effort=data["reasoning_effort"] or "",
        )
        messages.success(request, "Settings saved.")
    else:
        errors = "; ".join(f"{field}: {' '.join(e)}" for field, e in form.errors.items())
        messages.error(request, f"Settings not saved: {errors}")
    return redirect(conversation)


@login_required
@require_POST
def conversation_switch_model(request, conversation_id):
    """One click from a retired model to its successor."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    old = conversation.model
    try:
        services.conversation_switch_model(conversation=conversation)
    except services.NoSuccessor as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"This conversation now uses {conversation.model} instead of {old}.")
    return redirect(conversation)


@login_required
@require_POST
def conversation_rename(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        services.conversation_update(conversation=conversation, title=form.cleaned_data["title"])
    else:
        messages.error(request, "A title needs 1 to 200 characters.")
    return redirect("home") if request.POST.get("next") == "home" else _next_or(request, conversation)


@login_required
@require_http_methods(["GET", "POST"])
def conversation_delete(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    if request.method == "GET":  # the confirmation, for a browser without JavaScript
        context = {"conversation": conversation, "usage": selectors.conversation_usage(conversation=conversation)}
        return render(request, "conversations/delete_confirm.html", {**context, **_sidebar(request)})
    services.conversation_delete(conversation=conversation)
    messages.success(request, f"Deleted “{conversation.title}”.")
    return redirect("home")


# --- Export, import and share (the format and snapshots: history/) ---------------------------


def _download(content: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _export_name(conversation, extension: str) -> str:
    return f"{slugify(conversation.title)[:60] or 'conversation'}.{extension}"


@login_required
@require_GET
def conversation_export_markdown(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    text = export_markdown.export_markdown(conversation=conversation, now=timezone.now())
    return _download(text.encode(), _export_name(conversation, "md"), "text/markdown; charset=utf-8")


@login_required
@require_GET
def conversation_export_json(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    content = export_json.export_conversation(conversation=conversation, now=timezone.now())
    return _download(content, _export_name(conversation, "json"), "application/json")


@login_required
@require_GET
def export_all(request):
    """Every conversation of the user as one JSON file, streamed (flat memory at any size)."""
    now = timezone.now()
    response = exports.streaming_response(
        request, export_json.export_stream(user=request.user, now=now), "application/json"
    )
    response["Content-Disposition"] = content_disposition_header(True, f"aimlweb-export-{now:%Y-%m-%d}.json")
    return response


def _import_limit() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", importer.DEFAULT_IMPORT_MAX_BYTES)


def _transfer_page(request, *, error: str = "", status: int = 200):
    context = {
        "conversation_count": request.user.conversations.count(),
        "import_max_mb": _import_limit() // (1024 * 1024),
        "import_error": error,
    }
    return render(request, "conversations/transfer.html", context, status=status)


@login_required
@require_GET
def transfer_page(request):
    return _transfer_page(request)


class _ImportUpload(TemporaryFileUploadHandler):
    """Spools the upload to a temporary file whatever its size; stops reading past the import limit."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit
        self.too_large = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.too_large = True
            # Read the rest and drop it, so the browser gets the page that explains, not a reset.
            raise StopUpload(connection_reset=False)
        return super().receive_data_chunk(raw_data, start)


@csrf_exempt  # checked below by csrf_protect, once the upload handler is in place
@login_required
@require_POST
def import_upload(request):
    handler = _ImportUpload(request, _import_limit())
    request.upload_handlers = [handler]
    return _import_upload(request, handler)


@csrf_protect
def _import_upload(request, handler: _ImportUpload):
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
        plan = services.conversations_import(owner=request.user, file=upload)
    except ImportRefused as exc:
        return _transfer_page(request, error=f"Nothing was imported: {exc.message}", status=400)
    finally:
        upload.close()
    imported = plan.conversations - plan.skipped
    text = f"Imported {imported} conversation{pluralize(imported)} ({plan.turns} turn{pluralize(plan.turns)})."
    if plan.skipped:
        text += f" {plan.skipped} {'was' if plan.skipped == 1 else 'were'} already here and left as they are."
    if plan.interrupted:
        text += (
            f" {plan.interrupted} answer{pluralize(plan.interrupted)} still being written when exported"
            " came in as interrupted."
        )
    messages.success(request, text)
    return redirect("transfer")


def _share_links(request, conversation) -> list:
    shares = sharing.shares_of(conversation=conversation)
    for share in shares:
        share.url = request.build_absolute_uri(reverse("share", args=[share.token]))
    return shares


@login_required
@require_POST
def share_create(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    share = services.share_create(conversation=conversation, show_cost=request.POST.get("show_cost") == "on")
    messages.success(request, "Link created. Anyone signed in here who has it can read this snapshot.")
    return redirect(f"{conversation.get_absolute_url()}?shared={share.token}")


@login_required
@require_POST
def share_revoke(request, token):
    share = sharing.share_get_owned(user=request.user, token=token)
    services.share_revoke(share=share)
    messages.success(request, "Link revoked: it now leads nowhere.")
    return redirect(f"{reverse('conversation', args=[share.conversation_id])}?shared=")


@login_required
@require_GET
def share_view(request, token):
    """A share's read-only snapshot, for any signed-in user with the link (404 once revoked)."""
    share = sharing.share_get(token=token)
    context = {"share": share, "turns": sharing.share_turns(share), "is_owner": share.owner_id == request.user.id}
    response = render(request, "conversations/shared.html", context)
    # A link pasted somewhere public must not put someone's conversation in a search engine.
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- History: the list page by page, pin and archive, search ------------------------------------


@login_required
@require_GET
@gzip_page
def conversation_list(request):
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
        response = render(request, "conversations/history.html", {"more": page, **_sidebar(request)})
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
def conversation_organise(request, conversation_id, action):
    """Pin, unpin, archive or unarchive (`action` comes from the URL pattern, never from the user)."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    getattr(services, f"conversation_{action}")(conversation=conversation)
    messages.success(request, ORGANISED[action].format(conversation.title or "Untitled"))
    return _next_or(request, conversation)


@login_required
@require_GET
@gzip_page
def search_page(request):
    """Full-text search with filters; an empty search shows the list."""
    form = search_form.SearchForm(request.GET)
    context = {"form": form, "query": request.GET.get("q", ""), "results": None, **_sidebar(request)}
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
    return render(request, "conversations/search.html", context, status=status)


@login_required
@require_GET
@gzip_page
def conversation_turns(request, conversation_id):
    """Earlier turns of a long conversation: a fragment for app.js, the page itself without JavaScript.

    The turns above the cursor's turn on its path. `through=<turn id>` loads everything from that
    turn on (a search result's link to an early turn).
    """
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    before = request.GET.get("before", "")
    try:
        through = conversation.turns.filter(id=uuid.UUID(request.GET.get("through", ""))).first()
    except ValueError:
        through = None
    try:
        if not request.htmx:
            selectors.Cursor.decode(before)
            return _conversation_page(request, conversation, _new_prompt_form(), before=before)
        page = selectors.conversation_turns_page(conversation=conversation, before=before, through=through)
    except selectors.BadCursor as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
        return redirect(conversation)
    context = {"conversation": conversation, "turns": page.turns, "earlier": page.earlier}
    response = render(request, "conversations/_turns_page.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def turn_edit(request, turn_id):
    """The editor of a sent prompt, fetched when opened (a page of its own without JavaScript)."""
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
    context = {"turn": turn, "conversation": turn.conversation}
    if request.htmx:
        response = render(request, "conversations/_edit_form.html", context)
    else:
        response = render(request, "conversations/turn_edit.html", {**context, **_sidebar(request)})
    patch_vary_headers(response, ["HX-Request"])
    return response
