"""Prometheus text exposition, read from the database at scrape time.

Every process (web or worker) writes to the database, so reading it answers
for all of them at once: no per-process registry to merge. The sums come from
the daily rollup, so a scrape stays cheap at a million turns.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, Sum

from conversations.models import Charge, DailyUsage, Turn

from .models import ErrorCount

# Generation time buckets, seconds (gpt-5-pro: p50 1-3 min, tails past 6 min).
BUCKETS = (1, 5, 15, 30, 60, 120, 180, 300, 600, 1200)
TOKEN_KINDS = ("input", "cached", "output", "reasoning")


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _line(name: str, value, **labels) -> str:
    if labels:
        inner = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _number(value) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value or 0)


def render() -> str:
    out: list[str] = []

    by_model = DailyUsage.objects.values("model").annotate(
        **{f"{kind}_tokens": Sum(f"{kind}_tokens") for kind in TOKEN_KINDS},
        cost=Sum("cost_usd"),
        provider_cost=Sum("provider_cost_usd"),
        charges=Sum("charges"),
    )
    out += ["# HELP aimlweb_tokens_total Tokens charged, by model and kind.", "# TYPE aimlweb_tokens_total counter"]
    rows = sorted(by_model, key=lambda row: row["model"])
    for row in rows:
        for kind in TOKEN_KINDS:
            out.append(_line("aimlweb_tokens_total", _number(row[f"{kind}_tokens"]), model=row["model"], kind=kind))
    out += ["# HELP aimlweb_cost_usd_total Cost in USD (tokens at list price), by model.",
            "# TYPE aimlweb_cost_usd_total counter"]  # fmt: skip
    out += [_line("aimlweb_cost_usd_total", _number(row["cost"]), model=row["model"]) for row in rows]
    out += ["# HELP aimlweb_provider_cost_usd_total Cost in USD as reported by the provider, by model.",
            "# TYPE aimlweb_provider_cost_usd_total counter"]  # fmt: skip
    out += [_line("aimlweb_provider_cost_usd_total", _number(row["provider_cost"]), model=row["model"]) for row in rows]

    counts = dict(Turn.objects.order_by().values_list("status").annotate(n=Count("id")))
    out += ["# HELP aimlweb_turns Turns by status.", "# TYPE aimlweb_turns gauge"]
    out += [_line("aimlweb_turns", counts.get(status, 0), status=status) for status in Turn.Status.values]
    out += ["# HELP aimlweb_queue_depth Turns handed to a worker and not yet started.",
            "# TYPE aimlweb_queue_depth gauge"]  # fmt: skip
    out.append(_line("aimlweb_queue_depth", counts.get(Turn.Status.QUEUED, 0)))
    out += ["# HELP aimlweb_answers_in_flight Answers being generated.", "# TYPE aimlweb_answers_in_flight gauge"]
    out.append(_line("aimlweb_answers_in_flight", counts.get(Turn.Status.IN_PROGRESS, 0)))
    # The queue (generation/scheduler.py): prompts accepted past their user's running limit, or
    # follow-ups waiting for their answer; each starts when its user's slot frees.
    out += ["# HELP aimlweb_prompts_waiting Prompts queued: accepted, waiting for their user's slot or answer.",
            "# TYPE aimlweb_prompts_waiting gauge"]  # fmt: skip
    out.append(_line("aimlweb_prompts_waiting", counts.get(Turn.Status.WAITING, 0)))

    buckets = Charge.objects.filter(duration_ms__isnull=False).aggregate(
        count=Count("id"),
        total=Sum("duration_ms"),
        **{f"le_{b}": Count("id", filter=Q(duration_ms__lte=b * 1000)) for b in BUCKETS},
    )
    out += ["# HELP aimlweb_generation_seconds Time from start to end of each charged attempt.",
            "# TYPE aimlweb_generation_seconds histogram"]  # fmt: skip
    for b in BUCKETS:
        out.append(_line("aimlweb_generation_seconds_bucket", buckets[f"le_{b}"], le=str(b)))
    out.append(_line("aimlweb_generation_seconds_bucket", buckets["count"], le="+Inf"))
    out.append(_line("aimlweb_generation_seconds_sum", (buckets["total"] or 0) / 1000))
    out.append(_line("aimlweb_generation_seconds_count", buckets["count"]))

    out += ["# HELP aimlweb_upstream_errors_total Upstream failures, by kind.",
            "# TYPE aimlweb_upstream_errors_total counter"]  # fmt: skip
    out += [
        _line("aimlweb_upstream_errors_total", n, kind=code)
        for code, n in ErrorCount.objects.values_list("code", "count").order_by("code")
    ]
    return "\n".join(out) + "\n"


def count_error(code: str) -> None:
    """Add one upstream failure of this kind (called where a turn fails)."""
    from django.db.models import F

    code = (code or "unknown")[:64]
    if not ErrorCount.objects.filter(code=code).update(count=F("count") + 1):
        obj, created = ErrorCount.objects.get_or_create(code=code, defaults={"count": 1})
        if not created:
            ErrorCount.objects.filter(code=code).update(count=F("count") + 1)
