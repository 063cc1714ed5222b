"""Email: every notice is written once as an `EmailNotice` (the outbox), then the worker hands it to the mail
server (accounts/tasks.py `email_send_task`: on a `Sender` thread of its own, so a slow server never holds
the consumer threads that start answers; tried again after 1, 2, 4 ... minutes while the server is down or
refuses, through Huey's schedule, which outlives a restart). A sender thread takes the emails waiting in a
batch: one read, one connection kept open from one batch to the next, one write marking them sent.

Nothing here talks to the mail server inside an answer's work: an answer's email is drawn before the
transaction that stores the answer (`email_draw`) and only saved in it (`email_write`); sending it is the
sender threads', so a mail server that is down or slow never touches a turn.

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
import smtplib
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
# Outcomes of sending one email (emails_send).
SENT, RETRY, GIVEN_UP, SKIPPED = "sent", "retry", "given up", "skipped"
# A mail server that is down or refuses: tried again after 1, 2, 4 ... minutes (at most an hour apart),
# EMAIL_ATTEMPTS times in all (about nine hours), then left unsent (admin > Email notices shows why).
EMAIL_ATTEMPTS = 12
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 3600
IDLE_SECONDS = 5.0  # a sender thread's connection to the mail server is closed after this long unused
SEND_BATCH = 50  # most emails a sender thread takes from its queue at once (one read, one connection, one write)
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


def email_written(*, kind: str, key: str) -> bool:
    """Whether the email of this event was written already (by any process)."""
    return EmailNotice.objects.filter(kind=kind, key=key[:200]).exists()


def email_draw(*, draft: Draft, user: User) -> EmailNotice | None:
    """The email of one event to `user`, rendered but not saved (`email_write` saves it): None if the user
    has no address or email is off. Drawn outside any transaction, a transaction need only save it."""
    to = address_of(user)
    if not to:
        return None
    context = {"user": user, **draft.context, "site_url": site_link(""), "account_url": site_link("/account/")}
    return EmailNotice(
        kind=draft.kind,
        key=draft.key[:200],
        user=user,
        to=to,
        subject=one_line(draft.subject),
        body=render_to_string(f"{draft.template}.txt", context),
        html=render_to_string(f"{draft.template}.html", context),
        secret=draft.secret,
    )


def email_write(*, email: EmailNotice) -> EmailNotice | None:
    """Save a drawn email, once: None if its `(kind, key)` was written before (by any process)."""
    if email_written(kind=email.kind, key=email.key):
        return None
    email.created_at = timezone.now()  # written now (it may have been drawn a moment ago)
    try:
        with transaction.atomic():
            email.save(force_insert=True)
            return email
    except IntegrityError:  # written meanwhile by another process
        return None


def email_create(*, draft: Draft, user: User) -> EmailNotice | None:
    """Write the email of one event to `user`, once: None if `(kind, key)` was written before (by any
    process), or if the user has no address or email is off. The caller queues it on commit
    (accounts/notices.py)."""
    if not address_of(user) or email_written(kind=draft.kind, key=draft.key):
        return None
    email = email_draw(draft=draft, user=user)
    return email_write(email=email) if email is not None else None


@dataclass(frozen=True)
class Outcome:
    status: str  # SENT, RETRY, GIVEN_UP or SKIPPED
    retry_in: int = 0  # RETRY: seconds before the next attempt


def emails_send(
    *,
    email_ids: list[int],
    on_retry: Callable[[int, int], object],
    smtp: BaseEmailBackend | None = None,
    on_sent: Callable[[list[EmailNotice]], object] | None = None,
) -> list[Outcome]:
    """Hand these emails to the mail server over one connection (`smtp`, kept open by a sender thread from
    one batch to the next, or a new one, closed after), read in one query; the sent ones are marked in one
    write (`emails_mark_sent`), here or by `on_sent` (the sender threads' marker, so that sending never waits for
    the database's write lock).

    Each: SENT; RETRY (the server is down, slow or refused it: noted on the row and logged, and
    `on_retry(email_id, seconds)` is called to send it again later); GIVEN_UP after EMAIL_ATTEMPTS; or
    SKIPPED when it was sent already (or is gone).
    """
    ids = list(dict.fromkeys(email_ids))
    emails = {email.pk: email for email in EmailNotice.objects.filter(pk__in=ids, sent_at__isnull=True)}
    own = smtp is None
    backend = smtp if smtp is not None else get_connection()
    outcomes: list[Outcome] = []
    sent: list[EmailNotice] = []
    try:
        for email_id in ids:
            email = emails.get(email_id)
            outcome = _send(email, backend) if email is not None else Outcome(SKIPPED)
            if email is not None and outcome.status == SENT:
                sent.append(email)
            elif outcome.status == RETRY:
                on_retry(email_id, outcome.retry_in)
            outcomes.append(outcome)
    finally:
        try:
            if on_sent is not None:
                if sent:
                    on_sent(sent)
            else:
                emails_mark_sent(emails=sent)
        finally:
            if own:
                _close(backend)
    return outcomes


def _send(email: EmailNotice, smtp: BaseEmailBackend) -> Outcome:
    """Hand one email over `smtp`; a failure is noted on the row (SENT ones are marked by the caller)."""
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
        _deliver(message, smtp)
    except Exception as exc:
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
    return Outcome(SENT)


def _deliver(message: EmailMultiAlternatives, smtp: BaseEmailBackend) -> None:
    """Send over `smtp`, opened first so that it stays open for the next message (Django's SMTP backend
    closes a connection its `send` had to open itself). A connection kept from earlier messages that the
    server dropped meanwhile (its idle timeout) is opened again, once, before this counts as a failure."""
    kept = smtp.open() is False  # False: it was open already (SMTP); True: opened now; None: no connection
    try:
        message.send()
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        if not kept:
            raise
        _close(smtp)
        smtp.open()
        message.send()


def emails_mark_sent(*, emails: list[EmailNotice]) -> None:
    """Note the emails the server took, in one write (a secret one's text emptied)."""
    if not emails:
        return
    now = timezone.now()
    with transaction.atomic():
        for secret in (False, True):
            cleared = {"body": "", "html": ""} if secret else {}
            EmailNotice.objects.filter(pk__in=[email.pk for email in emails if email.secret == secret]).update(
                sent_at=now, attempts=F("attempts") + 1, error="", **cleared
            )
    for email in emails:
        logger.info("email %s (%s, user %s) sent, %.1f s after it was written", email.pk, email.kind, email.user_id,
                    (now - email.created_at).total_seconds())  # fmt: skip


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


def _close(smtp: BaseEmailBackend) -> None:
    try:
        smtp.close()
    except Exception:  # a connection that broke: nothing to keep
        logger.debug("closing the mail server connection failed", exc_info=True)


class Sender:
    """EMAIL_THREADS threads that hand emails to the mail server (started with the first email; idle, they
    wait on the queue and cost nothing), so a slow or stuck server holds one of them, never one of the
    worker's consumer threads (which start answers). A thread takes its share of the emails waiting (up to
    SEND_BATCH) at once, read in one query and sent over its connection, which it keeps open while emails
    keep coming (no new connection, nor TLS handshake, for each) and closes after IDLE_SECONDS without one.
    One more thread, the marker, notes what was sent (`emails_mark_sent`, one write for all that is waiting), so
    a sender never waits for the database's write lock, which a burst of answers being stored holds."""

    def __init__(self, on_retry: Callable[[int, int], object]) -> None:
        self.on_retry = on_retry
        self._ids: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._sent: queue.SimpleQueue[list[EmailNotice]] = queue.SimpleQueue()
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
                self._threads.append(threading.Thread(target=self._mark, name="email-sent", daemon=True))
                for thread in self._threads:
                    thread.start()

    def _take(self, first: int) -> list[int]:
        """`first` and this thread's even share of what waits (the other threads take theirs: a slow mail
        server is still written to over every connection at once), at most SEND_BATCH."""
        share = -(-self._ids.qsize() // settings.EMAIL_THREADS)
        batch = [first]
        while len(batch) < min(SEND_BATCH, 1 + share):
            try:
                batch.append(self._ids.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        smtp: BaseEmailBackend | None = None
        while True:
            try:
                first = self._ids.get(timeout=IDLE_SECONDS if smtp is not None else None)
            except queue.Empty:
                _close(cast(BaseEmailBackend, smtp))
                smtp = None
                continue
            batch = self._take(first)
            smtp = smtp or get_connection()
            try:
                emails_send(email_ids=batch, on_retry=self.on_retry, smtp=smtp, on_sent=self._sent.put)
            except Exception:
                logger.exception("emails %s: sending failed", batch)
            finally:
                connection.close()

    def _mark(self) -> None:
        while True:
            sent = self._sent.get()
            while not self._sent.empty():
                sent += self._sent.get_nowait()
            try:
                emails_mark_sent(emails=sent)
            except Exception:
                logger.exception("emails %s: sent, but could not be noted as sent", [email.pk for email in sent])
            finally:
                connection.close()
