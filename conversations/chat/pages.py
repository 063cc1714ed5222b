"""What every page of the app needs beside its own content: the sidebar's list, the way back after a
form, and a conversation's share links (chat, history and usage views use them).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aimlweb.http import SignedInRequest
from conversations.history import sharing
from conversations.models import Conversation, Share

from . import selectors

T = TypeVar("T")


def or_404(read: Callable[..., T], **lookup: Any) -> T:
    """What a selector reads, or 404 when there is no such row for this user (missing and not
    theirs look the same)."""
    try:
        return read(**lookup)
    except ObjectDoesNotExist:
        raise Http404 from None


def with_conversation(
    view: Callable[[SignedInRequest, Conversation], HttpResponse],
) -> Callable[[SignedInRequest, uuid.UUID], HttpResponse]:
    """A view of one of the user's conversations: it gets the row for the URL's `conversation_id`
    (a 404 for another user's or none). Goes under `login_required`."""

    @functools.wraps(view)
    def wrapped(request: SignedInRequest, conversation_id: uuid.UUID) -> HttpResponse:
        conversation = or_404(selectors.conversation_get, user=request.user, conversation_id=conversation_id)
        return view(request, conversation)

    return wrapped


def conversation_action(
    view: Callable[[SignedInRequest, Conversation], HttpResponse],
) -> Callable[[SignedInRequest, uuid.UUID], HttpResponse]:
    """A form posted about one of the signed-in user's conversations (settings, rename, switch model)."""
    return login_required(require_POST(with_conversation(view)))


def sidebar(request: SignedInRequest) -> dict[str, Any]:
    """Pinned conversations, then the first page of the others (app.js loads more as the list scrolls)."""
    pinned, page = selectors.conversations_sidebar(user=request.user)
    return {"pinned": pinned, "page": page}


def next_or(request: HttpRequest, fallback: Conversation | str) -> HttpResponseRedirect:
    """Back to the page the form was on (`next`, when it is a local URL), else `fallback`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        # Never `redirect(target)`: it reads "0" or "home" as a view name (NoReverseMatch: a 500).
        return HttpResponseRedirect(target)
    return redirect(fallback)


def share_links(request: HttpRequest, conversation: Conversation) -> list[Share]:
    shares = sharing.shares_of(conversation=conversation)
    for share in shares:
        share.url = request.build_absolute_uri(reverse("share", args=[share.token]))
    return shares
