"""Django's own middleware (and django-csp's) whose hooks do no I/O, run in the event loop under ASGI.

Read in Django 5.2 and django-csp 4.0: each sets headers, decides a redirect from the request alone, or
sets lazy attributes (the user, the messages' storage, the CSP nonce), read later where they are used.
The session and CSRF middleware stay Django's: they may write the session. So do the security and
X-Frame-Options ones, which `manage.py check --deploy` looks for by name. See aimlweb/middleware.py InLoop.
"""

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.middleware.common import CommonMiddleware

from aimlweb.middleware import InLoop


class Common(InLoop, CommonMiddleware):
    pass


class Authentication(InLoop, AuthenticationMiddleware):
    pass


class Messages(InLoop, MessageMiddleware):
    """`process_response` stores messages only when some were read or added (a stream does neither)."""


class ContentSecurityPolicy(InLoop, CSPMiddleware):
    pass
