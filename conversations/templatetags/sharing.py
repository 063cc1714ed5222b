"""The sign-in page's word about a share link: who shared which conversation, when `next` is a live share."""

from urllib.parse import urlsplit

from django import template
from django.urls import Resolver404, resolve

from conversations.history import sharing
from conversations.models import Share

register = template.Library()


@register.simple_tag
def share_behind(next_url: str) -> Share | None:
    """The live share that `next_url` (the sign-in page's `next`) opens, else None (revoked and unknown alike)."""
    if not next_url:
        return None
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return None
    if match.url_name != "share":
        return None
    try:
        return sharing.share_named(token=match.kwargs["token"])
    except Share.DoesNotExist:
        return None
