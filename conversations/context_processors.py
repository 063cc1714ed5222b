from django.conf import settings


def site(request):
    return {
        "api_key_missing": not settings.AIMLAPI_KEY,
        "demo_mode": settings.AIMLAPI_DEMO,
        "signup_enabled": settings.SIGNUP_ENABLED,
        "live_poll_ms": settings.LIVE_POLL_MS,
        "live_poll_hidden_ms": settings.LIVE_POLL_HIDDEN_MS,
    }
