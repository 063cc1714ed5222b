"""Reads done once per request: reference data that several parts of one page read.

A conversation page asks for its model's catalogue row five times (the composer, the settings
form, the successor offer, the files it takes, the estimate) and a send asks for the default model
twice: each a query. Within one request such a read is memoised; outside a request (the worker, the
live watcher, a management command, a test calling a selector) every call reads afresh.

Only reads whose answer cannot change within the request they serve belong here (the catalogue is
edited in the admin, whose save ends its request). The memo is a context variable, set by
`RequestMemoMiddleware` for the request's duration: each request, in its own thread or task, has
its own, and a streamed response's body (read after the middleware returned) reads afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import ParamSpec, TypeVar

from django.http import HttpRequest

from aimlweb.middleware import BothModes

P = ParamSpec("P")
R = TypeVar("R")

_memo: ContextVar[dict[Hashable, object] | None] = ContextVar("request_memo", default=None)


def memoised(function: Callable[P, R]) -> Callable[P, R]:
    """`function`'s result, read once per request for the same (hashable) arguments."""

    @wraps(function)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _memo.get()
        if memo is None:
            return function(*args, **kwargs)
        key = (function, args, tuple(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = function(*args, **kwargs)
        return memo[key]  # type: ignore[return-value]  # stored by this very function

    return read


class RequestMemoMiddleware(BothModes):
    """Gives each request a memo of its own, dropped when its response is made."""

    @contextmanager
    def around(self, request: HttpRequest) -> Iterator[None]:
        token = _memo.set({})
        try:
            yield
        finally:
            _memo.reset(token)
