"""The request types views are annotated with: an HttpRequest with what this project's middleware adds.

Annotations only (mypy); at run time every request is Django's own.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxRequest(HttpRequest):
    """Any request: django-htmx's `request.htmx` (HtmxMiddleware) tells a fragment fetch from a page load."""

    htmx: HtmxDetails


class SignedInRequest(HtmxRequest):
    """A request to a view behind `login_required` (or `staff_required`): `request.user` is a signed-in user."""

    user: User
