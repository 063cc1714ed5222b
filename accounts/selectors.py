"""Account reads: the sign-ups waiting for approval (the app's menu shows them to staff)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from .models import PendingSignup

APPROVE_PERMISSION = "auth.change_user"  # what the admin asks of whoever approves there


@dataclass(frozen=True)
class PendingSignups:
    """How many sign-ups wait, and the oldest few of them (with their users)."""

    count: int
    first: list[PendingSignup] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.count > 0


def can_approve(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Staff who may change users in the admin may approve sign-ups from the app's menu too."""
    if not isinstance(user, User) or not user.is_authenticated:
        return False
    return user.is_staff and user.has_perm(APPROVE_PERMISSION)


def pending_signups(*, limit: int = 5) -> PendingSignups:
    waiting = PendingSignup.objects.select_related("user").order_by("created_at", "pk")
    count = waiting.count()
    return PendingSignups(count=count, first=list(waiting[:limit]) if count else [])
