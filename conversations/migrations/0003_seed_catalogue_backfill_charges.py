"""Seed the model catalogue from the environment, and move every recorded usage into the ledger.

Each turn's current attempt, and each earlier attempt kept in its `history`,
becomes one charge (user, model, tokens, the prices of the catalogue, computed
cost, the provider's `usd_spent` when its response had one); then the daily
rollup is built from those charges.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from dataclasses import dataclass

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# A frozen copy of what this migration needs from the catalogue as it was when it was written: the
# app's catalogue code may change, and what an old migration does must not.
MILLION = Decimal(1_000_000)
CENTS6 = Decimal("0.000001")
KNOWN_MODELS = {
    "openai/gpt-5-pro": {
        "label": "GPT-5 Pro",
        "input_price": Decimal("20.631"),
        "cached_input_price": None,
        "output_price": Decimal("165.048"),
        "reasoning_efforts": "",
        "max_output_tokens": 272_000,
        "retires_on": datetime(2026, 12, 11).date(),
        "successor": "openai/gpt-5.6-sol-pro",
    },
    "openai/gpt-5.6-sol-pro": {
        "label": "GPT-5.6 Sol Pro",
        "input_price": Decimal("5.5016"),
        "cached_input_price": Decimal("0.55016"),
        "output_price": Decimal("27.508"),
        "reasoning_efforts": "none,low,medium,high",
        "max_output_tokens": 272_000,
    },
}


@dataclass(frozen=True)
class Prices:
    input: Decimal | None
    cached_input: Decimal | None
    output: Decimal | None


def _env_prices(raw):
    prices = {}
    for entry in raw.split(";"):
        if "=" in entry:
            model, _, rates = entry.strip().partition("=")
            input_rate, _, output_rate = rates.partition(":")
            prices[model.strip()] = (Decimal(input_rate), Decimal(output_rate))
    return prices


def _seed(AIModel):
    """The environment's models and their successors, added if missing (never changed)."""
    wanted = [settings.AIMLAPI_MODEL, *settings.AIMLAPI_MODELS]
    wanted += [KNOWN_MODELS[m]["successor"] for m in wanted if KNOWN_MODELS.get(m, {}).get("successor")]
    prices = _env_prices(settings.AIMLAPI_PRICES)
    for provider_id in dict.fromkeys(wanted):
        known = {k: v for k, v in KNOWN_MODELS.get(provider_id, {}).items() if k != "successor"}
        if provider_id in prices:
            known["input_price"], known["output_price"] = prices[provider_id]
        enabled = provider_id in settings.AIMLAPI_MODELS or provider_id == settings.AIMLAPI_MODEL
        AIModel.objects.get_or_create(
            provider_id=provider_id, defaults={**known, "enabled": enabled, "label": known.get("label", "")}
        )
    for provider_id, known in KNOWN_MODELS.items():
        if known.get("successor"):
            successor = AIModel.objects.filter(provider_id=known["successor"]).first()
            AIModel.objects.filter(provider_id=provider_id, successor__isnull=True).update(successor=successor)
    if not AIModel.objects.filter(is_default=True).exists():
        AIModel.objects.filter(provider_id=settings.AIMLAPI_MODEL).update(is_default=True)


def _cost(*, prices, input_tokens, cached_tokens, output_tokens):
    if prices.input is None or prices.output is None or input_tokens is None or output_tokens is None:
        return None
    cached = min(cached_tokens or 0, input_tokens)
    cached_rate = prices.cached_input if prices.cached_input is not None else prices.input
    usd = ((input_tokens - cached) * prices.input + cached * cached_rate + output_tokens * prices.output) / MILLION
    return usd.quantize(CENTS6)


def _when(value, fallback):
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return fallback
    return value or fallback


def _provider_cost(response_json):
    try:
        usd = response_json["meta"]["usage"]["usd_spent"]
    except (KeyError, TypeError):
        return None
    if isinstance(usd, int | float) and not isinstance(usd, bool) and 0 <= usd < 1e8:
        return Decimal(str(usd)).quantize(CENTS6)
    return None


def forwards(apps, schema_editor):
    AIModel = apps.get_model("conversations", "AIModel")
    Turn = apps.get_model("conversations", "Turn")
    Charge = apps.get_model("conversations", "Charge")
    DailyUsage = apps.get_model("conversations", "DailyUsage")
    _seed(AIModel)
    prices = {
        row.provider_id: Prices(row.input_price, row.cached_input_price, row.output_price)
        for row in AIModel.objects.all()
    }
    none = Prices(None, None, None)

    charges = []
    turns = Turn.objects.select_related("conversation__owner").order_by("created_at")
    for turn in turns.iterator(chunk_size=500):
        owner = turn.conversation.owner
        model = turn.model or turn.conversation.model
        rates = prices.get(model) or prices.get(turn.conversation.model) or none
        attempts = [
            {
                "attempt": entry.get("attempt") or 0,
                "status": entry.get("status") or "failed",
                "response_id": entry.get("response_id") or "",
                "input_tokens": entry.get("input_tokens"),
                "output_tokens": entry.get("output_tokens"),
                "cached_tokens": None,
                "reasoning_tokens": None,
                "total_tokens": None,
                "started_at": _when(entry.get("started_at"), None),
                "completed_at": _when(entry.get("completed_at"), turn.updated_at),
                "provider_cost": None,
            }
            for entry in turn.history
            if isinstance(entry, dict)
        ]
        attempts.append(
            {
                "attempt": turn.attempts,
                "status": turn.status,
                "response_id": turn.response_id,
                "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens,
                "cached_tokens": turn.cached_tokens,
                "reasoning_tokens": turn.reasoning_tokens,
                "total_tokens": turn.total_tokens,
                "started_at": turn.started_at,
                "completed_at": turn.completed_at or turn.updated_at,
                "provider_cost": _provider_cost(turn.response_json),
            }
        )
        seen = set()
        for a in attempts:
            if a["input_tokens"] is None and a["output_tokens"] is None:
                continue
            if a["attempt"] in seen:
                continue
            seen.add(a["attempt"])
            inp, out = a["input_tokens"] or 0, a["output_tokens"] or 0
            cost = _cost(
                prices=rates, input_tokens=inp, cached_tokens=a["cached_tokens"], output_tokens=out
            )
            duration = None
            if a["started_at"] and a["completed_at"]:
                duration = max(0, int((a["completed_at"] - a["started_at"]).total_seconds() * 1000))
            charges.append(
                Charge(
                    user=owner, username=owner.username, conversation_id=turn.conversation_id, turn=turn,
                    attempt=a["attempt"], model=model, response_id=a["response_id"], status=a["status"],
                    input_tokens=inp, cached_tokens=a["cached_tokens"] or 0, output_tokens=out,
                    reasoning_tokens=a["reasoning_tokens"] or 0, total_tokens=a["total_tokens"] or inp + out,
                    input_price=rates.input, cached_input_price=rates.cached_input, output_price=rates.output,
                    cost_usd=cost, provider_cost_usd=a["provider_cost"], duration_ms=duration,
                    created_at=a["completed_at"],
                )
            )
        if turn.input_tokens is not None or turn.output_tokens is not None:
            Turn.objects.filter(pk=turn.pk).update(
                input_price=rates.input, cached_input_price=rates.cached_input, output_price=rates.output,
                provider_cost_usd=attempts[-1]["provider_cost"],
                cost_usd=_cost(
                    prices=rates, input_tokens=turn.input_tokens or 0, cached_tokens=turn.cached_tokens,
                    output_tokens=turn.output_tokens or 0,
                ),
            )
    Charge.objects.bulk_create(charges, batch_size=500)

    rollup = defaultdict(lambda: defaultdict(int))
    for c in Charge.objects.all().iterator():
        row = rollup[(timezone.localdate(c.created_at), c.user_id, c.model, c.status)]
        row["charges"] += 1
        for name in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens"):
            row[name] += getattr(c, name)
        row["cost_usd"] += c.cost_usd or 0
        row["provider_cost_usd"] += c.provider_cost_usd or 0
        row["duration_ms"] += c.duration_ms or 0
    DailyUsage.objects.bulk_create(
        [
            DailyUsage(day=day, user_id=user_id, model=model, status=status, **sums)
            for (day, user_id, model, status), sums in rollup.items()
        ],
        batch_size=500,
    )


def backwards(apps, schema_editor):
    apps.get_model("conversations", "DailyUsage").objects.all().delete()
    apps.get_model("conversations", "Charge").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_catalogue_ledger_history")]

    operations = [migrations.RunPython(forwards, backwards)]
