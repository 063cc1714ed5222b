"""An admin's Check of a catalogue model: one tiny prompt through its endpoint, before people are moved to it.

Runs in the worker (tasks.model_check_task), never in the admin's request: even a tiny prompt can take a
pro model a minute. The outcome (success or the provider's error, latency, cost) is kept on the model's row
for the admin's list and page; the call is charged to the admin in the ledger as an admin check.
"""

from __future__ import annotations

import logging
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from conversations.models import AIModel, Charge
from conversations.usage import ledger

from . import aimlapi

logger = logging.getLogger(__name__)

PROMPT = "This is a connection check. Reply with the single word: OK"
# Room for the word and a reasoning model's (least) reasoning before it: at most a few cents.
MAX_OUTPUT_TOKENS = 2_000
# The least reasoning the model accepts, in this order of preference.
LOW_EFFORTS = ("none", "minimal", "low", "medium")
ANSWER_CHARS = 80


def model_check_start(*, model: AIModel) -> None:
    """Mark the check as running (the row shows it until the worker writes the outcome)."""
    AIModel.objects.filter(pk=model.pk).update(
        last_check_at=timezone.now(), last_check_ok=None, last_check_message="Checking…", last_check_ms=None,
        last_check_cost_usd=None,
    )  # fmt: skip


def model_check(*, model_id: int, user_id: int | None) -> bool | None:
    """Send the check prompt to the model through its endpoint; record the outcome and the charge."""
    assert not connection.in_atomic_block, "the provider must never be called inside a transaction"
    row = AIModel.objects.filter(pk=model_id).first()
    if row is None:
        return None
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    body = aimlapi.build_body(
        api=row.api,
        model=row.provider_id,
        input=[{"role": "user", "content": PROMPT}],
        max_output_tokens=MAX_OUTPUT_TOKENS,
        reasoning_effort=next((effort for effort in LOW_EFFORTS if effort in row.efforts), ""),
    )
    started = time.monotonic()
    try:
        response = aimlapi.create_response(body, api=row.api)
    except aimlapi.AimlApiError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        _record(row, ok=False, message=f"{row.get_api_display()}: {exc.message}", elapsed=elapsed, cost=None)
        return False
    elapsed = int((time.monotonic() - started) * 1000)
    usage = ledger.usage_fields(row.provider_id, aimlapi.usage_checked(response.usage))
    if user is not None:
        ledger.charge_call(
            purpose=Charge.Purpose.CHECK, owner=user, model=row.provider_id, response_id=response.id,
            status=response.status, fields=usage, duration_ms=elapsed,
        )  # fmt: skip
    ok = response.status in ("completed", "incomplete")
    if ok:
        answer = " ".join(response.text.split())[:ANSWER_CHARS] or "(no text)"
        message = f"{row.get_api_display()} answered “{answer}” ({response.status}, id {response.id or '–'})."
    else:
        message = f"{row.get_api_display()} answered {response.status}: {response.error_message or 'no reason given'}"
    _record(row, ok=ok, message=message, elapsed=elapsed, cost=usage.get("cost_usd"))
    return ok


def _record(row: AIModel, *, ok: bool, message: str, elapsed: int, cost) -> None:
    logger.info("model check of %s: %s in %s ms", row.provider_id, "ok" if ok else "failed", elapsed)
    AIModel.objects.filter(pk=row.pk).update(
        last_check_at=timezone.now(), last_check_ok=ok, last_check_message=message[:2000], last_check_ms=elapsed,
        last_check_cost_usd=cost,
    )  # fmt: skip
