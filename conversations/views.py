"""Thin views: validate a form, call one service or selector, render or redirect."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import ConversationSettingsForm, PromptForm, RegenerateForm, RenameForm
from .templatetags.chat import version as version_stamp


def _new_prompt_form(data=None) -> PromptForm:
    return PromptForm(data, initial={"client_token": uuid.uuid4()})


def _sidebar(request) -> dict:
    query = request.GET.get("q", "").strip()
    return {"conversations": selectors.conversation_list(user=request.user, query=query)[:200], "query": query}


@login_required
def home(request):
    form = _new_prompt_form()
    if request.method == "POST":
        form = PromptForm(request.POST)
        if form.is_valid():
            turn = services.conversation_create(
                owner=request.user,
                prompt=form.cleaned_data["prompt"],
                client_token=form.cleaned_data["client_token"],
            )
            return redirect(turn.conversation)
    return render(request, "conversations/home.html", {"form": form, **_sidebar(request)})


def _conversation_page(request, conversation, form, status=200):
    # One read of the turns, so the composer state and the turns shown always agree.
    turns = list(selectors.conversation_turns(conversation=conversation))
    context = {
        "conversation": conversation,
        "turns": turns,
        "active_turn": next((turn for turn in turns if turn.is_active), None),
        "usage": selectors.conversation_usage(conversation=conversation),
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
    }
    return render(request, "conversations/conversation.html", context, status=status)


@login_required
def conversation(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    form = _new_prompt_form()
    if request.method == "POST":
        form = PromptForm(request.POST)
        if form.is_valid():
            try:
                services.turn_create(
                    conversation=conversation,
                    prompt=form.cleaned_data["prompt"],
                    client_token=form.cleaned_data["client_token"],
                )
            except services.TurnInFlight as exc:
                # The bound form keeps what was typed; its token is still unused.
                form.add_error(None, exc.message)
                return _conversation_page(request, conversation, form, status=409)
            return redirect(conversation)
        return _conversation_page(request, conversation, form, status=400)
    return _conversation_page(request, conversation, form)


@login_required
@require_GET
def turn_live(request, turn_id):
    """The live fragment of one turn; 204 while nothing changed since version `v`."""
    version = selectors.turn_version(user=request.user, turn_id=turn_id)
    if request.GET.get("v") == version_stamp(version):
        return HttpResponse(status=204)
    turn = selectors.turn_get(user=request.user, turn_id=turn_id)
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
    except (services.TurnInFlight, services.TurnNotRetryable) as exc:
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
    except services.TurnInFlight as exc:
        messages.error(request, exc.message)
    return redirect(turn.conversation)


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
def conversation_rename(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    form = RenameForm(request.POST)
    if form.is_valid():
        services.conversation_update(conversation=conversation, title=form.cleaned_data["title"])
    else:
        messages.error(request, "A title needs 1 to 200 characters.")
    return redirect(request.POST.get("next") if request.POST.get("next") == "home" else conversation)


@login_required
@require_POST
def conversation_delete(request, conversation_id):
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    services.conversation_delete(conversation=conversation)
    messages.success(request, f"Deleted “{conversation.title}”.")
    return redirect("home")
