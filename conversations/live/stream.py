"""`GET /events/`: one server-sent event stream per page, fed by this process's watcher (changes.py).

A page (static/js/live.js) opens the stream listing the turns it shows running; `turn` events carry
the turn's fragment, drawn by the same renderer as `/t/<id>/live/` (chat/fragments.py) for the
stream's own user; `conversation` events carry sidebar rows. The stream ends once its sign-in is
gone, which the watcher re-reads for every stream every LIVE_EVENTS_SESSION_CHECK_SECONDS (sessions.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from aimlweb.http import SignedInRequest
from conversations.chat import fragments, selectors

from .changes import MAX_TURNS_PER_PAGE, Subscriber, TurnEvent, sse, watcher
from .reads import from_stamp, release_connections

logger = logging.getLogger(__name__)


# --- The stream ---------------------------------------------------------------------------


def _page_turns(values: list[str]) -> dict[uuid.UUID, int]:
    """`?t=<turn id>.<version>` of the turns a page shows running (malformed ones are ignored)."""
    turns = {}
    for value in values[:MAX_TURNS_PER_PAGE]:
        turn_id, _, version = value.partition(".")
        try:
            turns[uuid.UUID(turn_id)] = int(version or 0)
        except ValueError:
            continue
    return turns


def _since(request: HttpRequest) -> datetime:
    """Where a page's catch-up starts: its last event (a reconnect) or its page load (`?since=`, s)."""
    now = timezone.now()
    try:
        last = int(request.headers.get("Last-Event-ID", ""))
        return min(now, from_stamp(last))
    except (ValueError, OverflowError, OSError):
        pass
    try:
        loaded = int(request.GET.get("since", ""))
        return min(now, datetime.fromtimestamp(loaded, tz=UTC))
    except (ValueError, OverflowError, OSError):
        return now


@require_GET
async def stream(request: HttpRequest) -> HttpResponseBase:
    """The view of `GET /events/` (see the module docstring)."""
    if not settings.LIVE_EVENTS or not isinstance(request, ASGIRequest):
        # 204 tells EventSource not to reconnect; the page polls instead.
        return HttpResponse(status=204)
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Sign in to receive updates.", status=401, content_type="text/plain")
    subscriber = Subscriber(
        user_id=user.pk, turns=_page_turns(request.GET.getlist("t")), session_key=request.session.session_key
    )
    signed_in = cast(SignedInRequest, request)  # its user is signed in (above)
    response = StreamingHttpResponse(_events(signed_in, subscriber, _since(request)), content_type="text/event-stream")
    # Proxies must pass each event on at once (nginx reads this header; see the README).
    response["X-Accel-Buffering"] = "no"
    response["Cache-Control"] = "no-store"
    return response


def draw_turn(request: SignedInRequest, turn_id: str, shared: fragments.Shared | None = None) -> str:
    """The turn's fragment exactly as the page would fetch it (/t/<id>/live/), for this request's user.

    Drawn with the stream's own request (the page's user, session and cookies), so it is the
    fragment a fetch would get, never another user's. "" when it cannot be drawn (the page then
    fetches it). `shared`: the parts other pages of the user drew for the same change (their budget).
    """
    try:
        return fragments.turn_html(request, selectors.turn_get(user=request.user, turn_id=turn_id), shared)
    except ObjectDoesNotExist:  # not this user's (any more): the page fetches it, and gets a 404
        return ""
    except Exception:  # the page can still fetch it; the stream must not die of it
        logger.warning("live: could not draw turn %s for its stream", turn_id, exc_info=True)
        return ""
    finally:
        release_connections()  # an open stream holds no database connection


async def _with_fragment(request: SignedInRequest, event: TurnEvent) -> str:
    """The turn event as SSE text, with the turn's fragment when it could be drawn."""
    async with watcher().drawing:
        html = await sync_to_async(draw_turn)(request, event.data["id"], event.shared)
    return sse("turn", {**event.data, "html": html} if html else event.data, event.event_id)


async def _text(request: SignedInRequest, items: Sequence[str | TurnEvent]) -> str:
    return "".join([item if isinstance(item, str) else await _with_fragment(request, item) for item in items])


async def _events(request: SignedInRequest, subscriber: Subscriber, since: datetime) -> AsyncIterator[str]:
    # The request's own database connection is not needed while the stream stays open (the
    # watcher reads for everyone): give it back now rather than when the stream ends.
    await sync_to_async(release_connections)()
    live = watcher()
    retry_ms = settings.LIVE_EVENTS_RETRY_MS
    try:
        event_id = await live.subscribe(subscriber, since)
        # First chunk: how long to wait before a reconnect, then hello (the stream works), then
        # the catch-up (what changed since the page was drawn or since its last event).
        first = [f"retry: {retry_ms}\n", sse("hello", {"interval_ms": settings.LIVE_EVENTS_INTERVAL_MS}, event_id)]
        while not subscriber.queue.empty():
            first.append(subscriber.queue.get_nowait())
        yield await _text(request, first)
        loop = asyncio.get_running_loop()
        ends = loop.time() + settings.LIVE_EVENTS_MAX_SECONDS
        heartbeat = settings.LIVE_EVENTS_HEARTBEAT_SECONDS
        last_sent = loop.time()
        # The watcher ends a stream whose sign-in is gone (signed_out); its reconnect then gets a 401.
        while not subscriber.overflowed and not subscriber.signed_out and loop.time() < ends:
            if loop.time() - last_sent >= heartbeat:
                # A comment: keeps proxies and load balancers from closing an idle stream.
                yield ": keep-alive\n\n"
                last_sent = loop.time()
                continue
            try:
                wait = min(last_sent + heartbeat, ends) - loop.time()
                message = await asyncio.wait_for(subscriber.queue.get(), timeout=max(wait, 0))
            except TimeoutError:
                continue
            batch = [message]
            while not subscriber.queue.empty():
                batch.append(subscriber.queue.get_nowait())
            if subscriber.signed_out:
                break
            yield await _text(request, batch)
            last_sent = loop.time()
    finally:
        live.unsubscribe(subscriber)
