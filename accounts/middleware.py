"""Private pages are never cached; no NUL reaches a query; the client address for sign-in throttling."""

from django.conf import settings
from django.http import QueryDict
from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every page the app renders (static files never get here:
    whitenoise answers them earlier), so a shared computer's back button or a proxy keeps no
    copy of a conversation."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", ""):
            # A NUL in a query parameter (a search, a cursor) is never meaningful, and PostgreSQL
            # refuses it in any query (a 500). Forms already refuse it with a message.
            cleaned = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                cleaned.setlist(key.replace("\x00", ""), [value.replace("\x00", "") for value in values])
            request.GET = cleaned
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if "Cache-Control" not in response or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)  # no-store, no-cache, private, max-age=0
        return response


def client_ip(request) -> str:
    """The peer address, or with TRUSTED_PROXY_COUNT proxies in front, the address the outermost
    one saw (counted from the right of X-Forwarded-For: a client can prepend anything)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR", "")


def axes_username(request, credentials) -> str:
    """The user name django-axes records: without NUL and within its 255-character column
    (PostgreSQL refuses both: a 500 on the sign-in page otherwise)."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = source.get(settings.AXES_USERNAME_FORM_FIELD, "") or ""
    return str(username).replace("\x00", "")[:255]
