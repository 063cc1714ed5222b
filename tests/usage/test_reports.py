"""The ledger reads behind the usage dashboard and Usage page: every figure equals the charges behind it."""

import io
import xml.etree.ElementTree as ET  # noqa: S405 (our own SVG)
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count, F, Sum
from django.utils import timezone

from conversations.models import Charge, Conversation, DailyUsage, Turn, UserBudget
from conversations.usage import budgets, charts, periods, reports
from conversations.usage.admin_filters import distinct_values
from tests.factories import PRO, SOL, at, charge
from tests.helpers import SUMMED, expected, figures, q6

D = Decimal


def test_every_figure_of_the_report_equals_the_charges_behind_it(ledger):
    today = ledger["today"]
    for key in ("today", "yesterday", "7d", "30d", "month", "last_month", "12m"):
        period = periods.period_for(key, today=today)
        data = reports.report(period)
        in_period = reports.charges_in(period)
        assert figures(data.totals) == expected(in_period), key
        for row in data.users:
            rows = in_period.filter(user__isnull=True) if row.key is None else in_period.filter(user_id=row.key)
            assert figures(row.figures) == expected(rows), (key, row.label)
        for row in data.models:
            assert figures(row.figures) == expected(in_period.filter(model=row.key))
        for row in data.statuses:
            assert figures(row.figures) == expected(in_period.filter(status=row.key))
        for row in data.days:
            day_rows = in_period.filter(created_at__gte=at(row.key, 0), created_at__lt=at(row.key + timedelta(1), 0))
            assert figures(row.figures) == expected(day_rows)
        for user_row, cells in data.matrix:
            for model, (cost, _url) in zip(data.matrix_models, cells, strict=True):
                users = in_period.filter(user__isnull=True) if user_row.key is None else in_period.filter(
                    user_id=user_row.key)  # fmt: skip
                rows = users.filter(model=model)
                assert (q6(cost) if cost is not None else None) == (
                    q6(rows.aggregate(c=Sum("cost_usd"))["c"]) if rows.exists() else None
                )
    # Every charged attempt of the 40 days, the deleted user's included.
    data = reports.report(periods.period_for("custom", start=today - timedelta(days=40), end=today))
    assert data.totals.charges == 9
    assert [row.label for row in data.users if row.key is None] == ["(deleted users)"]


def test_filters_narrow_every_figure(ledger):
    period = periods.period_for("30d", today=ledger["today"])
    for filters, rows in [
        (periods.Filters(user=str(ledger["ann"].pk)), Charge.objects.filter(user=ledger["ann"])),
        (periods.Filters(user=periods.DELETED), Charge.objects.filter(user__isnull=True)),
        (periods.Filters(model=SOL), Charge.objects.filter(model=SOL)),
        (periods.Filters(status="failed"), Charge.objects.filter(status="failed")),
        (periods.Filters(user=str(ledger["ben"].pk), model=PRO), Charge.objects.filter(user=ledger["ben"], model=PRO)),
    ]:
        data = reports.report(period, filters)
        in_period = rows.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
        assert figures(data.totals) == expected(in_period), filters
        assert {c.pk for c in data.top} == set(in_period.exclude(cost_usd=None).values_list("pk", flat=True))


def test_the_rollup_equals_the_ledger_row_for_row(ledger):
    by_key = defaultdict(lambda: defaultdict(int))
    for c in Charge.objects.all():
        row = by_key[(timezone.localdate(c.created_at), c.user_id, c.model, c.status)]
        row["charges"] += 1
        for name in (*SUMMED, "provider_cost_usd", "duration_ms"):
            row[name] += getattr(c, name) or 0
    rollup = {
        (r.day, r.user_id, r.model, r.status): {
            "charges": r.charges,
            **{name: getattr(r, name) for name in (*SUMMED, "provider_cost_usd", "duration_ms")},
        }
        for r in DailyUsage.objects.all()
    }
    assert {k: {n: q6(v) for n, v in row.items()} for k, row in by_key.items()} == {
        k: {n: q6(v) for n, v in row.items()} for k, row in rollup.items()
    }


def test_days_are_local_days_of_the_time_zone(db, settings):
    settings.TIME_ZONE = "America/New_York"
    user = User.objects.create_user("night", password="pw-usage-1")
    # 02:30 UTC on 10 January is 21:30 on 9 January in New York.
    when = datetime(2026, 1, 10, 2, 30, tzinfo=UTC)
    charge(user, when=when, cost=D("0.500000"))
    ninth = periods.period_for("custom", start=date(2026, 1, 9), end=date(2026, 1, 9))
    tenth = periods.period_for("custom", start=date(2026, 1, 10), end=date(2026, 1, 10))
    assert reports.report(ninth).totals.charges == 1
    assert reports.report(tenth).totals.charges == 0
    assert reports.charges_in(ninth).count() == 1
    assert ninth.start_at.utcoffset() == timedelta(hours=-5)


def test_periods_by_their_picker_key():
    today = date(2026, 1, 15)
    p = {
        k: periods.period_for(k, today=today) for k in ("today", "yesterday", "7d", "30d", "month", "last_month", "12m")
    }
    assert (p["today"].start, p["today"].end) == (today, today)
    assert (p["yesterday"].start, p["yesterday"].end) == (date(2026, 1, 14), date(2026, 1, 14))
    assert (p["7d"].start, p["7d"].days) == (date(2026, 1, 9), 7)
    assert (p["30d"].start, p["30d"].days) == (date(2025, 12, 17), 30)
    assert (p["month"].start, p["month"].end) == (date(2026, 1, 1), today)
    assert (p["last_month"].start, p["last_month"].end) == (date(2025, 12, 1), date(2025, 12, 31))
    assert (p["12m"].start, p["12m"].end) == (date(2025, 2, 1), today)
    custom = periods.period_for("custom", start=date(2026, 2, 1), end=date(2026, 2, 28))
    assert (custom.days, custom.label) == (28, "01 Feb 2026 – 28 Feb 2026")
    for start, end in [(None, date(2026, 1, 1)), (date(2026, 2, 2), date(2026, 2, 1))]:
        with pytest.raises(ValueError):
            periods.period_for("custom", start=start, end=end)
    with pytest.raises(ValueError):
        periods.period_for("forever")


def test_generation_time_percentiles_are_exact_on_both_ways_of_reading(db, monkeypatch):
    user = User.objects.create_user("timer", password="pw-usage-1")
    today = timezone.localdate()
    seconds = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]
    for i, s in enumerate(seconds):
        charge(user, when=at(today, hour=1 + i % 20), seconds=s, model=PRO if i % 2 else SOL)
    charge(user, when=at(today, hour=22), seconds=None)  # no start time: no duration, not counted

    def reference(values, q):
        values = sorted(values)
        pos = (len(values) - 1) * q
        low = int(pos)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (pos - low)

    period = periods.period_for("today")
    durations = [s * 1000 for s in seconds]
    want = (reference(durations, 0.5), reference(durations, 0.95))
    counted = len(seconds) + 1  # as the rollup counts them: the one without a duration too
    assert reports.duration_percentiles(period, count=counted) == pytest.approx(want)  # read whole
    monkeypatch.setattr(reports, "READ_WHOLE", 0)  # as with a million charges: read in index order
    assert reports.duration_percentiles(period, count=None) == pytest.approx(want)
    assert reports.duration_percentiles(period, count=counted) == pytest.approx(want)
    odd = [d for i, d in enumerate(durations) if i % 2]
    want_pro = (reference(odd, 0.5), reference(odd, 0.95))
    assert reports.duration_percentiles(period, periods.Filters(model=PRO)) == pytest.approx(want_pro)
    assert reports.duration_percentiles(period, periods.Filters(model=PRO), count=11) == pytest.approx(want_pro)
    assert reports.report(period).p50_ms == pytest.approx(want[0])
    assert reports.duration_percentiles(periods.period_for("yesterday")) == (None, None)


def test_the_most_expensive_attempts_come_first_on_both_ways_of_reading(db):
    user = User.objects.create_user("spender", password="pw-usage-1")
    today = timezone.localdate()
    costs = [D("0.5"), D("3.25"), None, D("1.75"), D("0.01"), D("3.25")]
    made = [charge(user, when=at(today, hour=2 + i), cost=c) for i, c in enumerate(costs)]
    charge(user, when=at(today - timedelta(days=3)), cost=D("99"))  # outside the period
    period = periods.period_for("today")
    for count in (None, 6):
        top = reports.top_charges(period, limit=4, count=count)
        assert [c.cost_usd for c in top] == [D("3.25"), D("3.25"), D("1.75"), D("0.5")]
        assert {top[0].pk, top[1].pk} == {made[1].pk, made[5].pk}


def test_month_pace_projects_the_spend_to_the_end_of_the_month(ledger):
    now = timezone.now()
    pace = reports.month_pace(budget=D("1"), now=now)
    first = now.astimezone(timezone.get_current_timezone()).date().replace(day=1)
    spent = DailyUsage.objects.filter(day__gte=first).aggregate(c=Sum("cost_usd"))["c"] or 0
    assert q6(pace.spent) == q6(spent)
    start = periods.local_midnight(first)
    end = periods.local_midnight(periods.month_bounds(first)[1] + timedelta(days=1))
    fraction = max((now - start).total_seconds(), 3600) / (end - start).total_seconds()
    assert float(pace.projected) == pytest.approx(float(spent) / fraction, abs=0.01)
    assert pace.projected >= pace.spent
    assert pace.projected_over == (pace.projected > 1)
    assert reports.month_pace(budget=None).projected_over is False


def test_month_pace_halfway_through_a_month(db):
    user = User.objects.create_user("pacer", password="pw-usage-1")
    now = timezone.make_aware(datetime(2026, 4, 16, 0, 0))  # April: 30 days, 15 gone
    charge(user, when=timezone.make_aware(datetime(2026, 4, 3, 10)), cost=D("30"))
    pace = reports.month_pace(budget=D("50"), now=now)
    assert (pace.spent, pace.projected, pace.month_label) == (D("30"), D("60.00"), "April 2026")
    assert pace.projected_over and not pace.over_budget and pace.percent == 60


def test_users_near_budget_agree_with_budgets_status_for(ledger, settings):
    settings.BUDGET_MONTHLY_USD = D("1.00")
    ann, ben = ledger["ann"], ledger["ben"]
    dan = User.objects.create_user("dan", password="pw-usage-1")  # nothing spent
    eve = User.objects.create_user("eve", password="pw-usage-1")
    UserBudget.objects.create(user=eve, monthly_usd=D("0"))  # a zero budget: at 100 % with nothing spent
    UserBudget.objects.create(user=ben, unlimited=True)
    lines = {line.username: line for line in reports.users_near_budget(warning_percent=budgets.WARNING_PERCENT)}
    for user in (ann, ben, dan, eve):
        status = budgets.status_for(user)
        near = status.budget is not None and status.percent >= budgets.WARNING_PERCENT
        assert (user.username in lines) == near, user.username
        if near:
            line = lines[user.username]
            assert (q6(line.spent), line.budget, line.percent, line.over) == (
                q6(status.spent), status.budget, status.percent, status.over)  # fmt: skip
            assert line.left == status.left


def test_a_users_own_usage_per_day_model_and_conversation(ledger):
    ann = ledger["ann"]
    period = periods.period_for("30d")
    usage = reports.user_usage(ann, period)
    mine = reports.charges_in(period).filter(user=ann)
    assert figures(usage.totals) == expected(mine)
    assert {row.key: figures(row.figures) for row in usage.models} == {
        m: expected(mine.filter(model=m)) for m in set(mine.values_list("model", flat=True))
    }
    assert sum(row.figures.charges for row in usage.days) == mine.count()
    assert len(usage.conversations) == len({c.conversation_id for c in mine})
    kept = usage.conversations[0]
    Conversation.objects.filter(pk=kept.key).delete()  # deleted: the money stays on the page
    again = reports.user_usage(ann, period)
    assert figures(again.totals) == figures(usage.totals)
    assert "(deleted conversation)" in [row.label for row in again.conversations]


def test_seed_usage_writes_turns_charges_and_a_rollup_that_agree(db):
    call_command("seed_usage", turns=800, users=4, models=3, months=2, batch=150, seed=7, stdout=io.StringIO())
    assert Turn.objects.count() == 800
    # Each conversation is one line of turns, each following the one before.
    assert Turn.objects.filter(parent__isnull=True).count() == Conversation.objects.count()
    assert not Turn.objects.exclude(parent__isnull=True).exclude(parent__conversation_id=F("conversation_id")).exists()
    assert User.objects.filter(username__startswith="seed-user-").count() == 4
    assert User.objects.get(username="seed-admin").is_staff
    # The rollup is what charge_record would have written for these charges.
    totals = Charge.objects.aggregate(n=Count("id"), **{n: Sum(n) for n in SUMMED})
    rolled = DailyUsage.objects.aggregate(n=Sum("charges"), **{n: Sum(n) for n in SUMMED})
    assert {k: q6(v) for k, v in totals.items()} == {k: q6(v) for k, v in rolled.items()}
    for r in DailyUsage.objects.all()[:50]:
        rows = Charge.objects.filter(user_id=r.user_id, model=r.model, status=r.status,
                                     created_at__gte=periods.local_midnight(r.day),
                                     created_at__lt=periods.local_midnight(r.day + timedelta(1)))  # fmt: skip
        assert (rows.count(), q6(rows.aggregate(c=Sum("cost_usd"))["c"])) == (r.charges, q6(r.cost_usd))
    # A turn's current attempt is its last charge; a retried turn keeps the earlier one.
    retried = Turn.objects.filter(attempts=2).exclude(input_tokens=None).first()
    assert retried is not None and retried.history[0]["attempt"] == 1
    assert list(retried.charges.order_by("attempt").values_list("attempt", "status")) == [
        (1, "failed"),
        (2, retried.status),
    ]
    for turn in Turn.objects.exclude(input_tokens=None)[:50]:
        last = turn.charges.get(attempt=turn.attempts)
        assert (last.cost_usd, last.input_tokens, last.model) == (turn.cost_usd, turn.input_tokens, turn.model)
    assert not Charge.objects.filter(turn__input_tokens=None, attempt=1, turn__attempts=1).exists()


def test_distinct_values_skip_through_an_index(ledger):
    assert distinct_values(Charge, "model") == sorted({PRO, SOL})
    Turn.objects.filter(status="failed").update(error_code="server_error")
    Turn.objects.filter(status="cancelled").update(error_code="cancelled")
    assert distinct_values(Turn, "error_code", skip_empty=True) == ["cancelled", "server_error"]
    assert "" in distinct_values(Turn, "error_code")


def test_charts_are_valid_svg_with_a_link_and_a_title_per_bar():
    bars = [
        ("01 Nov", "/admin/x/?from=2026-11-01", {PRO: D("1.5"), SOL: D("0.25")}),
        ("02 Nov", "/admin/x/?from=2026-11-02", {}),
        ("<b>03</b>", "", {PRO: D("4")}),
    ]
    svg = charts.stacked_bars(bars, [PRO, SOL], title="Cost & more")
    root = ET.fromstring(str(svg))  # noqa: S314
    ns = {"s": "http://www.w3.org/2000/svg"}
    links = root.findall("s:a", ns)
    assert [a.get("href") for a in links] == ["/admin/x/?from=2026-11-01", "/admin/x/?from=2026-11-02"]
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert titles[0] == f"01 Nov: $1.75\n{PRO}: $1.50\n{SOL}: $0.2500"
    assert titles[2] == f"<b>03</b>: $4.00\n{PRO}: $4.00"  # escaped text, not markup
    assert root.get("aria-label") == "Cost & more"
    assert len(root.findall(".//s:rect[@class='series-0']", ns)) == 2
    assert charts.nice_ceiling(D("4")) == 5 and charts.nice_ceiling(D("0.031")) == D("0.05")
    top = charts.horizontal_bars([("ann", "/a", D("2")), ("ben", "", D("1"))], title="Top")
    top = ET.fromstring(str(top))  # noqa: S314
    assert [a.get("href") for a in top.findall("s:a", ns)] == ["/a"]


def test_money_axis_labels_are_short_and_exact():
    cases = {
        "0": "$0", "0.75": "$0.75", "0.7500": "$0.75", "0.5": "$0.5", "0.0025": "$0.0025", "0.625": "$0.625",
        "1": "$1", "12": "$12", "12.50": "$12.5", "1.25": "$1.25", "625": "$625", "1200": "$1.2k",
        "1250": "$1.25k", "2500": "$2.5k", "25000": "$25k", "1250000": "$1.25M", "1875": "$1.875k",
    }  # fmt: skip
    assert {value: charts.axis_usd(D(value)) for value in cases} == cases
    # The axis of a chart whose tallest bar is $2.40: ticks of a quarter of $2.50.
    svg = ET.fromstring(str(charts.stacked_bars([("01 Nov", "", {PRO: D("2.4")})], [PRO], title="t")))  # noqa: S314
    ticks = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.get("text-anchor") == "end"]
    assert ticks == ["$0", "$0.625", "$1.25", "$1.875", "$2.5"]
