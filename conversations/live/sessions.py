"""Whether the sign-ins of a process's open streams still hold: one read for all of them.

Each stream used to re-read its own session every LIVE_EVENTS_SESSION_CHECK_SECONDS, a hop to the
request thread and two queries each: with 1,000 streams open that was 200 checks a second, most of
a core spent while pages only waited. The watcher (changes.py) now asks here for every stream of
its process at once, in its own thread and connection, once per LIVE_EVENTS_SESSION_CHECK_SECONDS.
A user's tabs share one session, so a session is read once however many of its pages are open.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from types import SimpleNamespace
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

SignIn = tuple[str | None, int]  # (session key, user id) of a stream


def sign_in_holds(session_key: str | None, user_id: int) -> bool:
    """Whether this sign-in still holds: its session exists and is unexpired (not signed out, nor
    ended by "Sign out everywhere"), the password it was made with is unchanged, the user active.

    Read fresh from the session store, by Django's own rule, as a new request would
    (django.contrib.auth.get_user reads nothing of a request but its session).
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(cast(HttpRequest, SimpleNamespace(session=store)))
    return user.is_authenticated and user.pk == user_id


def sign_ins_holding(sign_ins: Iterable[SignIn]) -> set[SignIn]:
    """Those of `sign_ins` that still hold, each distinct one read once."""
    return {sign_in for sign_in in set(sign_ins) if sign_in_holds(*sign_in)}
