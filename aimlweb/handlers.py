"""The ASGI application's two ways into Django: pages in one thread, coroutine views in the event loop.

Under Django's own ASGI handler every middleware of MIDDLEWARE runs as a coroutine, and Django's
built-in ones (sessions, CSRF, auth, messages, security...) do that by handing each of their
`process_request` and `process_response` to a thread and back (MiddlewareMixin.__acall__): about
fifteen hops between the event loop and a thread for every page, each a future, a wake-up of the
loop and a context copy. Measured on the real server (one process, one request at a time): a
signed-in `/healthz` took 10.6 ms of CPU that way and 6.8 ms with the whole chain in one thread;
a page 1.5-2 ms less (docs/benchmarks.md, "One thread per page").

So a request whose view is a plain function (every page, form and fragment) runs the middleware
chain and its view in ONE thread, entered once (`PagesHandler`); only a view written as a coroutine
(the pushed updates of `/events/`, conversations/live/stream.py, which must not hold a thread while
it waits) goes through Django's async chain, where aimlweb/middleware.py keeps every middleware
able to run as a coroutine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve


class RequestThreads:
    """The threads requests run their sync code in, each kept for a next request once its request ends.

    Django's ASGIHandler gives every request a thread of its own (a ThreadSensitiveContext without
    an executor: a new one-thread pool), then starts one more thread to join it when the request
    ends: two threads started and ended per request, about 5 % of the web's CPU while 1,000 prompts
    are sent (py-spy, docs/benchmarks.md "Threads kept"). Here a request still has its thread to itself
    (an executor of one thread, entered by one request at a time: database connections stay per
    request), but the thread outlives the request. At most `keep` idle ones are kept; the others end.
    """

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self.idle: list[ThreadPoolExecutor] = []

    @asynccontextmanager
    async def context(self) -> AsyncIterator[None]:
        executor = self.idle.pop() if self.idle else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                yield
        finally:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
            else:
                executor.shutdown(wait=False)


class ReusedThreads(ASGIHandler):
    """Django's ASGI handler, with each request's thread taken from (and given back to) `threads`
    (its own, unless given one to share with another handler)."""

    def __init__(self, threads: RequestThreads | None = None) -> None:
        self.threads = threads if threads is not None else RequestThreads()
        super().__init__()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # as Django's own
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with self.threads.context():
            await self.handle(scope, receive, send)


class PagesHandler(ReusedThreads):
    """Django's ASGI handler whose middleware chain is the sync one, entered in one thread per request.

    The thread is the request's own while it runs (thread_sensitive, in the request's
    ThreadSensitiveContext: `RequestThreads`): the same one that closes its database connection at
    the end and that reads the rows of a streamed export, as under Django's async chain.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # Django's stubs leave the chain untyped (set in load_middleware): read it by name.
        chain: Callable[[HttpRequest], HttpResponseBase] = getattr(self, "_middleware_chain")  # noqa: B009
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


def is_coroutine_view(scope: dict) -> bool:
    """Whether the request's URL names a view written as a coroutine (not found: no)."""
    prefix = get_script_prefix(scope)  # the path Django's request will see, as ASGIRequest takes it
    path = scope["path"].removeprefix(prefix) if prefix else scope["path"]
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


class ByView:
    """The ASGI application: coroutine views to Django's async chain, everything else to `PagesHandler`."""

    def __init__(self) -> None:
        threads = RequestThreads()  # one set for both: a stream that ends gives its thread to pages
        self.pages = PagesHandler(threads)
        self.coroutines = ReusedThreads(threads)

    async def __call__(self, scope, receive, send) -> None:
        handler = self.coroutines if scope["type"] == "http" and is_coroutine_view(scope) else self.pages
        await handler(scope, receive, send)
