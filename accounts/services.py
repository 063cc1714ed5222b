"""Account writes: sign-up in its three modes, invites, approval, sign out everywhere."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import notices
from .forms import SignupForm
from .models import EmailPreference, Invite, PendingSignup

logger = logging.getLogger(__name__)


class InviteUnusable(Exception):
    message = "This invitation link has been used or has expired. Ask an administrator for a new one."


def user_signup(*, form: SignupForm, invite_token: str = "") -> User:
    """Create the account from a valid sign-up form.

    With an invite, or SIGNUP=open, the account is active at once; with
    SIGNUP=approval it stays inactive until an admin approves it.
    """
    with transaction.atomic():
        user = form.save(commit=False)
        if invite_token:
            user.is_active = True
            user.save()
            claimed = Invite.objects.filter(
                token=invite_token, used_at__isnull=True, expires_at__gt=timezone.now()
            ).update(used_at=timezone.now(), used_by=user)
            if not claimed:
                raise InviteUnusable  # rolls the user back
        elif settings.SIGNUP == "open":
            user.is_active = True
            user.save()
        else:
            user.is_active = False
            user.save()
            notices.signup_pending_notify(pending=PendingSignup.objects.create(user=user))
    logger.info("sign-up %r (%s)", user.get_username(), "invite" if invite_token else settings.SIGNUP)
    return user


def users_approve(*, users: QuerySet[User]) -> int:
    """Activate pending users; returns how many were approved."""
    with transaction.atomic():
        ids = list(PendingSignup.objects.filter(user__in=users).values_list("user_id", flat=True))
        approved = get_user_model().objects.filter(id__in=ids).update(is_active=True)
        PendingSignup.objects.filter(user_id__in=ids).delete()
        notices.signup_approved_notify(users=get_user_model().objects.filter(id__in=ids))
    return approved


def sessions_end_all(*, user: User, keep_session_key: str | None = None) -> int:
    """End every unexpired session of `user` (on every device), except `keep_session_key`.

    Reads each live session once: fine for a rare, user-initiated action, and it
    finds every session, however it was made.
    """
    user_id = str(user.pk)
    ended: list[str] = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.session_key != keep_session_key and session.get_decoded().get("_auth_user_id") == user_id:
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


def account_email_update(*, user: User, email: str, answer_done: bool) -> None:
    """The account page's email settings: the address (empty: none) and "Email me when an answer is done"."""
    with transaction.atomic():
        user.email = get_user_model().objects.normalize_email(email)
        user.save(update_fields=["email"])
        EmailPreference.objects.update_or_create(user=user, defaults={"answer_done": answer_done})
