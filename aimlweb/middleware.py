"""Middleware that runs in the chain's own mode: no switch between the event loop and a thread.

Under ASGI a page's request goes through the sync chain in one thread (aimlweb/handlers.py); a
coroutine view (/events/) goes through Django's async chain, where Django calls each middleware as a
coroutine, as long as it can be one: a sync-only middleware there makes it hand the request to a
thread and back through the event loop again below it (django.request logs "Asynchronous handler
adapted for middleware ..."). With 1,000 pushed streams on the same event loop, those switches
queued behind each other. Every middleware of MIDDLEWARE is therefore both sync and async capable.

Django's own middleware are async capable by handing each hook to a thread and back (MiddlewareMixin),
even those whose hooks only set headers or lazy attributes: `InLoop` runs such hooks in the loop itself
(aimlweb/in_loop.py names them; a module of its own, since importing Django's auth and messages
middleware needs the app registry, and this module is imported before it, by the logging settings).
Opening a stream made 20 switches, 7 of them for such hooks (tests/ops/test_asgi.py counts them); the
streams' chain was a tenth of the web's CPU while 1,000 prompts were sent (docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class BothModes:
    """A middleware written once for both modes: `before` (which may answer at once), `around` the rest
    of the chain, then `finish` (`afinish` in async mode, where it may await)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        """A response that ends the request here, or None to go on."""
        return None

    def around(self, request: HttpRequest) -> AbstractContextManager[object]:
        """What holds while the request is inside (a context variable set, say)."""
        return nullcontext()

    def finish(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """The response on its way out, still inside `around`."""
        return response

    async def afinish(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return self.finish(request, response)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        answered = self.before(request)
        if answered is not None:
            return answered
        with self.around(request):
            return self.finish(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        answered = self.before(request)
        if answered is not None:
            return answered
        with self.around(request):
            return await self.afinish(request, await self.get_response(request))


class StaticFiles(BothModes):
    """WhiteNoise, which is sync only, in both modes: a static file is answered at once by WhiteNoise's
    own lookup and response (no I/O but opening the file); any other request goes on in the mode of
    the chain."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        super().__init__(get_response)
        self.whitenoise = WhiteNoiseMiddleware()  # its files, read from the settings as it always does

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        files = self.whitenoise
        found = files.find_file(request.path_info) if files.autorefresh else files.files.get(request.path_info)
        return files.serve(found, request) if found is not None else None


class InLoop:
    """For a Django middleware (MiddlewareMixin) whose `process_request` and `process_response` do no I/O:
    in the async chain they run in the event loop, not each in a thread and back.

    Only for hooks that set headers or attributes: a database query in the loop would raise
    SynchronousOnlyOperation (Django's guard), and other I/O would hold every stream of the process.
    `process_view` hooks are left as Django adapts them (the sync chain calls them too).
    """

    get_response: Callable[[HttpRequest], Any]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        process_request = getattr(self, "process_request", None)
        process_response = getattr(self, "process_response", None)
        response = process_request(request) if process_request is not None else None
        response = response or await self.get_response(request)
        return process_response(request, response) if process_response is not None else response
