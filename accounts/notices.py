"""Email notices: each written once (accounts/mail.py) and queued for the worker when its transaction commits.

The accounts' own: a new pending sign-up (to the administrators, with a link to approve it), an approved
sign-up (to the user), a password reset link. conversations/notices/ writes the answers' and budgets'
through `notice_queue` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from . import mail, tasks
from .models import EmailNotice, EmailPreference, PendingSignup

TEMPLATE_PENDING = "accounts/email/signup_pending"
# At most one password reset email per user in this time.
RESET_EMAIL_EVERY = timedelta(minutes=5)


def notice_queue(*, draft: mail.Draft, user: User, in_worker: bool = False) -> EmailNotice | None:
    """Write the email of one event for `user` (once per `kind` + `key`) and send it once committed: by the
    worker's task, or `in_worker` (a task of the worker writes it) by its sender threads at once.

    None when it was written before, or the user has no address, or email is off.
    """
    return _send_on_commit(mail.email_create(draft=draft, user=user), in_worker)


def notice_write(*, email: EmailNotice, in_worker: bool = False) -> EmailNotice | None:
    """`notice_queue` for an email drawn already (mail.email_draw, outside the transaction): written once,
    sent once committed. None when it was written before."""
    return _send_on_commit(mail.email_write(email=email), in_worker)


def _send_on_commit(email: EmailNotice | None, in_worker: bool) -> EmailNotice | None:
    if email is not None:
        send = tasks.email_send_soon if in_worker else tasks.email_send_task
        email_id = email.pk
        # Robust: a failure to hand it over is logged, never raised into the committed work (an answer's
        # transaction: worker._finish would take it for a failure to store the answer). It stays unsent.
        transaction.on_commit(lambda: send(email_id), robust=True)
    return email


def admins() -> QuerySet[User]:
    """Who gets the administrators' notices: active staff with an address."""
    return get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").order_by("pk")


def answer_emails_wanted(user: User) -> bool:
    """The user's "Email me when an answer is done" (on unless they turned it off)."""
    preference = EmailPreference.objects.filter(user_id=user.pk).first()
    return preference is None or preference.answer_done


def answer_emails_on(user: User) -> bool:
    """Whether an answer's notice goes to `user`: email is on, they have an address, and want it."""
    return bool(mail.address_of(user)) and answer_emails_wanted(user)


def signup_pending_notify(*, pending: PendingSignup) -> int:
    """Tell each administrator of a sign-up waiting for approval; returns how many emails were written."""
    user = pending.user
    approve = mail.site_link(reverse("admin:accounts_pendingsignup_changelist"))
    written = 0
    subject = f"New sign-up waiting for approval: {user.get_username()}"
    context = {"applicant": user, "approve_url": approve}
    for admin in admins():
        key = f"{pending.pk}:{admin.pk}"
        written += bool(
            notice_queue(draft=mail.Draft("signup_pending", key, subject, TEMPLATE_PENDING, context), user=admin)
        )
    return written


def signup_approved_notify(*, users: Iterable[User]) -> int:
    """Tell each newly approved user that they can sign in."""
    written = 0
    context = {"login_url": mail.site_link(reverse("login"))}
    for user in users:
        draft = mail.Draft("signup_approved", str(user.pk), "Your aimlweb account is approved",
                           "accounts/email/signup_approved", context)  # fmt: skip
        written += bool(notice_queue(draft=draft, user=user))
    return written


def password_reset_notify(*, user: User) -> EmailNotice | None:
    """Email `user` a link to choose a new password (Django's reset token: it works once, for
    PASSWORD_RESET_TIMEOUT, and not after the password changed). The stored text is emptied once sent."""
    since = timezone.now() - RESET_EMAIL_EVERY
    if EmailNotice.objects.filter(kind="password_reset", user_id=user.pk, created_at__gte=since).exists():
        return None  # one a few minutes ago: a form sent again and again mails nobody over and over
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = mail.site_link(reverse("password_reset_confirm", args=[uid, token]))
    draft = mail.Draft("password_reset", f"{user.pk}:{token}", "Reset your aimlweb password",
                       "accounts/email/password_reset", {"reset_url": link}, secret=True)  # fmt: skip
    return notice_queue(draft=draft, user=user)


def notices_resend(*, emails: QuerySet[EmailNotice]) -> int:
    """Queue the unsent ones of `emails` again (after the mail server was fixed); returns how many."""
    ids: list[int] = list(emails.filter(sent_at__isnull=True).values_list("pk", flat=True))
    transaction.on_commit(lambda: [tasks.email_send_task(pk) for pk in ids])
    return len(ids)
