"""Monthly budgets: what a user (or the whole instance) may spend, has spent, and has reserved.

Spend is read from the ledger's daily rollup (`DailyUsage`, kept in step with every
`Charge` in the same transaction), so it always equals the sum of this month's charges.
A prompt is refused *before* it is queued when this month's spend, plus the holds of
answers still running, plus its own hold would pass a budget. The hold is the whole input
at the input price plus the output tokens of holds.py (what answers of the model really
take, or with BUDGET_HOLD=worst the most they can) at the output price; running turns keep
theirs in `Turn.estimate_usd`. An answer that costs more is charged in full, so a month can
pass its budget by that one answer (`BudgetStatus.over_by`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from conversations.chat import selectors
from conversations.generation.request import attachment_tokens, conversation_input
from conversations.models import AIModel, Conversation, DailyUsage, Turn, UserBudget

from . import catalog, continuity, holds, pricing

ZERO = Decimal(0)
WARNING_PERCENT = 80
# Characters per token for text never sent yet. English averages about 4; fewer
# counts more tokens, so a budget errs on the safe side.
CHARS_PER_TOKEN = 3


class BudgetExceeded(Exception):
    """The prompt could pass a monthly budget; nothing was queued or sent."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BudgetStatus:
    budget: Decimal | None  # None: no budget
    spent: Decimal  # this month, from the ledger
    reserved: Decimal  # estimates of answers queued or running
    left: Decimal | None  # budget - spent - reserved, never below zero
    percent: int | None  # spent as a percentage of the budget
    warning: bool  # at or above WARNING_PERCENT
    over: bool  # spent has reached the budget
    whose: str = "your"  # "your" (the user's budget) or "the shared" (the instance's)

    @property
    def over_by(self) -> Decimal:
        """How far spend passed the budget (an answer that cost more than it was held at); 0 within it."""
        return max(self.spent - self.budget, ZERO) if self.budget is not None else ZERO


@dataclass(frozen=True)
class Estimate:
    input_tokens: int
    output_tokens: int
    usd: Decimal | None  # None: the catalogue has no price for the model
    reason: str = ""  # why so many output tokens (holds.hold_reason)
    capped: bool = True  # the output tokens are a cap the answer cannot pass (else: what it usually takes)


# --- Budgets --------------------------------------------------------------------


def budget_for(user: User) -> Decimal | None:
    """The user's monthly budget: their own row in the admin, else BUDGET_MONTHLY_USD; None: no budget."""
    row = UserBudget.objects.filter(user_id=user.pk).first()
    if row is not None:
        if row.unlimited:
            return None
        if row.monthly_usd is not None:
            return row.monthly_usd
    return settings.BUDGET_MONTHLY_USD


def instance_budget() -> Decimal | None:
    """The monthly budget of the whole instance (INSTANCE_BUDGET_MONTHLY_USD); None: no budget."""
    return settings.INSTANCE_BUDGET_MONTHLY_USD


# --- Spend and reservations ------------------------------------------------------


def month_start(today: date | None = None) -> date:
    return (today or timezone.localdate()).replace(day=1)


def spend_this_month(user: User | None = None, *, today: date | None = None) -> Decimal:
    """USD charged this month (local time) to `user`, or to everyone when user is None.

    Reads the daily rollup, which is written in the same transaction as each charge:
    it equals the sum of this month's `Charge.cost_usd` (a charge of unknown cost adds 0).
    """
    today = today or timezone.localdate()
    rows = DailyUsage.objects.filter(day__gte=month_start(today), day__lte=today)
    if user is not None:
        rows = rows.filter(user_id=user.pk)
    return rows.aggregate(total=Sum("cost_usd"))["total"] or ZERO


def reserved(user: User | None = None, *, exclude_turn_id: uuid.UUID | None = None) -> Decimal:
    """The estimates of turns queued or running (of `user`, or everyone's)."""
    turns = Turn.objects.filter(status__in=Turn.ACTIVE)
    if user is not None:
        turns = turns.filter(conversation__owner_id=user.pk)
    if exclude_turn_id is not None:
        turns = turns.exclude(id=exclude_turn_id)
    return turns.aggregate(total=Sum("estimate_usd"))["total"] or ZERO


def _status(budget: Decimal | None, spent: Decimal, held: Decimal) -> BudgetStatus:
    if budget is None:
        return BudgetStatus(None, spent, held, None, None, False, False)
    percent = 100 if budget <= 0 else int(spent * 100 / budget)
    return BudgetStatus(
        budget=budget,
        spent=spent,
        reserved=held,
        left=max(budget - spent - held, ZERO),
        percent=percent,
        warning=percent >= WARNING_PERCENT,
        over=spent >= budget,
    )


def status_for(user: User) -> BudgetStatus:
    """The user's budget, spend this month, reservations and what is left."""
    budget = budget_for(user)
    if budget is None:
        return BudgetStatus(None, spend_this_month(user), ZERO, None, None, False, False)
    return _status(budget, spend_this_month(user), reserved(user))


def instance_status() -> BudgetStatus:
    """The same for the whole instance."""
    budget = instance_budget()
    return _status(budget, spend_this_month(), reserved() if budget is not None else ZERO)


def composer_status(user: User) -> BudgetStatus | None:
    """The budget to show beside the composer: the user's, or the instance's when it leaves less.

    None when no budget applies. `whose` tells which one it is.
    """
    shown = []
    if budget_for(user) is not None:
        shown.append(status_for(user))
    if instance_budget() is not None:
        shown.append(replace(instance_status(), whose="the shared"))
    # Each has a budget, so a `left`.
    return min(shown, key=lambda status: cast(Decimal, status.left)) if shown else None


# --- Estimates and the check ------------------------------------------------------


def _tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def _input_tokens(turn: Turn, files: int = 0, shown: Sequence[Turn] | None = None) -> int:
    """What sending `turn` takes in: the previous answered turn on its path (its actual input + output
    tokens) plus this prompt, or (a first turn, or no usage known) a character count of everything sent.

    `turn` may be a draft not saved yet (its conversation, prompt and parent): a prompt priced before
    the transaction that accepts it (`turn_quote`), with `files`: the input tokens of its files.
    `shown`: the end of the draft's path, first turn first, as a page read it (with their attachments):
    counted from those rows when they hold the answer."""
    if turn.parent_id is None:  # a first turn: the instructions, its prompt and its files are all that is sent
        return _tokens(turn.conversation.instructions) + _tokens(turn.prompt) + _file_tokens(turn, [], files)
    counted = _input_tokens_shown(turn, shown, files) if shown is not None else None
    if counted is not None:
        return counted
    path = selectors.turn_path(turn)  # only the versions on screen are sent
    answered = Turn.objects.filter(
        pk__in=path, status=Turn.Status.COMPLETED, input_tokens__isnull=False, output_tokens__isnull=False
    )
    # Both counts are there (the filter above).
    usage = {
        row[0]: cast(tuple[int, int], row[1:]) for row in answered.values_list("id", "input_tokens", "output_tokens")
    }
    previous = next((usage[turn_id] for turn_id in reversed(path) if turn_id in usage), None)
    if previous is not None:
        return previous[0] + previous[1] + _tokens(turn.prompt) + _file_tokens(turn, [], files)
    sent = [
        turn.conversation.instructions,
        *(item["content"] for item in conversation_input(turn, files=False, path=path)),
    ]
    return sum(_tokens(text) for text in sent) + _file_tokens(turn, path, files)


def _input_tokens_shown(draft: Turn, path: Sequence[Turn], files: int) -> int | None:
    """`_input_tokens` of a draft following `path` (the end of its path, read with their attachments): the
    same rule, counted from the rows in hand; None when they do not hold the answer (no answer with usage
    among them, and turns above them)."""
    completed = [turn for turn in path if turn.status == Turn.Status.COMPLETED]
    answered = [turn for turn in completed if turn.input_tokens is not None and turn.output_tokens is not None]
    if answered:
        return (
            cast(int, answered[-1].input_tokens) + cast(int, answered[-1].output_tokens) + _tokens(draft.prompt) + files
        )
    if not path or path[0].parent_id is not None:  # turns above these: not all of what is sent
        return None
    sent = [draft.conversation.instructions, *(text for turn in completed for text in (turn.prompt, turn.output_text))]
    file_tokens = sum(row.tokens for turn in path for row in turn.attachments.all())
    return sum(_tokens(text) for text in [*sent, draft.prompt]) + file_tokens + files


def _file_tokens(turn: Turn, path: list, files: int) -> int:
    """The files of `path` and of `turn`: its rows once saved, else `files` (a draft's, not attached yet)."""
    turns = path if turn._state.adding else [*path, turn.pk]
    return (attachment_tokens(turns) if turns else 0) + files


def _priced(model: str, row: AIModel | None, cap: int | None, input_tokens: int) -> Estimate:
    """`input_tokens`, uncached, plus the output tokens of the hold rule (holds.py), at `row`'s prices."""
    hold = holds.output_hold(model=model, row=row, cap=cap)
    return Estimate(
        input_tokens,
        hold.output_tokens,
        pricing.estimate(prices=catalog.prices_of(row), input_tokens=input_tokens, output_tokens=hold.output_tokens),
        holds.hold_reason(hold, str(row) if row else model),
        capped=hold.basis in ("cap", "maximum"),
    )


def estimate(turn: Turn) -> Estimate:
    """What this turn's next attempt is held at: its whole input (`_input_tokens`), uncached, plus the
    output tokens of the hold rule (holds.py), at the model's prices."""
    conversation = turn.conversation
    row = catalog.model_get(conversation.model)
    return _priced(conversation.model, row, conversation.max_output_tokens, _input_tokens(turn))


@dataclass(frozen=True)
class Quote:
    """A prompt's hold and the user's budget, read before the transaction that reserves it (`turn_quote`),
    so that transaction, which locks the user's budget, only compares and writes (`turn_reserve`)."""

    found: Estimate
    budget: Decimal | None  # the owner's (budget_for)


def turn_quote(*, turn: Turn, row: AIModel | None, files: int = 0) -> Quote:
    """What `turn` (saved, or a draft: its conversation, prompt and parent) will be held at, read outside
    any transaction. `row`: the conversation's model's catalogue row, read once by the caller. A retired
    model is priced as its successor, since the prompt goes there (continuity.turn_continue, called
    with the same row where it is accepted). `files`: the input tokens of a draft's files (attachments'
    `tokens`), which are attached only in that transaction."""
    conversation = turn.conversation
    model, cap = conversation.model, conversation.max_output_tokens
    successor = catalog.continuation(model, row=row) if row is not None else None
    if successor is not None:
        cap = continuity.switch_fields(conversation, successor).get("max_output_tokens", cap)
        model, row = successor.provider_id, successor
    return Quote(_priced(model, row, cap, _input_tokens(turn, files)), budget_for(conversation.owner))


def usd(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:,.4f}"


def _serialize(key: int) -> None:
    """On PostgreSQL, one budget check at a time per key until the transaction ends.

    SQLite needs nothing: its write transactions (IMMEDIATE) already run one at a time.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0xB0D6, key % 2_147_483_647])


def turn_reserve(*, turn: Turn, quote: Quote | None = None) -> Estimate:
    """Refuse the turn if its hold could pass a budget, else reserve the hold on it.

    Call inside the transaction that queues the turn: a BudgetExceeded rolls the
    turn back, so nothing is queued and nothing is sent. `quote`: the hold as `turn_quote` read it
    before that transaction (for this turn's conversation, prompt and parent); else it is read here.
    """
    found = quote.found if quote is not None else estimate(turn)
    owner = turn.conversation.owner
    cost = found.usd or ZERO  # a model without prices cannot be priced, nor charged
    own = quote.budget if quote is not None else budget_for(owner)
    checks: list[tuple[str, Decimal | None, User | None]] = [("your monthly budget", own, owner)]
    checks.append(("this instance's monthly budget", instance_budget(), None))
    for name, budget, user in checks:
        if budget is None:
            continue
        _serialize(user.pk if user is not None else 0)
        spent = spend_this_month(user)
        held = reserved(user, exclude_turn_id=turn.pk)
        if spent + held + cost > budget:
            raise BudgetExceeded(_refusal(name, budget, spent, held, found, _hint(turn)))
    if turn.estimate_usd != found.usd:  # a new turn is inserted with its quote's hold (chat/services.py)
        Turn.objects.filter(pk=turn.pk).update(estimate_usd=found.usd)
        turn.estimate_usd = found.usd
    return found


def _hint(turn: Turn) -> str:
    """What the user can do: a lower output cap (in an existing conversation's settings), or a larger budget."""
    if Turn.objects.filter(conversation_id=turn.conversation_id).exclude(pk=turn.pk).exists():
        return "Lower this conversation's max output tokens in its settings, or ask an admin to raise the budget."
    return (
        "Set a lower max output tokens for the new chat (Answer settings, under the prompt), or ask an admin to "
        "raise the budget."
    )


def _refusal(name: str, budget: Decimal, spent: Decimal, held: Decimal, found: Estimate, hint: str) -> str:
    running = f", plus {usd(held)} reserved by answers still running" if held else ""
    tokens = f"about {found.input_tokens:,} input tokens and {'up to ' if found.capped else ''}"
    tokens += f"{found.output_tokens:,} output tokens{', ' + found.reason if found.reason else ''}"
    cost = f"could cost up to {usd(found.usd)}" if found.capped else f"is held at {usd(found.usd)} while it runs"
    return (
        f"Not sent: this prompt {cost} ({tokens}), and {usd(spent)} of {name} of {usd(budget)} "
        f"is spent this month{running}. {hint}"
    )


# --- The composer's estimate of the next prompt -------------------------------------


@dataclass(frozen=True)
class ComposerCost:
    """What the next prompt may cost, as the composer shows it; static/js/cost.js recomputes it as the
    user types, from these figures: input tokens sent besides the prompt, plus the typed characters /
    `chars_per_token`, at the input price, plus the model's hold at the output price (what
    `turn_reserve` holds)."""

    model: str  # the model the next prompt goes to (a new chat: the default one)
    input_tokens: int
    models: dict[str, dict[str, Any]]  # per model: "input" and "output" price (USD / 1M), "hold", "why"
    chars_per_token: int = CHARS_PER_TOKEN

    @property
    def usd(self) -> Decimal | None:
        """With nothing typed yet."""
        shown = self.models.get(self.model)
        if shown is None or shown["input"] is None or shown["output"] is None:
            return None
        prices = pricing.Prices(Decimal(shown["input"]), None, Decimal(shown["output"]))
        return pricing.estimate(prices=prices, input_tokens=self.input_tokens, output_tokens=shown["hold"])

    @property
    def models_json(self) -> str:
        return json.dumps(self.models, separators=(",", ":"))


def _model_cost(model: str, row: AIModel | None, cap: int | None) -> dict[str, Any]:
    hold = holds.output_hold(model=model, row=row, cap=cap)
    prices = catalog.prices_of(row)
    return {
        "input": str(prices.input) if prices.known else None,
        "output": str(prices.output) if prices.known else None,
        "hold": hold.output_tokens,
        "why": holds.hold_reason(hold, str(row) if row else model),
    }


def composer_cost(
    *,
    conversation: Conversation | None = None,
    leaf: uuid.UUID | None = None,
    shown: Sequence[Turn] | None = None,
    models: Sequence[AIModel] = (),
    model: str = "",
) -> ComposerCost:
    """The composer's figures: of a conversation's next prompt after `leaf` (the last turn on screen),
    or of a new chat's first one on any of `models` (the model picker's; `model` the one it shows).
    `shown`: the end of the path to `leaf` as the page read it (with the turns' attachments)."""
    if conversation is None:
        return ComposerCost(
            model=model or catalog.default_model_id(),
            input_tokens=0,  # a new chat has no instructions yet
            models={row.provider_id: _model_cost(row.provider_id, row, None) for row in models},
        )
    row = catalog.model_get(conversation.model)
    # A retired model hands over at the next prompt: that prompt is priced at the successor's prices.
    successor = catalog.continuation(conversation.model, row=row)
    model, row = (successor.provider_id, successor) if successor is not None else (conversation.model, row)
    following = Turn(conversation=conversation, prompt="", parent_id=leaf)  # not saved: the prompt to come
    return ComposerCost(
        model=model,
        input_tokens=_input_tokens(following, shown=shown),
        models={model: _model_cost(model, row, conversation.max_output_tokens)},
    )


def about_usd(value: Decimal) -> str:
    """An estimate in dollars and cents, as the composer shows it (static/js/cost.js writes the same)."""
    if value < Decimal("0.005"):
        return "less than $0.01"
    return f"${value:,.2f}"
