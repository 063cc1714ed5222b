"""Private pages are never cached; no NUL reaches a query; the client address for sign-in throttling."""

import ipaddress

from django.conf import settings
from django.http import QueryDict
from django.utils.cache import add_never_cache_headers

from aimlweb.middleware import BothModes


class NoStoreMiddleware(BothModes):
    """`Cache-Control: no-store` on every page the app renders (static files never get here:
    whitenoise answers them earlier), so a shared computer's back button or a proxy keeps no
    copy of a conversation."""

    def before(self, request):
        if "%00" in request.META.get("QUERY_STRING", ""):
            # A NUL in a query parameter (a search, a cursor) is never meaningful, and PostgreSQL
            # refuses it in any query (a 500). Forms already refuse it with a message.
            cleaned = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                cleaned.setlist(key.replace("\x00", ""), [value.replace("\x00", "") for value in values])
            request.GET = cleaned
        return None

    def finish(self, request, response):
        user = getattr(request, "user", None)
        return _keep_private(response, "Cache-Control" in response and user is not None and user.is_authenticated)

    async def afinish(self, request, response):
        # The user is read only when it decides (request.user would read it in the event loop).
        signed_in = (
            "Cache-Control" in response and hasattr(request, "auser") and (await request.auser()).is_authenticated
        )
        return _keep_private(response, signed_in)


def _keep_private(response, signed_in: bool):
    """A response that set no caching of its own, or any for a signed-in user, is never stored."""
    if "Cache-Control" not in response or signed_in:
        add_never_cache_headers(response)  # no-store, no-cache, private, max-age=0
    return response


def client_ip(request) -> str:
    """The client's address for the sign-in throttle.

    The peer's address, unless the peer is one of TRUSTED_PROXIES: then X-Forwarded-For is read
    from the right (each proxy appends the address it saw; a client can prepend anything), past
    our own proxies, to the first address no proxy of ours has. Never a value that is not an address.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if not _is_proxy(address):
        return address
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed([hop.strip() for hop in hops if hop.strip()]):
        if _address(hop) is None:
            return address  # not written by a proxy of ours: the last address one of them saw
        address = hop
        if not _is_proxy(hop):
            return hop
    return address


def _address(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_proxy(text: str) -> bool:
    ip = _address(text)
    return ip is not None and any(ip in network for network in settings.TRUSTED_PROXIES)


def axes_username(request, credentials) -> str:
    """The user name django-axes records: without NUL and within its 255-character column
    (PostgreSQL refuses both: a 500 on the sign-in page otherwise)."""
    source = credentials if credentials else getattr(request, "POST", {})
    # django-axes gives the setting its default when it loads (axes.conf), unseen by the settings plugin.
    username = source.get(settings.AXES_USERNAME_FORM_FIELD, "") or ""  # type: ignore[misc]
    return str(username).replace("\x00", "")[:255]
