"""Sign-up (three modes and invites), the first-admin setup link, password change, sign out everywhere."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from aimlweb.http import SignedInRequest

from . import services, setup
from .forms import SignupForm
from .models import Invite

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _auth_page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, f"accounts/{template}", context, status=status)


def signup(request: HttpRequest) -> HttpResponse:
    if settings.SIGNUP == "closed":
        raise Http404("Sign-up is closed.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_signup(form=form)
        if user.is_active:
            login(request, user, backend=BACKEND)
            return redirect("home")
        return _auth_page(request, "pending.html", {"pending_user": user})
    context = {"form": form, "no_admin": not setup.admin_exists(), "mode": settings.SIGNUP}
    return _auth_page(request, "signup.html", context)


def invite(request: HttpRequest, token: str) -> HttpResponse:
    invitation = Invite.objects.filter(token=token).first()
    if invitation is None or not invitation.usable:
        return _auth_page(request, "invite_unusable.html", {}, status=404)
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_signup(form=form, invite_token=token)
        except services.InviteUnusable:
            return _auth_page(request, "invite_unusable.html", {}, status=404)
        login(request, user, backend=BACKEND)
        return redirect("home")
    context = {"form": form, "invite": invitation, "mode": "invite"}
    return _auth_page(request, "signup.html", context)


def first_admin_setup(request: HttpRequest, token: str) -> HttpResponse:
    """Only the link printed at start-up can create the first administrator."""
    if not setup.check_token(token):
        raise Http404("This setup link is not valid (any more).")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = setup.claim(token=token, create_user=lambda: form.save(commit=False))
        except setup.SetupClosed as exc:
            messages.error(request, exc.message)
            return redirect("login")
        login(request, user, backend=BACKEND)
        messages.success(request, "Welcome! You are the administrator (see Admin).")
        return redirect("home")
    context = {"form": form, "mode": "setup"}
    return _auth_page(request, "signup.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Password changed. Your other sessions were signed out.")
        return response


@login_required
def account(request: SignedInRequest) -> HttpResponse:
    return _auth_page(request, "account.html", {"session_age_days": settings.SESSION_COOKIE_AGE / 86400})


@login_required
@require_POST
def sign_out_everywhere(request: SignedInRequest) -> HttpResponse:
    ended = services.sessions_end_all(user=request.user, keep_session_key=request.session.session_key)
    request.session.cycle_key()
    messages.success(request, f"Signed out everywhere else ({ended} other session{'s' if ended != 1 else ''}).")
    return redirect("account")


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' answer to a locked user name + address (AXES_LOCKOUT_CALLABLE): 429 with a clear message."""
    from axes.helpers import get_client_username

    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": get_client_username(request, credentials) or "",
        "minutes": max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)),
    }
    return _auth_page(request, "locked_out.html", context, status=429)
