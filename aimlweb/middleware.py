"""Middleware that runs in the web server's own mode: no switch between the event loop and a thread.

Under ASGI (gunicorn.conf.py) Django calls each middleware as a coroutine, as long as it can be
one; a sync-only middleware in the chain makes it hand the request to a thread there and back
through the event loop again below it, for every request (django.request logs "Asynchronous
handler adapted for middleware ..."). With 1,000 pushed streams on the same event loop, those
switches queued behind each other. Every middleware of MIDDLEWARE is now both sync and async
capable, so a request leaves the event loop only for its (sync) view, as Django's docs advise.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware


class BothModes:
    """A middleware written once for both modes: `around` the rest of the chain, then `finish`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def around(self, request: HttpRequest) -> AbstractContextManager[object]:
        """What holds while the request is inside (a context variable set, say)."""
        return nullcontext()

    def finish(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """The response on its way out, still inside `around`."""
        return response

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        with self.around(request):
            return self.finish(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        with self.around(request):
            return self.finish(request, await self.get_response(request))


class StaticFiles(WhiteNoiseMiddleware):
    """WhiteNoise, which is sync only, in both modes: a static file is answered at once (WhiteNoise's
    own lookup and response, no I/O but opening the file); any other request goes on in the mode of
    the chain."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)
