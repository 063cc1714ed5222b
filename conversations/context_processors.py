from django.conf import settings
from django.utils.functional import SimpleLazyObject

from accounts import selectors as accounts

from .chat import banners
from .usage import budgets, catalog


def site(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        # Lazy: only pages that show them query them (not the live fragments).
        "budget_shown": SimpleLazyObject(lambda: budgets.composer_status(user)) if signed_in else None,
        "retiring_models": SimpleLazyObject(catalog.models_retiring) if signed_in and user.is_staff else (),
        # Staff who may approve: the sign-ups waiting (the sidebar's menu; a count and the oldest few).
        "pending_signups": SimpleLazyObject(accounts.pending_signups) if accounts.can_approve(user) else None,
        "api_key_missing": not settings.AIMLAPI_KEY,
        "dismissed_banners": banners.dismissed(request),
        "demo_mode": settings.AIMLAPI_DEMO,
        "signup_enabled": settings.SIGNUP_ENABLED,
        "live_poll_ms": settings.LIVE_POLL_MS,
        "live_poll_hidden_ms": settings.LIVE_POLL_HIDDEN_MS,
    }
