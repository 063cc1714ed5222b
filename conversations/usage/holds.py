"""What a prompt is held at against budgets while its answer runs: the output tokens of the rule.

`BUDGET_HOLD=typical` (the default): what answers of the model really take here, the 95th
percentile of the output tokens of its last HOLD_SAMPLE charged answers; until HOLD_MIN_ANSWERS
of them exist, the catalogue row's `typical_output_tokens`. `BUDGET_HOLD=worst`: the most an
answer can take (today's hard wall). Either way never above the conversation's own max output
tokens, nor the model's maximum. An answer that takes more is charged in full (ledger.py): the
month may then pass the budget by that one answer.

Charged answers are the ledger's charges of purpose "answer" that ran to their end (completed, or
incomplete at the cap) with readable usage: a stopped or failed attempt was cut short and says
nothing about how long an answer runs. Imported turns have no charges. The read is one query on
the `charge_model_answers` index, newest first, that stops after HOLD_SAMPLE rows, however many
charges the ledger holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from aimlweb.request_memo import memoised
from conversations.models import AIModel, Charge

HOLD_SAMPLE = 200
HOLD_MIN_ANSWERS = 20
HOLD_PERCENTILE = 95
# When neither the catalogue nor the conversation gives a ceiling: the largest cap the settings accept.
FALLBACK_OUTPUT_CAP = 272_000
# A model the catalogue does not know (it has no prices either, so nothing is held in USD).
DEFAULT_TYPICAL_OUTPUT_TOKENS = 16_000
# The statuses of a charged answer that ran to its end (Turn.Status values).
FINISHED = ("completed", "incomplete")


@dataclass(frozen=True)
class Hold:
    output_tokens: int
    # Why that many: "recent" (the percentile), "typical" (the catalogue's), "cap" (the
    # conversation's max output tokens), "maximum" (the model's, or the fallback: BUDGET_HOLD=worst).
    basis: str
    answers: int = 0  # charged answers read for "recent"


def nearest_rank(values: list[int], percent: int) -> int:
    """The smallest value that `percent` % of `values` are at or below (the nearest-rank percentile)."""
    ordered = sorted(values)
    rank = -(-len(ordered) * percent // 100)  # ceil, at least 1 for a non-empty list
    return ordered[max(rank, 1) - 1]


def recent_answers(model: str) -> QuerySet[Charge, int]:
    """The output tokens of the model's last HOLD_SAMPLE charged answers, newest first: read from the
    `charge_model_answers` index alone, in its order, stopping after HOLD_SAMPLE rows."""
    rows = Charge.objects.filter(
        model=model, purpose=Charge.Purpose.ANSWER, status__in=FINISHED, usage_unknown=False
    ).order_by("-created_at")
    return rows.values_list("output_tokens", flat=True)[:HOLD_SAMPLE]


@memoised
def recent_output_tokens(model: str) -> list[int]:
    return list(recent_answers(model))


def output_hold(*, model: str, row: AIModel | None, cap: int | None) -> Hold:
    """The output tokens a prompt to `model` is held at; `row` its catalogue row (read already), `cap`
    the conversation's max output tokens (None: none)."""
    maximum = row.max_output_tokens if row is not None and row.max_output_tokens else FALLBACK_OUTPUT_CAP
    ceiling = Hold(maximum, "maximum")
    if cap and cap <= maximum:
        ceiling = Hold(cap, "cap")
    if settings.BUDGET_HOLD == "worst":
        return ceiling
    recent = recent_output_tokens(model)
    if len(recent) >= HOLD_MIN_ANSWERS:
        held = Hold(nearest_rank(recent, HOLD_PERCENTILE), "recent", len(recent))
    else:
        typical = row.typical_output_tokens if row is not None else DEFAULT_TYPICAL_OUTPUT_TOKENS
        held = Hold(typical, "typical")
    return held if held.output_tokens < ceiling.output_tokens else ceiling


def hold_reason(hold: Hold, label: str) -> str:
    """Why a prompt is held at so many output tokens, for a refusal or a tooltip."""
    if hold.basis == "recent":
        return f"what 95 % of the last {hold.answers:,} answers of {label} here stayed within"
    if hold.basis == "typical":
        return f"a typical answer of {label}"
    if hold.basis == "cap":
        return "this conversation's max output tokens"
    return f"the most {label} can write"
