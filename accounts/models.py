"""Who may use (and spend) the instance: the first-admin setup, invites, sign-in sessions."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class FirstAdminSetup(models.Model):
    """The one row that lets the setup link create the first administrator, once.

    `singleton` is always 1 and unique, so there is never a second row; claiming
    it is a conditional UPDATE inside the transaction that creates the admin, which
    serialises concurrent claims on SQLite and PostgreSQL alike.
    """

    singleton = models.PositiveSmallIntegerField(default=1, unique=True, editable=False)
    # The link's token is an HMAC of this nonce with SECRET_KEY: the database alone does not give it away.
    nonce = models.CharField(max_length=64, default=_new_secret, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(singleton=1), name="first_admin_setup_singleton")]

    def __str__(self) -> str:
        return "first administrator: " + ("created" if self.claimed_at else "waiting for the setup link")


class Invite(models.Model):
    """A one-time sign-up link made by an admin; it works whatever SIGNUP says."""

    token = models.CharField(max_length=64, unique=True, default=_new_secret, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for (only admins see this).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invites_made", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite",
        editable=False,
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or f"Invite {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("invite", args=[self.token])

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class PendingSignup(models.Model):
    """A sign-up waiting for an admin (SIGNUP=approval); the user stays inactive meanwhile."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_signup")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} (waiting since {self.created_at:%Y-%m-%d %H:%M})"


class EmailPreference(models.Model):
    """A user's choices about email; no row: the defaults (an answer's notice on, once an address is set)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="email_preference"
    )
    answer_done = models.BooleanField(
        "Email me when an answer is done",
        default=True,
        help_text="When an answer ends and none of your pages shows it.",
    )

    def __str__(self) -> str:
        return f"email preference of {self.user}"


class EmailNotice(models.Model):
    """One email to send, written once (accounts/mail.py): `kind` + `key` are unique, so the notice of an
    event (a turn's answer, a user's 80 % of this month) is never written twice, by any process or retry.
    The worker hands it to the mail server (accounts/tasks.py), retrying until it is taken.
    """

    kind = models.CharField(max_length=40)
    # What makes it once: the turn and its attempt, the user and the month, the admin and the sign-up...
    key = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # who it is for
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    html = models.TextField(blank=True)
    # A password reset link: the text is emptied once sent (the database keeps no working link).
    secret = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="email_notice_once")]
        indexes = [models.Index(fields=["sent_at", "created_at"], name="email_notice_unsent")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
