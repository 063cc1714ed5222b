"""Email: every notice is written once as an `EmailNotice` (the outbox), then the worker hands it to the mail
server (accounts/tasks.py `email_send_task`: on a `Sender` thread of its own, so a slow server never holds
the consumer threads that start answers; tried again after 1, 2, 4 ... minutes while the server is down or
refuses, through Huey's schedule, which outlives a restart).

Nothing here runs inside an answer's work: a notice is written by a task after the answer is stored, and
sending it is another task, so a mail server that is down or slow never touches a turn.

- Settings: EMAIL_URL (unset: off, except with DEBUG, where emails are printed), DEFAULT_FROM_EMAIL, and
  SITE_URL for the links (`site_link`).
- The text is plain (templates `<name>.txt`, rendered without HTML escaping), with an HTML alternative
  (`<name>.html`, escaped by Django's templates as any page).
- Headers: the subject is one line of printable text (`one_line`: control characters, CR and LF among them,
  become spaces), so a conversation's title can never add a header; addresses come from validated fields.
"""

from __future__ import annotations

import logging
import queue
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from . import setup
from .models import EmailNotice

logger = logging.getLogger(__name__)

SUBJECT_CHARS = 150
# Outcomes of email_send.
SENT, RETRY, GIVEN_UP, SKIPPED = "sent", "retry", "given up", "skipped"
# A mail server that is down or refuses: tried again after 1, 2, 4 ... minutes (at most an hour apart),
# EMAIL_ATTEMPTS times in all (about nine hours), then left unsent (admin > Email notices shows why).
EMAIL_ATTEMPTS = 12
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 3600
IDLE_SECONDS = 5.0  # a sender thread's connection to the mail server is closed after this long unused
PRUNE_BATCH = 1000  # sent emails deleted at most per sweep (emails_prune)


def enabled() -> bool:
    """Whether the site sends email: EMAIL_URL is set, or DEBUG (printed to the console)."""
    return bool(settings.EMAIL_ENABLED)


def site_link(path: str) -> str:
    """An absolute link to a page of the site (SITE_URL, else the address the setup link uses)."""
    return setup.site_url() + path


def one_line(text: str, limit: int = SUBJECT_CHARS) -> str:
    """`text` as one header-safe line: control and separator characters (CR, LF, NUL, tab, U+2028...)
    become spaces, runs of spaces one, cut to `limit` characters."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    line = " ".join(cleaned.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def address_of(user: User) -> str:
    """The user's address, or "" when email is off or they have none."""
    return user.email.strip() if enabled() and user.email else ""


@dataclass(frozen=True)
class Draft:
    """The email of one event: `kind` + `key` make it once (a turn's attempt, a user's month...), its subject,
    its templates (`<template>.txt`, `<template>.html`) and their context. `secret`: its text is emptied
    once sent (a password reset link)."""

    kind: str
    key: str
    subject: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    secret: bool = False


def email_create(*, draft: Draft, user: User) -> EmailNotice | None:
    """Write the email of one event to `user`, once: None if `(kind, key)` was written before (by any
    process), or if the user has no address or email is off. The caller queues it on commit
    (accounts/notices.py)."""
    to = address_of(user)
    if not to or EmailNotice.objects.filter(kind=draft.kind, key=draft.key).exists():
        return None
    context = {"user": user, **draft.context, "site_url": site_link(""), "account_url": site_link("/account/")}
    try:
        with transaction.atomic():
            return EmailNotice.objects.create(
                kind=draft.kind,
                key=draft.key[:200],
                user=user,
                to=to,
                subject=one_line(draft.subject),
                body=render_to_string(f"{draft.template}.txt", context),
                html=render_to_string(f"{draft.template}.html", context),
                secret=draft.secret,
            )
    except IntegrityError:  # written meanwhile by another process
        return None


@dataclass(frozen=True)
class Outcome:
    status: str  # SENT, RETRY, GIVEN_UP or SKIPPED
    retry_in: int = 0  # RETRY: seconds before the next attempt


def email_send(*, email_id: int, smtp: BaseEmailBackend | None = None) -> Outcome:
    """Hand one email to the mail server (over `smtp`, a connection kept open for several, or a new one).
    SENT; or RETRY (the server is down, slow or refused it: noted on the row and logged; the caller sends
    it again in `retry_in` seconds); GIVEN_UP after EMAIL_ATTEMPTS; or SKIPPED when it was sent already (or
    is gone).
    """
    email = EmailNotice.objects.filter(pk=email_id, sent_at__isnull=True).first()
    if email is None:
        return Outcome(SKIPPED)
    message = EmailMultiAlternatives(
        subject=one_line(email.subject),
        body=email.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        headers={"Auto-Submitted": "auto-generated"},
        connection=smtp,
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    try:
        message.send()
    except Exception as exc:
        if smtp is not None:
            _close(smtp)  # the next email opens a fresh connection
        attempts = email.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:300]
        EmailNotice.objects.filter(pk=email.pk).update(attempts=attempts, error=error)
        if attempts >= EMAIL_ATTEMPTS:
            logger.error("email %s (%s, user %s): not sent after %s attempts, given up: %s", email.pk, email.kind,
                         email.user_id, attempts, error)  # fmt: skip
            return Outcome(GIVEN_UP)
        logger.warning("email %s (%s, user %s): sending failed (attempt %s), again in %s s: %s", email.pk,
                       email.kind, email.user_id, attempts, retry_delay(attempts), error)  # fmt: skip
        return Outcome(RETRY, retry_delay(attempts))
    cleared = {"body": "", "html": ""} if email.secret else {}
    EmailNotice.objects.filter(pk=email.pk).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1, error="", **cleared
    )
    logger.info("email %s (%s, user %s) sent, %.1f s after it was written", email.pk, email.kind, email.user_id,
                (timezone.now() - email.created_at).total_seconds())  # fmt: skip
    return Outcome(SENT)


def emails_prune(*, now: datetime | None = None) -> int:
    """Delete sent emails older than OUTBOX_KEEP_DAYS (by when they were sent), at most PRUNE_BATCH at a time
    (a backlog goes over the next sweeps, never in one long write); returns how many. Unsent ones stay
    (retrying, or given up: the admin sees why). So does anything written this month (local time): an
    email's row is what makes it once (`email_create`), and a budget notice is once per month.
    """
    now = now or timezone.now()
    month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    old = EmailNotice.objects.filter(
        sent_at__lt=now - timedelta(days=settings.OUTBOX_KEEP_DAYS), created_at__lt=month
    ).order_by("sent_at")
    ids = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
    deleted = EmailNotice.objects.filter(pk__in=ids).delete()[0] if ids else 0
    if deleted:
        logger.info("outbox: %s sent email(s) older than %s days deleted", deleted, settings.OUTBOX_KEEP_DAYS)
    return deleted


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones: 1, 2, 4 ... minutes, at most an hour."""
    return min(RETRY_FIRST_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)


def emails_send(*, email_ids: list[int], on_retry: Callable[[int, int], object]) -> list[Outcome]:
    """Hand these emails to the mail server over one connection; `on_retry(email_id, seconds)` for each to
    send again later."""
    smtp = get_connection()
    outcomes = []
    try:
        for email_id in email_ids:
            outcome = email_send(email_id=email_id, smtp=smtp)
            if outcome.status == RETRY:
                on_retry(email_id, outcome.retry_in)
            outcomes.append(outcome)
    finally:
        _close(smtp)
    return outcomes


def _close(smtp: BaseEmailBackend) -> None:
    try:
        smtp.close()
    except Exception:  # a connection that broke: nothing to keep
        logger.debug("closing the mail server connection failed", exc_info=True)


class Sender:
    """EMAIL_THREADS threads that hand emails to the mail server (started with the first email; idle, they
    wait on the queue and cost nothing), so a slow or stuck server holds one of them, never one of the
    worker's consumer threads (which start answers). Each keeps its connection while emails keep coming
    (no new TLS handshake for each), and closes it after IDLE_SECONDS without one."""

    def __init__(self, on_retry: Callable[[int, int], object]) -> None:
        self.on_retry = on_retry
        self._ids: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._threads: list[threading.Thread] = []

    def submit(self, email_id: int) -> None:
        self._ids.put(email_id)
        with self._start:
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._run, name=f"email-{n + 1}", daemon=True)
                    for n in range(settings.EMAIL_THREADS)
                ]
                for thread in self._threads:
                    thread.start()

    def _run(self) -> None:
        smtp: BaseEmailBackend | None = None
        while True:
            try:
                email_id = self._ids.get(timeout=IDLE_SECONDS if smtp is not None else None)
            except queue.Empty:
                _close(cast(BaseEmailBackend, smtp))
                smtp = None
                continue
            smtp = smtp or get_connection()
            try:
                outcome = email_send(email_id=email_id, smtp=smtp)
                if outcome.status == RETRY:
                    self.on_retry(email_id, outcome.retry_in)
            except Exception:
                logger.exception("email %s: sending failed", email_id)
            finally:
                connection.close()
