"""The ASGI application (aimlweb/handlers.py): a page runs its middleware and view in one thread, entered
once; only a coroutine view (the event stream) goes through Django's async chain."""

import asyncio
import threading

import pytest
from asgiref import sync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from aimlweb.handlers import ByView, PagesHandler, RequestThreads, is_coroutine_view

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("async_connections_closed")]


def scope_of(path: str, cookie: str = "", root_path: str = "") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": root_path + path, "raw_path": (root_path + path).encode(), "query_string": b"", "root_path": root_path,
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip


def get(app, path: str, cookie: str = "", until: bytes = b"") -> tuple[int, dict, bytes]:
    """One GET through an ASGI application, as a server calls it: (status, headers, body). With `until`,
    the client leaves once the body holds it (an event stream never ends by itself)."""
    sent = []
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while not (until and until in b"".join(m.get("body", b"") for m in sent)):
            await asyncio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope_of(path, cookie), receive, send), timeout=20))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.fixture
def hops(monkeypatch):
    """How many times a request went from the event loop to a thread (asgiref's sync_to_async)."""
    count = [0]
    call = sync.SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        count[0] += 1
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
    return count


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_a_signed_in_page_enters_a_thread_once_for_its_whole_middleware_chain(alice, hops):
    cookie = session_cookie(alice)
    status, headers, body = get(ByView(), "/", cookie)
    assert status == 200 and b'id="composer' in body
    assert "no-store" in headers["cache-control"] and len(headers["x-request-id"]) == 32
    # The request's start and end signals, the chain with its view, the response's close.
    ours = hops[0]
    assert ours <= 4

    hops[0] = 0
    assert get(ASGIHandler(), "/", cookie)[0] == 200  # Django's own: a hop per middleware method
    assert hops[0] > 2 * ours


def test_a_request_starts_no_thread_when_one_is_free(alice, monkeypatch):
    """Django's handler starts two threads per request (its thread, then one to join it); here a request
    takes the thread a finished one gave back."""
    app, cookie = ByView(), session_cookie(alice)
    assert get(app, "/", cookie)[0] == 200  # the first request starts its thread
    started = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name) or start(thread))
    assert get(app, "/", cookie)[0] == 200
    assert get(app, "/events/", cookie, until=b"event: hello")[0] == 200  # the stream's own sync calls too
    assert [name for name in started if not name.startswith("live-")] == []  # the watcher's own, once
    assert get(ASGIHandler(), "/", cookie)[0] == 200
    assert len(started) >= 2  # Django's own handler, for comparison: its thread, then the one joining it


def test_requests_at_once_each_have_a_thread_of_their_own_and_idle_ones_are_capped():
    threads = RequestThreads(keep=2)

    async def in_request(entered: asyncio.Event, leave: asyncio.Event) -> int:
        async with threads.context():
            ident = await sync.sync_to_async(threading.get_ident)()
            entered.set()
            await leave.wait()
            assert await sync.sync_to_async(threading.get_ident)() == ident  # the same thread all along
            return ident

    async def scenario() -> tuple[list[int], int]:
        leave = asyncio.Event()
        entered = [asyncio.Event() for _ in range(3)]
        tasks = [asyncio.create_task(in_request(e, leave)) for e in entered]
        for event in entered:
            await event.wait()
        leave.set()
        at_once = list(await asyncio.gather(*tasks))
        after = await in_request(asyncio.Event(), leave)  # leave is set: it ends at once
        return at_once, after

    at_once, after = asyncio.run(scenario())
    assert len(set(at_once)) == 3  # three requests at once: three threads
    assert after in at_once  # the next request: one of theirs, no new thread
    assert len(threads.idle) == 2  # three given back, two kept


def test_only_a_coroutine_view_goes_to_the_async_chain():
    assert is_coroutine_view(scope_of("/events/"))
    assert is_coroutine_view(scope_of("/events/", root_path="/chat"))  # mounted under a prefix
    assert not is_coroutine_view(scope_of("/"))
    assert not is_coroutine_view(scope_of("/healthz"))
    assert not is_coroutine_view(scope_of("/no/such/page/"))
    assert not is_coroutine_view(scope_of("/static/js/live.js"))
    assert isinstance(ByView().pages, PagesHandler)


def test_opening_a_stream_hands_few_hooks_to_a_thread(alice, hops):
    """The stream's middleware chain is Django's async one: Django's own middleware hand each hook to a thread
    and back, but those whose hooks only set headers or attributes run them in the loop (middleware.InLoop)."""
    cookie = session_cookie(alice)
    assert get(ByView(), "/events/", cookie, until=b"event: hello")[0] == 200
    # Start and end signals, the hooks of the session, CSRF, security and X-Frame-Options middleware, the view's
    # own reads: 13 (20 with Django's own classes everywhere in MIDDLEWARE).
    assert hops[0] <= 13


def test_the_event_stream_streams_through_the_application(alice):
    status, headers, body = get(ByView(), "/events/", session_cookie(alice), until=b"event: hello")
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert "no-store" in headers["cache-control"] and b"event: hello" in body


def test_a_streamed_export_reads_its_rows_in_the_requests_thread(alice):
    """The export's chunks are read after the view returned, in the thread that holds its cursor."""
    from tests import factories

    for i in range(3):
        talk = factories.conversation(owner=alice, title=f"Exported {i}")
        factories.turn(conversation=talk, prompt=f"question {i}", status="completed", output_text=f"answer {i}")
    status, headers, body = get(ByView(), "/transfer/export.json", session_cookie(alice))
    assert status == 200 and "json" in headers["content-type"]
    assert all(f"answer {i}".encode() in body and f"Exported {i}".encode() in body for i in range(3))
