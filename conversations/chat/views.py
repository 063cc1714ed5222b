"""Thin views: validate a form, call one service or selector, render or redirect."""

import uuid
from typing import Any, TypeVar, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aimlweb.http import SignedInRequest
from conversations.attachments import selectors as attachment_selectors
from conversations.attachments import services as attachment_writes
from conversations.attachments.checks import Refused
from conversations.generation import scheduler
from conversations.models import AIModel, Attachment, Conversation
from conversations.notices import services as notices
from conversations.templatetags.chat import version as version_stamp
from conversations.usage import budgets, catalog

from . import fragments, pages, selectors, services, waiting
from .forms import ConversationSettingsForm, NewChatForm, PromptForm, RegenerateForm, RenameForm

F = TypeVar("F", bound=PromptForm)


def _new_prompt_form(data: QueryDict | None = None) -> PromptForm:
    return PromptForm(data, initial={"client_token": uuid.uuid4()})


def _retype(form: F, message: str) -> F:
    """The refused prompt, still typed, with the reason and a fresh one-time token."""
    data = cast(QueryDict, form.data).copy()  # bound to request.POST
    data["client_token"] = str(uuid.uuid4())
    retyped = type(form)(data)
    retyped.is_valid()
    retyped.add_error(None, message)
    return retyped


def _composer_files(request: SignedInRequest, model_id: str) -> tuple[list[Attachment], list[str]]:
    """The files a composer posted (listed, or chosen in its plain file input), and why any was refused."""
    ids, uploads = request.POST.getlist("attachment"), request.FILES.getlist("files")
    if not ids and not uploads:  # most prompts: no catalogue read for them (tests/chat/test_send_cost.py)
        return [], []
    row = catalog.model_get(model_id)
    rows, refusals = attachment_writes.composer_collect(owner=request.user, ids=ids, uploads=uploads, model=row)
    if not refusals:
        try:
            attachment_writes.attachments_check(attachments=rows, model=row)
        except Refused as refused:
            refusals.append(refused.message)
    return rows, refusals


def _attach(model: AIModel | None, rows: list[Attachment], refusals: list[str]) -> dict[str, Any]:
    return {"attach": attachment_selectors.composer_state(model=model, rows=rows, refusals=refusals)}


@login_required
@gzip_page
def home(request: SignedInRequest) -> HttpResponse:
    if request.method == "GET" and "q" in request.GET:  # the search box of earlier versions
        return redirect(f"{reverse('search')}?{request.GET.urlencode()}")
    status = 200
    # One form per request: each reads the catalogue (benchmarks.queue post: POST / built two).
    form = (
        NewChatForm(request.POST) if request.method == "POST" else NewChatForm(initial={"client_token": uuid.uuid4()})
    )
    files: tuple[list[Attachment], list[str]] = ([], [])
    chosen = form["model"].value() or form.fields["model"].initial
    if request.method == "POST":
        files = _composer_files(request, chosen)
        if files[1]:
            status = 400  # the prompt and the other files stay in the composer, with why
        elif form.is_valid():
            try:
                turn = services.conversation_create(
                    owner=request.user,
                    prompt=form.cleaned_data["prompt"],
                    client_token=form.cleaned_data["client_token"],
                    model=form.cleaned_data["model"],
                    max_output_tokens=form.cleaned_data["max_output_tokens"],
                    reasoning_effort=form.cleaned_data["reasoning_effort"] or "",
                    row=form.chosen_row,
                    attachments=files[0],
                )
            except (services.TurnInFlight, services.UserLimitReached) as exc:
                form, status = _retype(form, exc.message), getattr(exc, "status", 409)
            except budgets.BudgetExceeded as exc:
                form.add_error(None, exc.message)
                status = 402
            else:
                return redirect(turn.conversation)
    cost = budgets.composer_cost(models=form.models, model=chosen)
    row = next((m for m in form.models if m.provider_id == chosen), None)
    context = {"form": form, "composer_cost": cost, **_attach(row, *files), **pages.sidebar(request)}
    return render(request, "conversations/home.html", context, status=status)


def _shown_turn(request: SignedInRequest) -> uuid.UUID | None:
    """`?turn=<id>`: a link to one turn (search, a version switch): the page shows the path through it."""
    try:
        return uuid.UUID(request.GET.get("turn", ""))
    except ValueError:
        return None


def _conversation_page(
    request: SignedInRequest,
    conversation: Conversation,
    form: PromptForm,
    status: int = 200,
    before: str = "",
    show: uuid.UUID | None = None,
    **extra: Any,
) -> HttpResponse:
    # The newest turns of the path on screen only (earlier ones load as the reader scrolls up),
    # always reaching back to a running one: the composer state comes from the same read.
    show = show or _shown_turn(request)
    page = selectors.conversation_turns_page(conversation=conversation, before=before, show=show)
    turns = page.turns
    active_turn = next((turn for turn in turns if turn.is_active), None)
    queued = next((turn for turn in turns if turn.is_waiting), None)  # one per conversation at most
    context = {
        "conversation": conversation,
        "turns": turns,
        "earlier": page.earlier,
        "before": before,
        "leaf": page.leaf,
        "running_elsewhere": page.running_elsewhere,
        "active_turn": active_turn,
        "place": scheduler.waiting_place(turn=queued) if queued is not None else None,
        # Offered once the model retired, or as soon as the provider said it is deprecated.
        "switch_to": catalog.successor_offer(conversation.model, deprecated=bool(turns) and turns[-1].model_gone),
        "usage": page.usage,
        "shares": pages.share_links(request, conversation),
        "share_open": "shared" in request.GET,
        "new_share": request.GET.get("shared", ""),
        "form": form,
        "composer_cost": budgets.composer_cost(conversation=conversation, leaf=page.leaf, shown=page.path_end),
        **_attach(catalog.model_get(conversation.model), [], []),
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
        **pages.sidebar(request),
        **extra,
    }
    return render(request, "conversations/conversation.html", context, status=status)


@login_required
@gzip_page
def conversation(request: SignedInRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = pages.or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
    form = _new_prompt_form()
    if request.method == "POST":
        form = PromptForm(request.POST)
        rows, refusals = _composer_files(request, conversation.model)

        def kept() -> dict[str, Any]:  # the files stay in a refused composer (read only then)
            return _attach(catalog.model_get(conversation.model), rows, refusals)

        if form.is_valid() and not refusals:
            # The turn the page showed last (a stale or foreign id: the version on screen now).
            parent = conversation.turns.filter(pk=form.cleaned_data["parent"]).first()
            try:
                services.turn_create(
                    conversation=conversation,
                    prompt=form.cleaned_data["prompt"],
                    client_token=form.cleaned_data["client_token"],
                    parent=parent,
                    attachments=rows,
                )
            except (services.TurnInFlight, services.UserLimitReached) as exc:
                # The form keeps what was typed, with a fresh one-time token.
                form, status = _retype(form, exc.message), getattr(exc, "status", 409)
                show = parent.pk if parent else None
                return _conversation_page(request, conversation, form, status=status, show=show, **kept())
            except budgets.BudgetExceeded as exc:
                form.add_error(None, exc.message)
                show = parent.pk if parent else None
                return _conversation_page(request, conversation, form, status=402, show=show, **kept())
            return redirect(conversation)
        return _conversation_page(request, conversation, form, status=400, **kept())
    return _conversation_page(request, conversation, form)


@login_required
@require_GET
def turn_live(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    """The live fragment of one turn; 204 while nothing changed since version `v`."""
    version = pages.or_404(selectors.turn_version, user=request.user, turn_id=turn_id)
    notices.turn_seen_by_poll(turn_id=turn_id)  # a page shows it: its end needs no email
    if request.GET.get("v") == version_stamp(version):
        return HttpResponse(status=204)
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    return HttpResponse(fragments.turn_html(request, turn))


@login_required
@require_POST
def turn_cancel(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    if not services.turn_cancel(turn=turn):
        messages.info(request, "That answer had already finished.")
    return redirect(turn.conversation)


@login_required
@require_POST
def turn_send(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    """Send now a follow-up held after the answer it follows failed or was stopped."""
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    if str(turn.id) not in waiting.turn_waiting_send(turn=turn):
        # Its place in the queue now depends on the user's running answers only (the page says).
        messages.info(request, "Queued: it is sent as soon as one of your running answers ends.")
    return redirect(f"{turn.conversation.get_absolute_url()}#turn-{turn.id}")


@login_required
@require_POST
def turn_retry(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    try:
        services.turn_retry(turn=turn)
    except (services.TurnInFlight, services.TurnNotRetryable, services.UserLimitReached, budgets.BudgetExceeded) as exc:
        messages.error(request, exc.message)
    return redirect(turn.conversation)


@login_required
@require_POST
def turn_regenerate(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    """Regenerate an answer, or resubmit an edited prompt (when `prompt` is posted)."""
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    form = RegenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(turn.conversation)
    files = None  # kept as they are, unless the editor posted its list (Keep boxes, added files)
    if "attachments_edited" in request.POST:
        files, refusals = _composer_files(request, turn.conversation.model)
        if refusals:
            messages.error(request, " ".join(refusals))
            return redirect(turn.conversation)
    try:
        services.turn_regenerate(
            turn=turn,
            prompt=form.cleaned_data["prompt"],
            client_token=form.cleaned_data["client_token"],
            attachments=files,
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
def turn_show(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    """Switch to this version (the `‹ 2 / 3 ›` buttons): the page shows the path through it."""
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    services.turn_show(turn=turn)
    return redirect(f"{turn.conversation.get_absolute_url()}?turn={turn.id}#turn-{turn.id}")


@pages.conversation_action
def conversation_settings(request: SignedInRequest, conversation: Conversation) -> HttpResponse:
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
        errors = "; ".join(f"{field}: {' '.join(str(m) for m in e)}" for field, e in form.errors.items())
        messages.error(request, f"Settings not saved: {errors}")
    return redirect(conversation)


@pages.conversation_action
def conversation_switch_model(request: SignedInRequest, conversation: Conversation) -> HttpResponse:
    """One click from a retired model to its successor."""
    old = conversation.model
    try:
        services.conversation_switch_model(conversation=conversation)
    except services.NoSuccessor as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"This conversation now uses {conversation.model} instead of {old}.")
    return redirect(conversation)


@pages.conversation_action
def conversation_rename(request: SignedInRequest, conversation: Conversation) -> HttpResponse:
    form = RenameForm(request.POST)
    if form.is_valid():
        services.conversation_update(conversation=conversation, title=form.cleaned_data["title"])
    else:
        messages.error(request, "A title needs 1 to 200 characters.")
    return redirect("home") if request.POST.get("next") == "home" else pages.next_or(request, conversation)


@login_required
@require_http_methods(["GET", "POST"])
@pages.with_conversation
def conversation_delete(request: SignedInRequest, conversation: Conversation) -> HttpResponse:
    if request.method == "GET":  # the confirmation, for a browser without JavaScript
        context = {"conversation": conversation, "usage": selectors.conversation_usage(conversation=conversation)}
        return render(request, "conversations/delete_confirm.html", {**context, **pages.sidebar(request)})
    services.conversation_delete(conversation=conversation)
    messages.success(request, f"Deleted “{conversation.title}”.")
    return redirect("home")


@login_required
@require_GET
@gzip_page
@pages.with_conversation
def conversation_turns(request: SignedInRequest, conversation: Conversation) -> HttpResponse:
    """Earlier turns of a long conversation: a fragment for app.js, the page itself without JavaScript.

    The turns above the cursor's turn on its path. `through=<turn id>` loads everything from that
    turn on (a search result's link to an early turn).
    """
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
@require_http_methods(["GET", "POST"])
def turn_edit(request: SignedInRequest, turn_id: uuid.UUID) -> HttpResponse:
    """The editor of a sent prompt, fetched when opened (a page of its own without JavaScript).

    POST: a queued prompt (not sent yet) edited in place; a sent one is edited as another version
    (`turn_regenerate`)."""
    turn = pages.or_404(selectors.turn_get, user=request.user, turn_id=turn_id)
    context: dict[str, Any] = {"turn": turn, "conversation": turn.conversation}
    if request.method == "POST":
        form = PromptForm(request.POST)
        status = 400
        files = None  # kept as they are, unless the editor posted its list (Keep boxes, added files)
        if form.is_valid() and "attachments_edited" in request.POST:
            files, refusals = _composer_files(request, turn.conversation.model)
            for refusal in refusals:
                form.add_error(None, refusal)  # the form is no longer valid: nothing changes
        if form.is_valid():
            try:
                if waiting.turn_waiting_edit(turn=turn, prompt=form.cleaned_data["prompt"], attachments=files):
                    return redirect(f"{turn.conversation.get_absolute_url()}#turn-{turn.id}")
                turn.refresh_from_db()
                status = 409  # the editor now sends the edit as another version (_edit_form.html)
                form.add_error(None, "This prompt was sent before your edit arrived. Send the edit as another version.")
            except budgets.BudgetExceeded as exc:
                form.add_error(None, exc.message)
                status = 402
        # The edit stays typed in the editor's own page, with the reason.
        errors = " ".join(str(e) for e in form.non_field_errors() + form["prompt"].errors)
        context.update(edit_turn_id=turn.id, edit_prompt=request.POST.get("prompt", ""), edit_error=errors)
        return render(request, "conversations/turn_edit.html", {**context, **pages.sidebar(request)}, status=status)
    if request.htmx:
        response = render(request, "conversations/_edit_form.html", context)
    else:
        response = render(request, "conversations/turn_edit.html", {**context, **pages.sidebar(request)})
    patch_vary_headers(response, ["HX-Request"])
    return response
