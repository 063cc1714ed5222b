"""Sign-up (three modes and invites), the first-admin setup link, password change, sign out everywhere."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.models import User
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aimlweb.http import SignedInRequest

from . import mail, notices, selectors, services, setup
from .forms import AccountEmailForm, LoginForm, SignupForm
from .models import Invite

BACKEND = "django.contrib.auth.backends.ModelBackend"
# The "Almost there" page's address: it names the account without a session (the user cannot sign in yet).
WAITING_SALT = "accounts.signup-waiting"
WAITING_MAX_AGE = 60 * 60 * 24 * 60


def _safe_next(request: HttpRequest) -> str:
    """Where `?next=` (or a posted `next`) asks to go after signing up or in, when it is this site's."""
    target = request.POST.get("next") or request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else ""


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
            return redirect(_safe_next(request) or "home")  # e.g. the share link that sent them here
        return redirect("signup_waiting", ticket=signing.dumps(user.pk, salt=WAITING_SALT))
    context = {"form": form, "no_admin": not setup.admin_exists(), "mode": settings.SIGNUP, "next": _safe_next(request)}
    return _auth_page(request, "signup.html", context)


def signup_waiting(request: HttpRequest, ticket: str) -> HttpResponse:
    """ "Almost there": the account waits for an admin. The page checks again by itself (a meta refresh) and
    on a click; once approved it says so. An email goes out on approval too, where the user gave an address."""
    try:
        user_id = signing.loads(ticket, salt=WAITING_SALT, max_age=WAITING_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This link is not valid (any more).") from None
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("This account no longer exists.")
    context = {
        "pending_user": user,
        "approved": user.is_active,
        "check_url": request.get_full_path(),
        "email_enabled": mail.enabled(),
    }
    return _auth_page(request, "pending.html", context)


@login_required
@require_POST
def signup_approve(request: SignedInRequest, user_id: int) -> HttpResponse:
    """One click in the app's menu (staff who may change users, as in the admin): the sign-up is approved."""
    if not selectors.can_approve(request.user):  # as a missing page (the URL walk: tests/security)
        raise Http404("Only staff who may change users approve sign-ups.")
    user = User.objects.filter(pk=user_id).first()
    if user is None or not services.users_approve(users=User.objects.filter(pk=user_id)):
        messages.info(request, "That sign-up was already approved or removed.")
    elif user.email and mail.enabled():
        messages.success(request, f"Approved {user.get_username()}: an email tells them they can sign in.")
    else:
        messages.success(request, f"Approved {user.get_username()}: tell them they can sign in now.")
    return redirect(_safe_next(request) or reverse("home"))


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


class LoginView(auth_views.LoginView):
    """Django's sign-in, with "Forgot password?" while the site sends email."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "password_reset": mail.enabled()}


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Password changed. Your other sessions were signed out.")
        return response


@login_required
def account(request: SignedInRequest) -> HttpResponse:
    """The account page; its email form posts here."""
    user = request.user
    initial = {"email": user.email, "answer_done": notices.answer_emails_wanted(user)}
    form = AccountEmailForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.account_email_update(user=user, email=data["email"], answer_done=data["answer_done"])
        messages.success(request, "Email settings saved." if data["email"] else "Email settings saved (no address).")
        return redirect("account")
    context = {
        "session_age_days": settings.SESSION_COOKIE_AGE / 86400,
        "email_form": form,
        "email_enabled": mail.enabled(),
    }
    return _auth_page(request, "account.html", context, status=400 if form.errors else 200)


class PasswordResetView(auth_views.PasswordResetView):
    """Forgot password?: the link goes by email (a notice, sent by the worker); a 404 while email is off.

    The page says the same whether or not an account has the address (nobody learns who has an account).
    """

    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("password_reset_done")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not mail.enabled():
            raise Http404("This site sends no email.")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        for user in form.get_users(form.cleaned_data["email"]):
            notices.password_reset_notify(user=user)
        return redirect(self.success_url)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")
    post_reset_login = False

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        services.sessions_end_all(user=form.user)  # a stolen session ends with the old password
        return response


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
        "password_reset": mail.enabled(),
    }
    return _auth_page(request, "locked_out.html", context, status=429)
