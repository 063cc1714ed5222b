from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .usage import budgets, catalog


def site(request):
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        # Lazy: only pages that show them query them (not the live fragments).
        "budget_shown": SimpleLazyObject(lambda: budgets.composer_status(user)) if signed_in else None,
        "retiring_models": SimpleLazyObject(catalog.models_retiring) if signed_in and user.is_staff else (),
        "api_key_missing": not settings.AIMLAPI_KEY,
        "demo_mode": settings.AIMLAPI_DEMO,
        "signup_enabled": settings.SIGNUP_ENABLED,
        "live_poll_ms": settings.LIVE_POLL_MS,
        "live_poll_hidden_ms": settings.LIVE_POLL_HIDDEN_MS,
    }
