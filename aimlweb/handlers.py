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

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve


class PagesHandler(ASGIHandler):
    """Django's ASGI handler whose middleware chain is the sync one, entered in one thread per request.

    The thread is the request's own (thread_sensitive, in the ThreadSensitiveContext that
    ASGIHandler opens per request): the same one that closes its database connection at the end
    and that reads the rows of a streamed export, as under Django's async chain.
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
        self.pages = PagesHandler()
        self.coroutines = ASGIHandler()

    async def __call__(self, scope, receive, send) -> None:
        handler = self.coroutines if scope["type"] == "http" and is_coroutine_view(scope) else self.pages
        await handler(scope, receive, send)
