"""The model catalogue: which models exist, what they cost, which parameters they take.

The `AIModel` table is the one source; settings forms, request bodies and cost
all read it. It is seeded from the environment (`AIMLAPI_MODEL`, `AIMLAPI_MODELS`,
`AIMLAPI_PRICES`) on every `migrate`, which only adds models that are missing:
once a row exists, the admin's edits win over the environment.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.utils import timezone

from aimlweb.request_memo import memoised

from .pricing import NO_PRICES, Prices

if TYPE_CHECKING:  # annotations only: the functions import it where they read it, as before
    from conversations.models import AIModel

# AI/ML API list prices, USD per 1M tokens (docs: shared/docs/responses-api.md, §11 and addendum).
KNOWN_MODELS = {
    "openai/gpt-5-pro": {
        "label": "GPT-5 Pro",
        "input_price": Decimal("20.631"),
        "cached_input_price": None,  # no cached-input discount
        "output_price": Decimal("165.048"),
        "reasoning_efforts": "",  # always high; the field is never sent
        "max_output_tokens": 272_000,
        # AI/ML API documents no `reasoning` request field for it: off (one switch in the admin to try it).
        "reasoning_summaries": False,
        "retires_on": date(2026, 12, 11),
        "successor": "openai/gpt-5.6-sol-pro",
    },
    # Documented on /v1/chat/completions only (shared/docs/responses-api.md, Addendum B).
    "openai/gpt-5.6-sol-pro": {
        "label": "GPT-5.6 Sol Pro",
        "api": "chat",
        "input_price": Decimal("5.5016"),
        "cached_input_price": Decimal("0.55016"),
        "output_price": Decimal("27.508"),
        "reasoning_efforts": "none,low,medium,high",
        "max_output_tokens": 272_000,
        "reasoning_summaries": True,  # its page's example answer carries `message.reasoning`
    },
}


def env_prices(raw: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Parse `AIMLAPI_PRICES` ("model=input:output;...")."""
    prices = {}
    for entry in raw.split(";"):
        if "=" in entry:
            model, _, rates = entry.strip().partition("=")
            input_rate, _, output_rate = rates.partition(":")
            prices[model.strip()] = (Decimal(input_rate), Decimal(output_rate))
    return prices


def seed(model_class: type[AIModel]) -> int:
    """Add the environment's models (and the successors they name) that the table lacks.

    Takes the model class so the data migration can pass its historical model.
    Returns how many rows were added. Existing rows are never changed.
    """
    wanted = [settings.AIMLAPI_MODEL, *settings.AIMLAPI_MODELS]
    wanted += [KNOWN_MODELS[m]["successor"] for m in wanted if KNOWN_MODELS.get(m, {}).get("successor")]
    prices = env_prices(settings.AIMLAPI_PRICES)
    # An older (migration's) model class may lack columns added since: seed only the ones it has.
    columns = {field.name for field in model_class._meta.get_fields()}
    added = 0
    for provider_id in dict.fromkeys(wanted):
        known = {name: value for name, value in KNOWN_MODELS.get(provider_id, {}).items() if name in columns}
        known.pop("successor", None)
        if provider_id in prices:
            known["input_price"], known["output_price"] = prices[provider_id]
        enabled = provider_id in settings.AIMLAPI_MODELS or provider_id == settings.AIMLAPI_MODEL
        _, created = model_class.objects.get_or_create(
            provider_id=provider_id, defaults={**known, "enabled": enabled, "label": known.get("label", "")}
        )
        added += created
    for provider_id, known in KNOWN_MODELS.items():
        if known.get("successor"):
            successor = model_class.objects.filter(provider_id=known["successor"]).first()
            model_class.objects.filter(provider_id=provider_id, successor__isnull=True).update(successor=successor)
    if not model_class.objects.filter(is_default=True).exists():
        model_class.objects.filter(provider_id=settings.AIMLAPI_MODEL).update(is_default=True)
    return added


# --- Reads (the app's models, not the migration's) -------------------------------


@memoised
def catalogue() -> dict[str, AIModel]:
    """Every catalogue row by model id, each row's `successor` one of the same rows: one query.

    The catalogue is a handful of rows that most pages read several ways (the enabled models, the
    default, one model's row, every label): read whole, once per request (request_memo), rather than
    a query for each way (benchmarks.push: two to three catalogue queries a page before).
    """
    from conversations.models import AIModel

    rows = list(AIModel.objects.order_by("-is_default", "provider_id"))
    by_pk = {row.pk: row for row in rows}
    for row in rows:
        # Set from the rows already read (a successor is a row of the same table): no query, and
        # `row.successor` is the very object `catalogue()[its id]` returns.
        row.successor = by_pk.get(row.successor_id) if row.successor_id else None
    return {row.provider_id: row for row in rows}


def models_enabled() -> list[AIModel]:
    """The models an admin enabled, the default first, then by id."""
    return [row for row in catalogue().values() if row.enabled]


def model_get(provider_id: str) -> AIModel | None:
    """The catalogue row of a model id, or None for a model the catalogue does not know."""
    return catalogue().get(provider_id)


def labels() -> dict[str, str]:
    """{provider_id: label (or the id when it has none)} of every catalogued model."""
    return {provider_id: row.label or provider_id for provider_id, row in catalogue().items()}


def model_echoed(echoed: str, known: dict[str, str]) -> str:
    """The catalogue id of a model name as the provider echoes it, or "" when none matches.

    The provider may drop the "openai/" prefix or name a dated snapshot
    ("gpt-5-pro-2025-10-06"): the longest catalogue id it equals or extends wins.
    `known` is `labels()` (read once per page).
    """
    if not echoed:
        return ""
    best, best_length = "", 0
    for provider_id in known:
        for name in (provider_id, provider_id.split("/", 1)[-1]):
            if (echoed == name or echoed.startswith(name + "-")) and len(name) > best_length:
                best, best_length = provider_id, len(name)
    return best


def default_model_id() -> str:
    """The enabled model marked default, else AIMLAPI_MODEL."""
    row = next((row for row in catalogue().values() if row.is_default and row.enabled), None)
    return row.provider_id if row else settings.AIMLAPI_MODEL


def prices_for(provider_id: str) -> Prices:
    return prices_of(model_get(provider_id))


def prices_of(row: AIModel | None) -> Prices:
    """The prices of a catalogue row already read (none for a model the catalogue does not know)."""
    if row is None:
        return NO_PRICES
    return Prices(row.input_price, row.cached_input_price, row.output_price)


def accepted_efforts(provider_id: str) -> list[str]:
    """The reasoning.effort values the model accepts; empty means never send the field."""
    row = model_get(provider_id)
    return row.efforts if row else []


# --- Retirement ----------------------------------------------------------------

# Admins are told this many days before a model's retirement date.
RETIREMENT_NOTICE_DAYS = 14


def models_retiring(today: date | None = None) -> list[AIModel]:
    """Enabled models retiring within RETIREMENT_NOTICE_DAYS, or already retired, soonest first.

    Each row gets `retired` (the date has come) and `days_left`, for the admins' banner.
    """
    from conversations.models import AIModel

    today = today or timezone.localdate()
    rows = list(
        AIModel.objects.select_related("successor")
        .filter(enabled=True, retires_on__lte=today + timedelta(days=RETIREMENT_NOTICE_DAYS))
        .order_by("retires_on", "provider_id")
    )
    for row in rows:
        row.days_left = (cast(date, row.retires_on) - today).days  # the filter: a date
        row.retired = row.days_left <= 0
    return rows


def api_for(provider_id: str) -> str:
    """The endpoint that answers a model: the catalogue's `api`; Responses for a model it does not know."""
    from conversations.models import AIModel

    row = model_get(provider_id)
    return row.api if row is not None and row.api else AIModel._meta.get_field("api").default


def is_retired(row: AIModel, today: date | None = None) -> bool:
    return row.retires_on is not None and row.retires_on <= (today or timezone.localdate())


# A successor may itself have retired (5 -> 5.6 -> 6): followed this far at most (and never round a loop).
SUCCESSOR_HOPS = 5


def continuation(
    provider_id: str, *, gone: bool = False, today: date | None = None, row: AIModel | None = None
) -> AIModel | None:
    """The model a conversation on `provider_id` continues with, or None to stay.

    From the model's retirement date on (or at once when the provider said it is gone), its
    enabled successor; a successor that has retired too hands on to its own. `row`: the model's
    catalogue row when the caller has read it already (with its successor).
    """
    row = row if row is not None else model_get(provider_id)
    if row is None or not (gone or is_retired(row, today)):
        return None
    seen = {provider_id}
    target = None
    while row is not None and len(seen) <= SUCCESSOR_HOPS:
        successor = row.successor
        if successor is None or not successor.enabled or successor.provider_id in seen:
            break
        seen.add(successor.provider_id)
        target = successor
        if not is_retired(successor, today):
            break
        row = successor  # retired too: its own successor (the rows are read whole)
    return target


def successor_offer(provider_id: str, *, deprecated: bool = False, today: date | None = None) -> AIModel | None:
    """The model a conversation on `provider_id` is offered to switch to, or None.

    Offered once the model's retirement date has come, or as soon as the provider
    said it is deprecated; only an enabled successor is offered.
    """
    return continuation(provider_id, gone=deprecated, today=today)
