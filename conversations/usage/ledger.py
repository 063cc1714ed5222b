"""The ledger's writes: price an attempt's usage and record its charge once.

Every attempt that reports usage (completed, incomplete, failed, cancelled,
later retried or superseded) becomes one `Charge`, priced at the catalogue's
prices of that moment, and is added to the daily rollup in the same
transaction. Charges are never edited by the app.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from conversations.generation import aimlapi
from conversations.models import Charge, Conversation, DailyUsage, Turn

from . import catalog, pricing


def usage_cost(model: str, usage: aimlapi.Usage | None) -> Decimal | None:
    """USD for this usage at the catalogue's current prices (reasoning tokens are output tokens)."""
    if usage is None:
        return None
    return pricing.cost(
        prices=catalog.prices_for(model),
        input_tokens=usage.input_tokens,
        cached_tokens=usage.cached_tokens,
        output_tokens=usage.output_tokens,
    )


def usage_fields(model: str, usage: aimlapi.Usage | None) -> dict[str, Any]:
    """The turn's usage columns, with the unit prices it is charged at and both costs."""
    if usage is None:
        return {}
    prices = catalog.prices_for(model)
    return {
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
        "input_price": prices.input,
        "cached_input_price": prices.cached_input,
        "output_price": prices.output,
        "cost_usd": pricing.cost(
            prices=prices,
            input_tokens=usage.input_tokens,
            cached_tokens=usage.cached_tokens,
            output_tokens=usage.output_tokens,
        ),
        "provider_cost_usd": (pricing.usd(usage.usd_spent) if usage.usd_spent is not None else None),
    }


def usage_unreadable(usage: aimlapi.Usage | None) -> bool:
    """The provider sent a usage block, but no token count in it could be read (hostile or broken)."""
    return usage is not None and usage.input_tokens is None and usage.output_tokens is None


def usage_unknown_fields(model: str, estimate_usd: Decimal | None) -> dict[str, Any]:
    """A charge for a paid answer whose usage is unreadable: the turn's estimate, flagged."""
    prices = catalog.prices_for(model)
    return {
        "input_price": prices.input,
        "cached_input_price": prices.cached_input,
        "output_price": prices.output,
        "cost_usd": estimate_usd,
        "usage_unknown": True,
    }


def charge_record(
    *, turn: Turn, status: str, model: str, response_id: str, fields: dict[str, Any], now: datetime | None = None
) -> Charge | None:
    """Write the ledger entry of one attempt that reported usage, once, and add it to the daily rollup.

    `fields` are the usage columns from `usage_fields`. A second call for the
    same attempt (a late worker, a second sweep) records nothing.
    """
    now = now or timezone.now()
    duration = int((now - turn.started_at).total_seconds() * 1000) if turn.started_at else None
    try:
        return _write(
            owner=turn.conversation.owner, conversation_id=turn.conversation_id, turn=turn, attempt=turn.attempts,
            model=model, response_id=response_id, status=status, fields=fields, duration_ms=duration, now=now,
        )  # fmt: skip
    except IntegrityError:
        return None  # this attempt was already charged


def charge_call(
    *,
    purpose: str,
    owner: User,
    conversation: Conversation | None = None,
    model: str,
    response_id: str,
    status: str,
    fields: dict[str, Any],
    duration_ms: int | None = None,
    now: datetime | None = None,
) -> Charge | None:
    """Write the ledger entry of a call that is no turn's answer, counted in spend and budgets like one.

    A conversation's title asked of TITLE_MODEL (title_model.py): charged to the conversation's
    owner, with no turn. An admin's model check (checks.py): charged to that admin, with no
    conversation. A status the ledger does not know is recorded as failed.
    """
    return _write(
        owner=owner, conversation_id=conversation.pk if conversation else None, turn=None, attempt=1, model=model,
        response_id=response_id, status=status if status in Turn.Status.values else Turn.Status.FAILED,
        fields=fields, duration_ms=duration_ms, now=now or timezone.now(), purpose=purpose,
    )  # fmt: skip


def _write(
    *, owner: User | None, conversation_id: uuid.UUID | None, turn: Turn | None, attempt: int, model: str,
    response_id: str, status: str, fields: dict[str, Any], duration_ms: int | None, now: datetime,
    purpose: str = Charge.Purpose.ANSWER,
) -> Charge | None:  # fmt: skip
    """One charge and its share of the daily rollup, in one transaction; None without usage."""
    unknown = bool(fields and fields.get("usage_unknown"))
    if not unknown and (not fields or (fields.get("input_tokens") is None and fields.get("output_tokens") is None)):
        return None
    tokens = {
        name: fields.get(name) or 0
        for name in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
    }
    if not tokens["total_tokens"]:
        tokens["total_tokens"] = tokens["input_tokens"] + tokens["output_tokens"]
    with transaction.atomic():
        charge = Charge.objects.create(
            user=owner,
            username=owner.get_username() if owner is not None else "",
            purpose=purpose,
            conversation_id=conversation_id,
            turn=turn,
            attempt=attempt,
            model=model,
            response_id=response_id,
            status=status,
            **tokens,
            input_price=fields.get("input_price"),
            cached_input_price=fields.get("cached_input_price"),
            output_price=fields.get("output_price"),
            cost_usd=fields.get("cost_usd"),
            provider_cost_usd=fields.get("provider_cost_usd"),
            usage_unknown=unknown,
            duration_ms=max(duration_ms, 0) if duration_ms is not None else None,
            created_at=now,
        )
        _rollup_add(charge)
    return charge


def _rollup_add(charge: Charge) -> None:
    key: dict[str, Any] = {
        "day": timezone.localdate(charge.created_at),
        "user_id": charge.user_id,
        "model": charge.model,
        "status": charge.status,
    }
    row, _ = DailyUsage.objects.get_or_create(**key)
    DailyUsage.objects.filter(pk=row.pk).update(
        charges=F("charges") + 1,
        input_tokens=F("input_tokens") + charge.input_tokens,
        cached_tokens=F("cached_tokens") + charge.cached_tokens,
        output_tokens=F("output_tokens") + charge.output_tokens,
        reasoning_tokens=F("reasoning_tokens") + charge.reasoning_tokens,
        total_tokens=F("total_tokens") + charge.total_tokens,
        cost_usd=F("cost_usd") + (charge.cost_usd or 0),
        provider_cost_usd=F("provider_cost_usd") + (charge.provider_cost_usd or 0),
        duration_ms=F("duration_ms") + (charge.duration_ms or 0),
    )
