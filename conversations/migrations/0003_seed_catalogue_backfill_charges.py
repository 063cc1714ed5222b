"""Seed the model catalogue from the environment, and move every recorded usage into the ledger.

Each turn's current attempt, and each earlier attempt kept in its `history`,
becomes one charge (user, model, tokens, the prices of the catalogue, computed
cost, the provider's `usd_spent` when its response had one); then the daily
rollup is built from those charges.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import migrations
from django.utils import timezone

from conversations import catalog


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
        return Decimal(str(usd)).quantize(catalog.CENTS6)
    return None


def forwards(apps, schema_editor):
    AIModel = apps.get_model("conversations", "AIModel")
    Turn = apps.get_model("conversations", "Turn")
    Charge = apps.get_model("conversations", "Charge")
    DailyUsage = apps.get_model("conversations", "DailyUsage")
    catalog.seed(AIModel)
    prices = {
        row.provider_id: catalog.Prices(row.input_price, row.cached_input_price, row.output_price)
        for row in AIModel.objects.all()
    }
    none = catalog.Prices(None, None, None)

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
            cost = catalog.cost(
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
                cost_usd=catalog.cost(
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
