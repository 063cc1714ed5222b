"""Reads of the ledger for the usage dashboard, the Usage page and their CSV files.

Sums come from `DailyUsage` (one row per local day, user, model and status, written with each `Charge` by
`ledger.charge_record`; tests prove the two agree). `Charge` is read only for what a rollup cannot give:
generation-time percentiles, the most expensive attempts and spend per conversation. Days are local days of
settings.TIME_ZONE, as the rollup counts them.

Every figure counts *charged attempts*: an upstream attempt that reported usage. A retried turn counts once
per attempt; an attempt that failed before reporting usage cost nothing and is not in the ledger.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from conversations.models import ROLLUP_COLUMNS, Charge, Conversation, DailyUsage, Turn, UserBudget

from .periods import Filters, Period, local_midnight, month_bounds, period_for, sqlite_index

ZERO = Decimal(0)
K = TypeVar("K")
# The rollup's counters, from the models' one list.
SUMMED = tuple(ROLLUP_COLUMNS)
TOKENS = tuple(name for name in ROLLUP_COLUMNS if name.endswith("_tokens"))
TOP_CHARGES = 20
CHART_DAYS_MAX = 62  # longer periods are charted per month
SMALL_SET = 20_000  # up to this many charges, the most expensive are sorted (else read in cost-index order)
# Up to this many charges, durations are read whole for the percentiles (about 0.1 s): cheaper than
# walking the duration index, which must step over every charge outside the period too.
READ_WHOLE = 150_000


# --- Figures ------------------------------------------------------------------------------


@dataclass(slots=True)  # added to thousands of times per page: slots make that cheaper
class Figures:
    """Sums over charged attempts."""

    charges: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal = ZERO
    provider_cost_usd: Decimal = ZERO
    duration_ms: int = 0
    failed: int = 0

    def add(self, row: dict[str, Any]) -> None:
        # Written out: called once per rollup group (thousands per page), a loop of setattr costs twice as much.
        get = row.get
        charges = get("charges") or 0
        self.charges += charges
        self.input_tokens += get("input_tokens") or 0
        self.cached_tokens += get("cached_tokens") or 0
        self.output_tokens += get("output_tokens") or 0
        self.reasoning_tokens += get("reasoning_tokens") or 0
        self.total_tokens += get("total_tokens") or 0
        self.cost_usd += get("cost_usd") or 0
        self.provider_cost_usd += get("provider_cost_usd") or 0
        self.duration_ms += get("duration_ms") or 0
        if "failed" in row:  # counted by the query
            self.failed += row["failed"] or 0
        elif get("status") == Turn.Status.FAILED:
            self.failed += charges

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.charges if self.charges else None


def _sums() -> dict[str, Sum]:
    return {name: Sum(name) for name in SUMMED}


def _daily(period: Period, filters: Filters) -> QuerySet[DailyUsage]:
    return filters.apply(DailyUsage.objects.filter(day__gte=period.start, day__lte=period.end))


def rollup_totals(start: date | None, end: date | None, filters: Filters = Filters()) -> Figures:  # noqa: B008
    """Sums of the charges of local days `start`..`end` (either may be open), read from the rollup."""
    rows = filters.apply(DailyUsage.objects.all())
    if start:
        rows = rows.filter(day__gte=start)
    if end:
        rows = rows.filter(day__lte=end)
    figures = Figures()
    for row in rows.values("status").annotate(**_sums()).order_by():
        figures.add(row)
    return figures


def charges_in(period: Period, filters: Filters = Filters()) -> QuerySet[Charge]:  # noqa: B008 (frozen)
    """The ledger rows of a period (the charges behind its figures)."""
    return filters.apply(Charge.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at))


@dataclass
class Row(Generic[K]):
    key: K
    label: str
    url: str
    figures: Figures = field(default_factory=Figures)


# Builds the link from a figure to the charges behind it (links.charges_url): given by the view.
Link = Callable[..., str]


def _to(link: Link | None, period: Period, filters: Filters, **narrower: Any) -> str:
    return link(period, filters, **narrower) if link else ""


@dataclass
class Report:
    period: Period
    filters: Filters
    totals: Figures
    statuses: list[Row[str]]
    users: list[Row[int | None]]
    models: list[Row[str]]
    matrix_models: list[str]
    matrix: list[tuple[Row[int | None], list[tuple[Decimal | None, str]]]]  # user row, (cost, link) per model
    days: list[Row[date]]
    chart_days: list[tuple[str, str, dict[str, Decimal]]]  # label, link, cost per model
    p50_ms: float | None
    p95_ms: float | None
    top: list[Charge]


def report(period: Period, filters: Filters = Filters(), *, link: Link | None = None) -> Report:  # noqa: B008
    """Every figure of the dashboard (two reads of the rollup, three of the ledger), each row with its `link`."""
    grouped = _daily(period, filters).values("user_id", "model", "status").annotate(**_sums()).order_by()
    # A long period reads the whole (user, model, status)-ordered index rather than sort a year of rows.
    with sqlite_index(DailyUsage._meta.db_table, "daily_by_user" if period.days > 92 else ""):
        rows = list(grouped)
    totals = Figures()
    by_status: dict[str, Figures] = {}
    by_user: dict[int | None, Figures] = {}
    by_model: dict[str, Figures] = {}
    cells: defaultdict[tuple[int | None, str], Figures] = defaultdict(Figures)
    index: dict[Any, Figures]
    for row in rows:
        totals.add(row)
        for index, key in ((by_status, row["status"]), (by_user, row["user_id"]), (by_model, row["model"])):
            index.setdefault(key, Figures()).add(row)
        cells[(row["user_id"], row["model"])].add(row)
    names = user_names(k for k in by_user if k is not None)

    def user_label(user_id: int | None) -> str:
        return names.get(user_id, f"user {user_id}") if user_id is not None else "(deleted users)"

    def by_cost(index: dict[K, Figures]) -> list[tuple[K, Figures]]:
        return sorted(index.items(), key=lambda item: (-item[1].cost_usd, str(item[0])))

    statuses = [Row(s, s, _to(link, period, filters, status=s), f) for s, f in by_status.items()]
    statuses.sort(key=lambda row: -row.figures.charges)
    users = [Row(u, user_label(u), _to(link, period, filters, user=u), f) for u, f in by_cost(by_user)]
    model_costs = by_cost(by_model)
    models = [Row(m, m, _to(link, period, filters, model=m), f) for m, f in model_costs]
    matrix_models = [m for m, _ in model_costs]
    matrix: list[tuple[Row[int | None], list[tuple[Decimal | None, str]]]] = [
        (
            row,
            [
                (cells[(row.key, m)].cost_usd, _to(link, period, filters, user=row.key, model=m))
                if (row.key, m) in cells
                else (None, "")
                for m in matrix_models
            ],
        )
        for row in users
    ]
    days, chart_days = _days(period, filters, matrix_models, link)
    p50, p95 = duration_percentiles(period, filters, count=totals.charges)
    return Report(
        period=period,
        filters=filters,
        totals=totals,
        statuses=statuses,
        users=users,
        models=models,
        matrix_models=matrix_models,
        matrix=matrix,
        days=days,
        chart_days=chart_days,
        p50_ms=p50,
        p95_ms=p95,
        top=top_charges(period, filters, count=totals.charges),
    )


def _days(
    period: Period, filters: Filters, models: list[str], link: Link | None
) -> tuple[list[Row[date]], list[tuple[str, str, dict[str, Decimal]]]]:
    """Per-day rows (every day of the period, newest first) and the chart's bars (per month when long)."""
    per_day: defaultdict[date, Figures] = defaultdict(Figures)
    stacks: defaultdict[date, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in _daily(period, filters).values("day", "model", "status").annotate(**_sums()).order_by():
        per_day[row["day"]].add(row)
        stacks[row["day"]][row["model"]] += row["cost_usd"] or ZERO
    every_day = [period.start + timedelta(days=i) for i in range(period.days)]
    days = [Row(d, d.isoformat(), _to(link, period, filters, day=d), per_day.get(d, Figures())) for d in every_day]
    days.reverse()
    chart: list[tuple[str, str, dict[str, Decimal]]] = []
    if period.days <= CHART_DAYS_MAX:
        for d in every_day:
            chart.append((d.strftime("%d %b"), _to(link, period, filters, day=d), dict(stacks.get(d, {}))))
    else:
        months: defaultdict[date, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        for d, costs in stacks.items():
            for model, cost in costs.items():
                months[d.replace(day=1)][model] += cost
        month = period.start.replace(day=1)
        while month <= period.end:
            first, last = month_bounds(month)
            narrowed = Period("custom", max(first, period.start), min(last, period.end))
            chart.append((month.strftime("%b %Y"), _to(link, narrowed, filters), dict(months.get(month, {}))))
            month = last + timedelta(days=1)
    return days, chart


def user_names(ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))


def duration_percentiles(
    period: Period,
    filters: Filters = Filters(),  # noqa: B008 (frozen)
    *,
    count: int | None = None,
) -> tuple[float, float] | tuple[None, None]:
    """Generation time p50 and p95 in ms (linear interpolation between closest ranks), or None.

    Exact, without loading a million durations: a small set is read whole; a large
    one gives each percentile with one ordered read that skips to its rank from the
    nearer end of the (duration_ms, created_at, user, model, status) index.
    `count` (the charges the rollup counted, if known) picks the way.
    """
    rows = charges_in(period, filters).filter(duration_ms__isnull=False)
    if count == 0:
        return None, None
    if count is not None and count <= READ_WHOLE:
        values = sorted(_durations(rows))
        if not values:
            return None, None
        return _interpolate(values, len(values), 0.5, 0), _interpolate(values, len(values), 0.95, 0)
    with sqlite_index(Charge._meta.db_table, "charge_duration"):
        if count is None:
            n = rows.count()
        else:  # the rollup counted them; only the few without a duration are looked up (nulls come first)
            n = count - charges_in(period, filters).filter(duration_ms__isnull=True).count()
        if not n:
            return None, None
        return _percentile(rows, n, 0.5), _percentile(rows, n, 0.95)


def _durations(rows: QuerySet[Charge]) -> QuerySet[Charge, int]:
    """`duration_ms` of each row: the callers' rows all have one (`duration_ms__isnull=False`)."""
    return cast("QuerySet[Charge, int]", rows.values_list("duration_ms", flat=True))


def _interpolate(values: list[int], n: int, q: float, offset: int) -> float:
    position = (n - 1) * q
    low = int(position)
    high = min(low + 1, n - 1)
    a, b = values[low - offset], values[high - offset]
    return a + (b - a) * (position - low)


def _percentile(rows: QuerySet[Charge], n: int, q: float) -> float:
    position = (n - 1) * q
    low = int(position)
    high = min(low + 1, n - 1)
    if low <= n - 1 - high:
        values = list(_durations(rows.order_by("duration_ms"))[low : high + 1])
    else:  # nearer the top: count down from the longest
        values = list(_durations(rows.order_by("-duration_ms"))[n - 1 - high : n - low])
        values.reverse()
    return _interpolate(values, n, q, low)


def top_charges(
    period: Period,
    filters: Filters = Filters(),  # noqa: B008 (frozen)
    limit: int = TOP_CHARGES,
    *,
    count: int | None = None,
) -> list[Charge]:
    """The most expensive charged attempts of the period (a large period reads the cost index from the top)."""
    rows = (
        charges_in(period, filters)
        .filter(cost_usd__isnull=False)
        .order_by("-cost_usd", "-id")
        .only(*TOP_FIELDS)[:limit]
    )
    large = count is None or count > SMALL_SET
    with sqlite_index(Charge._meta.db_table, "charge_cost" if large else ""):
        return list(rows)


TOP_FIELDS = (
    "id", "created_at", "user_id", "username", "conversation_id", "turn_id", "attempt", "model", "response_id",
    "status", "input_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "provider_cost_usd", "duration_ms",
)  # fmt: skip


# --- This month: pace and budgets ---------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    spent: Decimal
    projected: Decimal  # at the same pace until the month ends
    budget: Decimal | None
    month_label: str

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.spent >= self.budget

    @property
    def projected_over(self) -> bool:
        return self.budget is not None and self.projected > self.budget

    @property
    def percent(self) -> int | None:
        if self.budget is None:
            return None
        return 100 if self.budget <= 0 else int(self.spent * 100 / self.budget)


def month_pace(
    filters: Filters = Filters(),  # noqa: B008 (frozen)
    *,
    budget: Decimal | None = None,
    now: datetime | None = None,
) -> Pace:
    """This month's spend and where it ends if the month goes on at the pace it has had so far."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first, last = month_bounds(today)
    rows = filters.apply(DailyUsage.objects.filter(day__gte=first, day__lte=today))
    spent = rows.aggregate(cost=Sum("cost_usd"))["cost"] or ZERO
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    elapsed = max((now - start).total_seconds(), 3600.0)  # the first hour says little about a month
    fraction = Decimal(str(min(elapsed / (end - start).total_seconds(), 1.0)))
    projected = (spent / fraction).quantize(Decimal("0.01")) if spent else ZERO
    return Pace(spent=spent, projected=projected, budget=budget, month_label=f"{first:%B %Y}")


@dataclass(frozen=True)
class BudgetLine:
    user_id: int
    username: str
    budget: Decimal
    spent: Decimal
    reserved: Decimal
    percent: int
    url: str

    @property
    def over(self) -> bool:
        return self.spent >= self.budget

    @property
    def left(self) -> Decimal:
        return max(self.budget - self.spent - self.reserved, ZERO)


def users_near_budget(*, warning_percent: int, today: date | None = None, link: Link | None = None) -> list[BudgetLine]:
    """Users at or above `warning_percent` of their monthly budget, most used first.

    Three queries for every user at once; the budget rule is the one of
    `budgets.budget_for` (own row, unlimited, else BUDGET_MONTHLY_USD) and a test
    keeps the two in step.
    """
    today = today or timezone.localdate()
    first, _ = month_bounds(today)
    spent = dict(
        DailyUsage.objects.filter(day__gte=first, day__lte=today, user__isnull=False)
        .values("user_id")
        .annotate(cost=Sum("cost_usd"))
        .order_by()
        .values_list("user_id", "cost")
    )
    rows = {b.user_id: b for b in UserBudget.objects.filter(Q(user_id__in=spent) | Q(monthly_usd=0))}
    default = settings.BUDGET_MONTHLY_USD
    lines: list[tuple[int, Decimal, Decimal, int]] = []
    for user_id in set(spent) | set(rows):
        row = rows.get(user_id)
        if row is not None and row.unlimited:
            continue
        budget = row.monthly_usd if row is not None and row.monthly_usd is not None else default
        if budget is None:
            continue
        used = spent.get(user_id) or ZERO
        percent = 100 if budget <= 0 else int(used * 100 / budget)
        if percent >= warning_percent:
            lines.append((user_id, budget, used, percent))
    if not lines:
        return []
    ids = [line[0] for line in lines]
    names = user_names(ids)
    held = dict(
        Turn.objects.filter(status__in=Turn.ACTIVE, conversation__owner_id__in=ids)
        .values("conversation__owner_id")
        .annotate(total=Sum("estimate_usd"))
        .order_by()
        .values_list("conversation__owner_id", "total")
    )
    month = period_for("month", today=today)
    result = [
        BudgetLine(
            uid,
            names.get(uid, f"user {uid}"),
            budget,
            used,
            held.get(uid) or ZERO,
            percent,
            _to(link, month, Filters(user=str(uid))),
        )
        for uid, budget, used, percent in lines
    ]
    return sorted(result, key=lambda line: (-line.percent, line.username))


# --- One user's own usage ----------------------------------------------------------------


@dataclass
class UserUsage:
    period: Period
    totals: Figures
    days: list[Row[date]]
    chart_days: list[tuple[str, str, dict[str, Decimal]]]
    models: list[Row[str]]
    conversations: list[Row[uuid.UUID | None]]


def user_usage(user: User, period: Period) -> UserUsage:
    """A user's own spend: per day, per model (from the rollup) and per conversation (from the ledger)."""
    filters = Filters(user=str(user.pk))
    totals = Figures()
    per_model: defaultdict[str, Figures] = defaultdict(Figures)
    per_day: defaultdict[date, Figures] = defaultdict(Figures)
    stacks: defaultdict[date, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in _daily(period, filters).values("day", "model", "status").annotate(**_sums()).order_by():
        totals.add(row)
        per_model[row["model"]].add(row)
        per_day[row["day"]].add(row)
        stacks[row["day"]][row["model"]] += row["cost_usd"] or ZERO
    every_day = [period.start + timedelta(days=i) for i in range(period.days)]
    days = [Row(d, d.isoformat(), "", per_day.get(d, Figures())) for d in reversed(every_day)]
    chart = [(d.strftime("%d %b"), "", dict(stacks.get(d, {}))) for d in every_day]
    models = sorted((Row(m, m, "", f) for m, f in per_model.items()), key=lambda r: -r.figures.cost_usd)
    conversations: list[Row[uuid.UUID | None]] = []
    grouped = sorted(
        charges_in(period, filters)
        .values("conversation_id")
        .annotate(**{name: Sum(name) for name in SUMMED if name != "charges"}, charges=Count("id"))
        .order_by(),
        key=lambda row: -(row["cost_usd"] or ZERO),
    )
    titles = Conversation.objects.filter(owner=user).only("title").in_bulk([r["conversation_id"] for r in grouped])
    for row in grouped:
        figures = Figures()
        figures.add(row)
        conversation_id = row["conversation_id"]
        if conversation_id in titles:
            label, url = titles[conversation_id].title or "Untitled", titles[conversation_id].get_absolute_url()
        else:
            label, url = "(deleted conversation)", ""
        conversations.append(Row(conversation_id, label, url, figures))
    return UserUsage(period, totals, days, chart, models, conversations)


def unknown_usage(period: Period) -> tuple[int, Decimal]:
    """Charges of the period whose usage the provider sent unreadable (charged at their estimate): count, USD."""
    found = Charge.objects.filter(
        usage_unknown=True, created_at__gte=period.start_at, created_at__lt=period.end_at
    ).aggregate(n=Count("id"), usd=Sum("cost_usd"))
    return found["n"], found["usd"] or Decimal(0)
