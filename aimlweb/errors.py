"""The 500 page (handler500): drawn from error_base.html like the 400, 403 and 404 pages, and, when
even that fails (the error may be in templates or static files themselves), a page that needs nothing."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

logger = logging.getLogger(__name__)

BARE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong · aimlweb</title>'
    '</head><body><main><p class="error-code">500</p><h1>Something went wrong on our side</h1>'
    "<p>The error was logged for the administrators. Your prompts and answers are stored: going back and "
    'trying again usually works.</p><p><a href="/">Back to your chats</a></p></main></body></html>'
)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponseServerError(loader.render_to_string("500.html"))
    except Exception:
        logger.exception("the 500 page could not be drawn; the bare one was sent")
        return HttpResponseServerError(BARE)
