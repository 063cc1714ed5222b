"""The usage dashboard, the Usage page and the usage admin: staff only, figures equal to the rows behind them,
links to exactly those rows, CSV, read-only accounting, and a number of queries that does not grow with the data."""

import csv
import html
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.chat.admin import TurnAdmin
from conversations.models import Charge, Conversation, Turn
from conversations.usage import periods, reports
from tests import factories
from tests.factories import PRO, SOL, at, charge
from tests.helpers import SUMMED, client_for, expected, figures, q6

D = Decimal
DASHBOARD_URLS = [
    "/usage/admin/",
    "/usage/admin/?period=12m&model=openai/gpt-5-pro",
    *(f"/usage/admin/csv/?period=30d&table={t}" for t in ("days", "users", "models", "matrix", "statuses", "top")),
]
ADMIN_URLS = [
    "/admin/conversations/turn/",
    "/admin/conversations/turn/export/",
    "/admin/conversations/charge/",
    "/admin/conversations/charge/export/",
    "/admin/conversations/conversation/",
]


@pytest.fixture
def boss(db):
    return User.objects.create_superuser("boss", password="pw-boss-123")


@pytest.fixture
def boss_client(boss):
    client = client_for(boss)
    return client


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig") if response.streaming else response.content.decode()


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body(response))))


# --- Access ---------------------------------------------------------------------------------------


def test_every_dashboard_url_is_for_staff_only(ledger, boss_client):
    member = client_for(ledger["ann"])
    staff = User.objects.create_user("desk", password="pw-desk-123", is_staff=True)  # staff without permissions
    staff_client = client_for(staff)
    for url in DASHBOARD_URLS:
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and anonymous.url.startswith("/login/?next="), url
        assert member.get(url).status_code == 404, url
        assert staff_client.get(url).status_code == 200, url
        assert boss_client.get(url).status_code == 200, url
    for url in ADMIN_URLS:
        for client in (Client(), member):
            response = client.get(url)
            assert response.status_code == 302 and response.url.startswith("/admin/login/"), url
            assert not response.streaming
    assert Client().get("/usage/").status_code == 302
    assert Client().get("/usage/").url.startswith("/login/")


# --- The dashboard ----------------------------------------------------------------------------------


def test_every_dashboard_figure_links_to_exactly_the_charges_behind_it(ledger, boss_client):
    response = boss_client.get("/usage/admin/?period=30d")
    page = response.content.decode()
    data = response.context["report"]
    period = data.period
    in_period = Charge.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)

    def deleted_or(key):
        return {"user__isnull": True} if key is None else {"user_id": key}

    behind = [(data.totals, response.context["charges_url"], in_period)]
    behind += [(r.figures, r.url, in_period.filter(**deleted_or(r.key))) for r in data.users]
    behind += [(r.figures, r.url, in_period.filter(model=r.key)) for r in data.models]
    behind += [(r.figures, r.url, in_period.filter(status=r.key)) for r in data.statuses]
    behind += [
        (r.figures, r.url, in_period.filter(created_at__gte=at(r.key, 0), created_at__lt=at(r.key + timedelta(1), 0)))
        for r in data.days
        if r.figures.charges
    ]
    assert len(behind) > 12
    for shown, url, rows in behind:
        assert html.escape(url) in page, url
        listing = boss_client.get(url)
        assert listing.status_code == 200, url
        listed = listing.context["cl"].queryset
        assert set(listed.values_list("pk", flat=True)) == set(rows.values_list("pk", flat=True)), url
        assert figures(shown) == expected(rows) == figures(listing.context["usage_sums"]), url
    for user_row, cells in data.matrix:
        for model, (cost, url) in zip(data.matrix_models, cells, strict=True):
            if not url:
                continue
            listing = boss_client.get(url)
            rows = in_period.filter(**deleted_or(user_row.key), model=model)
            assert set(listing.context["cl"].queryset.values_list("pk", flat=True)) == set(
                rows.values_list("pk", flat=True))  # fmt: skip
            assert q6(cost) == q6(rows.aggregate(c=Sum("cost_usd"))["c"]) == q6(listing.context["usage_sums"].cost_usd)
    # The failure rate and the most expensive turns link to their rows too.
    failed = boss_client.get(response.context["failed_url"])
    assert set(failed.context["cl"].queryset.values_list("status", flat=True)) == {"failed"}
    for top in data.top:
        assert f"/admin/conversations/charge/{top.pk}/change/" in page


def test_the_dashboard_answers_the_questions_an_admin_asks(ledger, boss_client, settings):
    today = ledger["today"]
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("2")
    settings.BUDGET_MONTHLY_USD = D("1.5")
    # Who spent what on which model last month: the matrix of the "last month" period.
    last = periods.period_for("last_month")
    response = boss_client.get("/usage/admin/?period=last_month")
    assert response.context["report"].period == last
    # What did yesterday cost.
    yesterday = boss_client.get("/usage/admin/?period=yesterday")
    rows = Charge.objects.filter(created_at__gte=at(today - timedelta(1), 0), created_at__lt=at(today, 0))
    assert q6(yesterday.context["report"].totals.cost_usd) == q6(rows.aggregate(c=Sum("cost_usd"))["c"])
    assert "Cost" in yesterday.content.decode()
    # The most expensive turns, most expensive first.
    top = boss_client.get("/usage/admin/?period=30d").context["report"].top
    assert [c.cost_usd for c in top] == sorted((c.cost_usd for c in top), reverse=True)
    assert top[0].cost_usd == D("3.000000")
    # On pace to exceed the month's budget, and who is near theirs.
    page = boss_client.get("/usage/admin/")
    pace = page.context["pace"]
    assert pace.budget == D("2") and pace.projected >= pace.spent
    this_month = boss_client.get(page.context["month_url"])  # the pace figure links to the month's charges
    assert q6(this_month.context["usage_sums"].cost_usd) == q6(pace.spent)
    text = page.content.decode()
    assert ("on pace to exceed it" in text or "over budget" in text) == pace.projected_over
    near = [line.username for line in page.context["near_budget"]]
    assert sorted(near) == [u.username for u in (ledger["ann"], ledger["ben"]) if _month_spend(u) >= D("1.2")]
    assert 'id="near-budget"' in text


def _month_spend(user):
    first = timezone.localdate().replace(day=1)
    return Charge.objects.filter(user=user, created_at__gte=periods.local_midnight(first)).aggregate(
        c=Sum("cost_usd"))["c"] or 0  # fmt: skip


def test_a_bad_custom_range_says_so_and_shows_the_last_30_days(ledger, boss_client):
    response = boss_client.get("/usage/admin/?period=custom&start=2026-02-10&end=2026-02-01")
    assert response.status_code == 200
    assert "The first day must not be after the last day." in response.content.decode()
    assert response.context["report"].period.key == "30d"
    response = boss_client.get("/usage/admin/?period=custom&start=2026-02-01&end=2026-02-10&user=ann")
    assert "Select a valid choice" in response.content.decode()


def test_dashboard_tables_download_as_csv(ledger, boss_client):
    data = boss_client.get("/usage/admin/?period=30d").context["report"]
    users = boss_client.get("/usage/admin/csv/?period=30d&table=users")
    assert users["Content-Type"].startswith("text/csv")
    assert "attachment" in users["Content-Disposition"]
    rows = csv_rows(users)
    assert rows[0][:4] == ["user_id", "user", "charged_attempts", "input_tokens"]
    assert [(r[1], int(r[2]), q6(r[8])) for r in rows[1:]] == [
        (u.label, u.figures.charges, q6(u.figures.cost_usd)) for u in data.users
    ]
    matrix = csv_rows(boss_client.get("/usage/admin/csv/?period=30d&table=matrix"))
    assert matrix[0] == ["user_id", "user", *(f"cost_usd {m}" for m in data.matrix_models), "cost_usd total"]
    days = csv_rows(boss_client.get("/usage/admin/csv/?period=30d&table=days"))
    assert len(days) == 31 and sum(int(r[1]) for r in days[1:]) == data.totals.charges
    top = csv_rows(boss_client.get("/usage/admin/csv/?period=30d&table=top"))
    assert [q6(r[12]) for r in top[1:]] == [q6(c.cost_usd) for c in data.top]
    assert boss_client.get("/usage/admin/csv/?table=nope").status_code == 404


# --- The admin lists ----------------------------------------------------------------------------------


def _turn_figures(rows) -> dict:
    row = rows.aggregate(n=Count("id"), **{name: Sum(name) for name in (*SUMMED, "provider_cost_usd")})
    return {"charges": row["n"], **{n: row[n] or 0 for n in SUMMED[:-1]}, "cost_usd": q6(row["cost_usd"]),
            "provider_cost_usd": q6(row["provider_cost_usd"])}  # fmt: skip


def _sums(response) -> dict:
    f = figures(response.context["usage_sums"])
    f.pop("failed")
    return f


def test_the_turn_list_sums_equal_the_turns_listed(ledger, boss_client):
    ann, today = ledger["ann"], ledger["today"]
    a_turn = Turn.objects.filter(conversation__owner=ann).first()
    cases = {
        "": Turn.objects.all(),
        "status=failed": Turn.objects.filter(status="failed"),
        f"model={SOL}": Turn.objects.filter(model=SOL),
        f"user={ann.pk}": Turn.objects.filter(conversation__owner=ann),
        "error=server_error": Turn.objects.filter(error_code="server_error"),
        f"conversation={ledger['talk'].pk}": Turn.objects.filter(conversation=ledger["talk"]),
        f"from={today - timedelta(2)}&to={today}": Turn.objects.filter(created_at__gte=at(today - timedelta(2), 0)),
        f"q={a_turn.response_id}": Turn.objects.filter(pk=a_turn.pk),
        f"q={a_turn.pk}": Turn.objects.filter(pk=a_turn.pk),
        "q=prompt": Turn.objects.all(),
        "q=ann": Turn.objects.filter(conversation__owner=ann),
        f"status=completed&user={ann.pk}&model={PRO}": Turn.objects.filter(
            status="completed", conversation__owner=ann, model=PRO
        ),  # fmt: skip
    }
    for query, rows in cases.items():
        response = boss_client.get(f"/admin/conversations/turn/?{query}")
        assert response.status_code == 200, query
        listed = response.context["cl"].queryset
        assert set(listed.values_list("pk", flat=True)) == set(rows.values_list("pk", flat=True)), query
        assert _sums(response) == _turn_figures(rows), query
    assert 'id="usage-sums"' in response.content.decode()


def test_the_charge_list_sums_equal_the_charges_listed(ledger, boss_client):
    ann, today = ledger["ann"], ledger["today"]
    some = Charge.objects.filter(user=ann).first()
    cases = {
        "": Charge.objects.all(),
        "status=cancelled": Charge.objects.filter(status="cancelled"),
        f"user={ann.pk}": Charge.objects.filter(user=ann),
        "user=none": Charge.objects.filter(user__isnull=True),
        f"model={PRO}": Charge.objects.filter(model=PRO),
        f"from={today - timedelta(1)}": Charge.objects.filter(created_at__gte=at(today - timedelta(1), 0)),
        f"to={today - timedelta(1)}": Charge.objects.filter(created_at__lt=at(today, 0)),
        f"q={some.response_id}": Charge.objects.filter(pk=some.pk),  # a search: summed from the ledger itself
        "q=ann": Charge.objects.filter(username="ann"),
    }
    for query, rows in cases.items():
        response = boss_client.get(f"/admin/conversations/charge/?{query}")
        assert response.status_code == 200, query
        listed = response.context["cl"].queryset
        assert set(listed.values_list("pk", flat=True)) == set(rows.values_list("pk", flat=True)), query
        assert figures(response.context["usage_sums"]) == expected(rows), query


def test_a_conversation_search_never_multiplies_its_sums(ledger, boss_client):
    talk = ledger["talk"]
    Turn.objects.filter(conversation=talk).update(prompt="find the needle here")
    turns = Turn.objects.filter(conversation=talk)
    assert turns.count() == 3
    want = (3, turns.aggregate(t=Sum("total_tokens"))["t"], q6(turns.aggregate(c=Sum("cost_usd"))["c"]))
    for query in ("", "?q=needle", f"?q={turns.first().response_id}", "?q=ann"):
        response = boss_client.get(f"/admin/conversations/conversation/{query}")
        found = [c for c in response.context["cl"].result_list if c.pk == talk.pk]
        assert len(found) == 1, query
        assert (found[0]._turns, found[0]._tokens, q6(found[0]._cost)) == want, query
    owned = boss_client.get(f"/admin/conversations/conversation/?user={talk.owner_id}&model={PRO}")
    assert {c.pk for c in owned.context["cl"].result_list} == set(
        Conversation.objects.filter(owner=talk.owner, model=PRO).values_list("pk", flat=True)
    )
    by_id = boss_client.get(f"/admin/conversations/conversation/?q={turns.first().response_id}")
    assert [c.pk for c in by_id.context["cl"].result_list] == [talk.pk]
    page = by_id.content.decode()
    assert f"/admin/conversations/turn/?conversation={talk.pk}" in page  # the figures link to the turns
    assert f"{want[1]:,}" in page


def test_the_turn_list_never_reads_answers_prompts_or_stored_json(ledger, boss_client):
    with CaptureQueriesContext(connection) as queries:
        response = boss_client.get("/admin/conversations/turn/")
    assert response.status_code == 200
    listing = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and '"conversations_turn"."id"' in q["sql"] and "COUNT(" not in q["sql"]
    ]
    assert listing
    for sql in listing:
        for column in ("output_text", "output_html", "response_json", "history", '"prompt"'):
            assert column not in sql, column
    # One count: the sums' (the page count reuses it).
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "conversations_turn" in q["sql"]]
    assert len(counts) == 1 and "SUM(" in counts[0]
    assert TurnAdmin.date_hierarchy is None
    page = response.content.decode()
    for preset in ("Today", "Yesterday", "Last 7 days", "This month", "Last month"):
        assert preset in page


def test_the_admin_exports_the_filtered_rows_as_streamed_csv(ledger, boss_client):
    ann = ledger["ann"]
    ann.username = "=HYPERLINK()"  # a formula in a cell must not run in a spreadsheet
    ann.save()
    response = boss_client.get(f"/admin/conversations/turn/export/?user={ann.pk}&status=completed")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    want = Turn.objects.filter(conversation__owner=ann, status="completed").order_by("-created_at")
    assert rows[0][:4] == ["created_at", "turn_id", "conversation_id", "user"]
    assert [r[1] for r in rows[1:]] == [str(t.pk) for t in want]
    assert {r[3] for r in rows[1:]} == {"'=HYPERLINK()"}
    assert [q6(r[16]) for r in rows[1:]] == [q6(t.cost_usd) for t in want]
    charges = csv_rows(boss_client.get("/admin/conversations/charge/export/?status=failed"))
    assert [r[1] for r in charges[1:]] == [str(c.pk) for c in Charge.objects.filter(status="failed")]
    # The action: the selected rows, or every filtered row when "select all" was used.
    picked = list(Turn.objects.values_list("pk", flat=True)[:2])
    selected = boss_client.post("/admin/conversations/turn/", {"action": "export_csv", "_selected_action": picked})
    assert sorted(r[1] for r in csv_rows(selected)[1:]) == sorted(str(p) for p in picked)
    everything = boss_client.post(
        f"/admin/conversations/turn/?model={PRO}",
        {"action": "export_csv", "_selected_action": picked[:1], "select_across": "1"},
    )
    assert len(csv_rows(everything)) - 1 == Turn.objects.filter(model=PRO).count()


def test_accounting_is_read_only_and_the_response_json_is_shown_pretty(ledger, boss_client):
    turn = Turn.objects.filter(status="completed").first()
    Turn.objects.filter(pk=turn.pk).update(response_json={"id": turn.response_id, "usage": {"input_tokens": 5}})
    page = boss_client.get(f"/admin/conversations/turn/{turn.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert '<pre class="usage-json">{\n  &quot;id&quot;' in text
    assert "&quot;usage&quot;: {\n    &quot;input_tokens&quot;: 5\n  }" in text
    assert 'name="_save"' not in text  # a view, not a form
    charge_row = Charge.objects.filter(turn=turn).first()
    for method, url in [
        ("get", "/admin/conversations/conversation/add/"),
        ("get", "/admin/conversations/turn/add/"),
        ("post", f"/admin/conversations/turn/{turn.pk}/change/"),
        ("post", f"/admin/conversations/turn/{turn.pk}/delete/"),
        ("get", "/admin/conversations/charge/add/"),
        ("post", f"/admin/conversations/charge/{charge_row.pk}/change/"),
        ("post", f"/admin/conversations/charge/{charge_row.pk}/delete/"),
    ]:
        assert getattr(boss_client, method)(url, {"prompt": "edited"}).status_code == 403, url
    assert Turn.objects.get(pk=turn.pk).prompt == "a prompt"
    assert Charge.objects.filter(pk=charge_row.pk).exists()
    index = boss_client.get("/admin/").content.decode()
    assert 'href="/usage/admin/"' in index and "Usage dashboard" in index


# --- The user's own Usage page ---------------------------------------------------------------------------


def test_the_usage_page_shows_a_users_own_spend_and_budget(ledger, settings):
    settings.BUDGET_MONTHLY_USD = D("10")
    ann, ben = ledger["ann"], ledger["ben"]
    client = client_for(ann)
    response = client.get("/usage/")
    assert response.status_code == 200
    text = response.content.decode()
    usage = response.context["usage"]
    mine = reports.charges_in(usage.period).filter(user=ann)
    assert figures(usage.totals) == expected(mine)
    assert [row.label for row in usage.conversations] == ["needle talk"]
    assert f"/c/{ledger['talk'].pk}/" in text
    assert 'id="usage-link"' in text  # linked from the sidebar
    budget = response.context["budget"]
    assert (budget.budget, q6(budget.spent)) == (D("10"), q6(_month_spend(ann)))
    assert f"${budget.left:,.2f} left" in text
    other = Conversation.objects.filter(owner=ben).first()
    assert str(other.pk) not in text and not re.search(r"\bben\b", text)  # a word, not inside a CSRF token
    assert client.get("/usage/?period=last_month").context["usage"].period.key == "last_month"
    assert client.get("/usage/?period=bogus").context["usage"].period.key == "month"


# --- Queries that do not grow with the data ----------------------------------------------------------------


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        body(response)
    assert response.status_code == 200, url
    return len(queries.captured_queries)


PAGES = [
    "/usage/admin/?period=30d",
    "/usage/admin/?period=12m",
    "/usage/admin/csv/?period=12m&table=matrix",
    "/usage/",
    "/admin/conversations/turn/",
    "/admin/conversations/turn/?status=completed&q=prompt",
    "/admin/conversations/charge/",
    "/admin/conversations/conversation/",
    "/admin/conversations/conversation/?q=needle",
]


def test_the_number_of_queries_does_not_grow_with_the_data(ledger, boss, boss_client, django_assert_max_num_queries):
    charge(boss, when=at(ledger["today"]), cost=D("0.3"))  # the boss has a Usage page too
    before = {url: _count_queries(boss_client, url) for url in PAGES}
    today = ledger["today"]
    for n in range(6):
        user = User.objects.create_user(f"extra{n}", password="pw-usage-1")
        talk = factories.conversation(owner=user, model=SOL, title=f"extra {n}")
        for k in range(8):
            charge(user, when=at(today - timedelta(days=k * 9 + n)), model=(PRO, SOL)[k % 2],
                   status=("completed", "failed")[k % 3 == 0], conversation=talk)  # fmt: skip
        charge(boss, when=at(today - timedelta(days=n)), cost=D("0.2"))
    for url in PAGES:
        with django_assert_max_num_queries(before[url]):
            response = boss_client.get(url)
            body(response)
        assert before[url] <= 25, url


def test_the_admin_csv_streams_under_asgi_too(ledger, boss):
    # Under ASGI Django collects a sync iterator into a list first (with a warning): a million rows in memory.
    import warnings

    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    client = AsyncClient()
    client.force_login(boss)

    async def download():
        response = await client.get("/admin/conversations/turn/export/")
        return response, b"".join([chunk async for chunk in response.streaming_content])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response, content = async_to_sync(download)()
    assert response.status_code == 200 and response.is_async
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) - 1 == Turn.objects.count() > 0
