"""The page's banners (demo mode, no API key, a model retiring): each can be dismissed, remembered per banner.

A banner's key names what it says (a retirement's key holds the model and its date), so a new notice shows
again. The keys dismissed live in a cookie: the server leaves those banners out, with or without JavaScript.
The × is a form: htmx posts it and removes the banner in place; without htmx it posts and comes back.
"""

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

COOKIE = "aimlweb_banners"
KEPT = 20  # the newest keys dismissed; older ones fall off (their notices are long gone)
KEY = re.compile(r"[a-z0-9-]{1,64}")


def dismissed(request: HttpRequest) -> frozenset[str]:
    """The keys of the banners this browser dismissed."""
    return frozenset(key for key in request.COOKIES.get(COOKIE, "").split(".") if KEY.fullmatch(key))


@login_required
@require_POST
def banner_dismiss(request: HttpRequest) -> HttpResponse:
    key = request.POST.get("banner", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponse() if request.headers.get("HX-Request") else redirect(target)
    if KEY.fullmatch(key):
        keys = [k for k in request.COOKIES.get(COOKIE, "").split(".") if KEY.fullmatch(k) and k != key]
        response.set_cookie(
            COOKIE,
            ".".join([*keys, key][-KEPT:]),
            max_age=365 * 86400,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response
