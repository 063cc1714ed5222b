"""Every middleware runs in the chain's own mode (aimlweb/middleware.py): in Django's async chain (the
coroutine views, aimlweb/handlers.py) a request does not switch to a thread and back at a sync-only one."""

import asyncio
import logging

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory

from aimlweb.middleware import StaticFiles

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("async_connections_closed")]


def test_no_middleware_makes_django_switch_modes_under_asgi(caplog):
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    adapted = [r.getMessage() for r in caplog.records if "adapted for middleware" in r.getMessage()]
    assert adapted == []  # before: "Asynchronous handler adapted for middleware accounts...NoStoreMiddleware"


def test_under_asgi_a_signed_in_page_gets_its_request_id_and_is_never_stored(alice):
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        page = await client.get("/", headers={"X-Request-ID": "from-the-proxy-1"})
        events = await client.get("/events/")  # an async view: sets its own Cache-Control
        return page, events

    page, events = asyncio.run(scenario())
    assert page.status_code == 200 and page["X-Request-ID"] == "from-the-proxy-1"
    assert "no-store" in page["Cache-Control"] and "private" in page["Cache-Control"]
    assert "no-store" in events["Cache-Control"] and len(events["X-Request-ID"]) == 32


def test_static_files_are_answered_as_a_coroutine_and_anything_else_goes_on(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = False
    seen = []

    async def rest_of_the_chain(request):
        seen.append(request.path)
        return HttpResponse("page")

    middleware = StaticFiles(rest_of_the_chain)
    assert asyncio.iscoroutinefunction(middleware)
    factory = RequestFactory()
    static = asyncio.run(middleware(factory.get("/static/js/live.js")))
    page = asyncio.run(middleware(factory.get("/c/")))
    assert static.status_code == 200 and "javascript" in static["Content-Type"]
    assert b"".join(static.streaming_content if static.streaming else [static.content])
    assert page.content == b"page" and seen == ["/c/"]
