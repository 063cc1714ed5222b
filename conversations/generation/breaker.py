"""Circuit breaker for the provider, with its state in the database so every worker shares it.

Closed: calls go through; each outage-kind failure (server error, no connection)
adds one to a counter, any other outcome resets it. At AIMLAPI_BREAKER_FAILURES
the circuit opens: new prompts fail at once ("the provider is down, retrying at
HH:MM") for AIMLAPI_BREAKER_COOLDOWN seconds. Then exactly one worker claims the
probe (a conditional UPDATE, so two processes never both probe); its success
closes the circuit, its failure opens it for another cool-down.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.formats import time_format

from conversations.models import ProviderCircuit

from . import aimlapi

logger = logging.getLogger(__name__)


def _row() -> ProviderCircuit:
    return ProviderCircuit.objects.get_or_create(singleton=1)[0]


def _down(until) -> aimlapi.AimlApiError:
    local = timezone.localtime(until)
    return aimlapi.AimlApiError(
        f"The AI/ML API is down (it failed {settings.AIMLAPI_BREAKER_FAILURES} times in a row); "
        f"new prompts are paused, retrying at {time_format(local, 'H:i')} ({local.tzname()}). "
        "Press Retry after that.",
        code="provider_down",
    )


def before_call() -> bool:
    """Let a call through, or raise AimlApiError("provider_down") at once.

    Returns True when this call is the half-open probe.
    """
    row = _row()
    if row.consecutive_failures < settings.AIMLAPI_BREAKER_FAILURES or row.open_until is None:
        return False
    now = timezone.now()
    if now < row.open_until:
        raise _down(row.open_until)
    # Cool-down over: one caller, in any process, becomes the probe; the others wait for it.
    lease = now + timedelta(seconds=max(settings.AIMLAPI_READ_TIMEOUT, settings.AIMLAPI_BREAKER_COOLDOWN))
    claimed = (
        ProviderCircuit.objects.filter(pk=row.pk, open_until__lte=now)
        .exclude(probe_until__gt=now)
        .update(probe_until=lease, updated_at=now)
    )
    if not claimed:
        raise _down(now + timedelta(seconds=settings.AIMLAPI_BREAKER_COOLDOWN))
    logger.info("circuit half-open: probing the AI/ML API")
    return True


def guard(call, *, check: bool = True):
    """Run `call()` (one provider call) through the breaker; `check=False` only records its outcome
    (a resumed background response is polled even while the circuit is open: it is already paid for)."""
    probe = before_call() if check else False
    try:
        result = call()
    except aimlapi.AimlApiError as error:
        record(error=error, probe=probe)
        raise
    stopped = getattr(result, "status", "") == "cancelled"
    record(error=aimlapi.AimlApiError("", code="cancelled") if stopped else None, probe=probe)
    return result


# Outcomes that say nothing about the provider's health.
NEUTRAL_CODES = frozenset({"cancelled", "no_api_key", "provider_down"})


def record(*, error: aimlapi.AimlApiError | None, probe: bool = False) -> None:
    """Count the outcome of a call: an outage-kind error, or anything else (which resets the count)."""
    now = timezone.now()
    row = _row()
    if error is not None and error.code in NEUTRAL_CODES:
        if probe:  # let another caller probe
            ProviderCircuit.objects.filter(pk=row.pk).update(probe_until=None, updated_at=now)
        return
    if error is None or error.code not in aimlapi.OUTAGE_CODES:
        if row.consecutive_failures or row.open_until:
            ProviderCircuit.objects.filter(pk=row.pk).update(
                consecutive_failures=0, open_until=None, probe_until=None, updated_at=now
            )
            if row.open_until:
                logger.info("circuit closed: the AI/ML API answers again")
        return
    ProviderCircuit.objects.filter(pk=row.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=error.message[:500], updated_at=now
    )
    row.refresh_from_db()
    if row.consecutive_failures >= settings.AIMLAPI_BREAKER_FAILURES:
        until = now + timedelta(seconds=settings.AIMLAPI_BREAKER_COOLDOWN)
        ProviderCircuit.objects.filter(pk=row.pk).update(open_until=until, probe_until=None)
        logger.warning(
            "circuit open until %s after %s failures in a row: %s", until, row.consecutive_failures, error.code
        )
