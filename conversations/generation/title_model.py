"""Short titles from a cheap model (optional: the TITLE_MODEL setting, off by default).

Every conversation gets a title from its first prompt at once (`chat/titles.py`).
With TITLE_MODEL set to a model of the catalogue, the worker then asks that model for a
short title once the conversation's first answer is in, and replaces the first one,
unless the user renamed the conversation meanwhile. The call is charged like any other
(`ledger.charge_call`: a charge of the conversation, with no turn), so it counts in the
user's spend and budget; it is skipped when the budget could not take it. It runs in the
worker, never in a web request or a transaction, and a failure only keeps the first title.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from conversations.chat.titles import title_from
from conversations.models import Charge, Conversation, Turn
from conversations.usage import budgets, catalog, ledger, pricing

from . import aimlapi

logger = logging.getLogger(__name__)

# What the title model is shown: the start of the first prompt and of its answer.
PROMPT_CHARS = 2_000
ANSWER_CHARS = 1_000
# Room for a few words, and for a reasoning model's (low-effort) reasoning before them.
MAX_OUTPUT_TOKENS = 1_000
# The least reasoning the model accepts, in this order of preference (catalogue's efforts).
LOW_EFFORTS = ("none", "minimal", "low")
INSTRUCTIONS = (
    "You name chat conversations. Reply with a title of 2 to 6 words for the conversation below, in its "
    "language: no quotes, no Markdown, no final full stop. Reply with the title only."
)


def _auto_title(prompt: str) -> str:
    return title_from(prompt)


def _clean(text: str) -> str:
    title = " ".join(text.split()).strip().strip("\"'“”‘’*#`").strip()
    title = title.removeprefix("Title:").strip().rstrip(".")
    return title[:80]


def _estimate_usd(model: str, characters: int) -> float | None:
    input_tokens = math.ceil(characters / budgets.CHARS_PER_TOKEN)
    found = pricing.estimate(
        prices=catalog.prices_for(model), input_tokens=input_tokens, output_tokens=MAX_OUTPUT_TOKENS
    )
    return None if found is None else float(found)


def _affordable(owner, estimate: float | None) -> bool:
    """False when the user's or the instance's budget has less left than this call could cost."""
    if estimate is None:
        return True
    shown = []
    if budgets.budget_for(owner) is not None:
        shown.append(budgets.status_for(owner))
    if budgets.instance_budget() is not None:
        shown.append(budgets.instance_status())
    return all(status.left is None or float(status.left) >= estimate for status in shown)


def title_after_answer(*, turn_id) -> str | None:
    """Ask TITLE_MODEL for the title of the conversation whose first answer `turn_id` is; return it.

    Does nothing (returns None) when the setting is off, the turn is not the conversation's
    first or did not complete, the user renamed the conversation, a title was already asked
    for, the model is not an enabled catalogue model, or the budget could not take the call.
    """
    model = settings.TITLE_MODEL
    if not model:
        return None
    assert not connection.in_atomic_block, "the provider must never be called inside a transaction"
    turn = Turn.objects.select_related("conversation__owner").filter(id=turn_id).first()
    if turn is None or turn.status != Turn.Status.COMPLETED:
        return None
    conversation = turn.conversation
    auto = _auto_title(turn.prompt)
    first = not conversation.turns.filter(created_at__lt=turn.created_at).exists()
    if not first or conversation.title != auto:
        return None
    if Charge.objects.filter(conversation=conversation, turn__isnull=True).exists():
        return None  # asked already (a duplicate run of this turn's worker)
    row = catalog.model_get(model)
    if row is None or not row.enabled:
        logger.warning("TITLE_MODEL=%r is not an enabled model of the catalogue: no titles asked", model)
        return None
    text = f"User:\n{turn.prompt[:PROMPT_CHARS]}\n\nAssistant:\n{turn.output_text[:ANSWER_CHARS]}"
    if not _affordable(conversation.owner, _estimate_usd(model, len(INSTRUCTIONS) + len(text))):
        return None
    effort = next((e for e in LOW_EFFORTS if e in row.efforts), "")
    body = aimlapi.build_body(
        api=row.api,
        model=model,
        input=[{"role": "user", "content": text}],
        instructions=INSTRUCTIONS,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        reasoning_effort=effort,
    )
    started = time.monotonic()
    try:
        response = aimlapi.create_response(body, api=row.api)
    except aimlapi.AimlApiError as exc:
        logger.info("conversation %s: no title from %s: %s", conversation.id, model, exc.message)
        return None
    usage = aimlapi.usage_checked(response.usage)
    ledger.charge_call(
        purpose=Charge.Purpose.TITLE,
        owner=conversation.owner,
        conversation=conversation,
        model=model,
        response_id=response.id,
        status=response.status,
        fields=ledger.usage_fields(model, usage),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    title = _clean(response.text) if response.status == "completed" else ""
    if not title:
        return None
    # Only over the first title: a rename by the user meanwhile wins.
    if not Conversation.objects.filter(pk=conversation.pk, title=auto).update(title=title, updated_at=timezone.now()):
        return None
    return title
