"""The first-administrator setup link, printed at start-up while no administrator exists.

As Jupyter prints its token URL: whoever can read the server's output (the person
who ran `make run`, or the host's logs) can create the first administrator; a
visitor who merely reaches the site first cannot. The client address is never
trusted for this (behind a proxy every request comes from 127.0.0.1).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import FirstAdminSetup

logger = logging.getLogger(__name__)


class SetupClosed(Exception):
    message = "An administrator already exists: this setup link no longer works. Sign in instead."


def admin_exists() -> bool:
    return get_user_model().objects.filter(is_superuser=True, is_active=True).exists()


def _token(nonce: str) -> str:
    return salted_hmac("accounts.first-admin-setup", nonce, algorithm="sha256").hexdigest()[:40]


def _row() -> FirstAdminSetup:
    try:
        return FirstAdminSetup.objects.get_or_create(singleton=1)[0]
    except IntegrityError:  # two processes started together: the other one made it
        return FirstAdminSetup.objects.get(singleton=1)


def setup_token() -> str | None:
    """The current setup token, or None once an administrator exists."""
    if admin_exists():
        return None
    row = _row()
    return None if row.claimed_at else _token(row.nonce)


def check_token(token: str) -> bool:
    expected = setup_token()
    if not expected:
        return False
    return constant_time_compare(expected, token)


def setup_url() -> str:
    token = setup_token()
    if token is None:
        return ""
    return site_url() + reverse("first_admin_setup", args=[token])


def site_url() -> str:
    if settings.SITE_URL:
        return settings.SITE_URL
    host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*", "") and not h.startswith(".")), "127.0.0.1")
    if settings.HTTPS_ONLY:
        return f"https://{host}"
    return f"http://{host}:{settings.PORT}"


def announce(stream=None) -> str:
    """Print the setup link when no administrator exists (called as the web process starts)."""
    stream = stream or sys.stderr
    try:
        url = setup_url()
    except DatabaseError:  # not migrated yet: `make run` migrates first, so this is a manual start
        logger.warning("could not check for an administrator (run `manage.py migrate`)")
        return ""
    if url:
        bar = "=" * 72
        print(
            f"\n{bar}\nNo administrator yet. Open this one-time link to create the first one:\n\n"
            f"    {url}\n\n(or run `python manage.py createsuperuser`). Only this link can make the\n"
            f"first administrator; it stops working once one exists.\n{bar}\n",
            file=stream,
            flush=True,
        )
    return url


def claim(*, token: str, create_user: Callable[[], User]) -> User:
    """Create the first administrator with `create_user()`, once, whoever races for it.

    The conditional UPDATE of the single setup row is the lock: on PostgreSQL a
    second claimer blocks on the row, then sees it claimed; on SQLite the write
    transaction (IMMEDIATE) serialises them. Raises SetupClosed for the loser.
    """
    if not check_token(token):
        raise SetupClosed
    with transaction.atomic():
        if not FirstAdminSetup.objects.filter(singleton=1, claimed_at__isnull=True).update(claimed_at=timezone.now()):
            raise SetupClosed
        if admin_exists():  # createsuperuser ran meanwhile
            raise SetupClosed
        user = create_user()
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        FirstAdminSetup.objects.filter(singleton=1).update(claimed_by=user)
    logger.info("first administrator %r created with the setup link", user.get_username())
    return user
