"""An answer that costs more than its hold is charged in full; the month may then pass the budget by that
one answer, and the Usage page, the composer and the admin's dashboard say so."""

import html
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from conversations.models import Charge, Turn
from conversations.usage import budgets
from tests import factories
from tests.helpers import client_for

D = Decimal
PRO_IN, PRO_OUT = D("20.631"), D("165.048")  # openai/gpt-5-pro, USD per 1M tokens (seeded)
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # mid-month, before gpt-5-pro retires (2026-12-11)
SAID = "one answer cost more than it was held at"


def test_a_long_answer_is_charged_in_full_and_the_month_passes_the_budget_by_it(
    alice_client, alice, settings, fake_api, transactional_db, clock
):
    clock(NOW)
    settings.BUDGET_MONTHLY_USD = D("5")
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("6")
    factories.charge(alice, when=NOW - timedelta(hours=2), cost=D("2"))
    fake_api.reasoning_tokens = 30_000  # far beyond the 16,000 output tokens a prompt is held at
    assert alice_client.post("/", {"prompt": "Think very hard", "client_token": ""}).status_code == 302

    turn = Turn.objects.get(prompt="Think very hard")
    charge = Charge.objects.get(turn=turn)
    assert turn.status == "completed" and charge.output_tokens == turn.output_tokens > 30_000
    full = ((charge.input_tokens * PRO_IN + charge.output_tokens * PRO_OUT) / 1_000_000).quantize(D("0.000001"))
    held = ((D(5) * PRO_IN + 16_000 * PRO_OUT) / 1_000_000).quantize(D("0.000001"))  # 15 characters: 5 tokens
    assert turn.estimate_usd == held
    assert charge.cost_usd == turn.cost_usd == full > held  # in full, not capped at the hold
    status = budgets.status_for(alice)
    assert status.spent == D(2) + full and status.reserved == 0
    assert status.over and status.left == 0 and status.over_by == D(2) + full - 5 > 0
    over_by = f"over budget by ${status.over_by:,.2f}: {SAID}"

    usage = html.unescape(alice_client.get("/usage/").content.decode())
    assert over_by in usage and "budget reached: new prompts are refused" in usage
    composer = html.unescape(alice_client.get("/").content.decode())
    assert f"(over budget by ${status.over_by:,.2f}: {SAID})" in composer
    # The month is over budget: the next prompt is refused, and nothing is sent.
    response = alice_client.post("/", {"prompt": "And one more", "client_token": ""})
    assert response.status_code == 402 and fake_api.post_count == 1

    boss = factories.user("boss", is_staff=True)
    dashboard = html.unescape(client_for(boss).get("/usage/admin/").content.decode())
    near = dashboard[dashboard.index('id="near-budget"') :]
    assert "alice" in near and over_by in near  # the user, against their $5.00
    instance_over = D(2) + full - 6
    assert f"over budget by ${instance_over:,.4f}: {SAID}" in dashboard  # the month's card, against $6.00


def test_within_the_budget_nothing_says_over(alice_client, alice, settings, clock):
    clock(NOW)
    settings.BUDGET_MONTHLY_USD = D("5")
    factories.charge(alice, when=NOW - timedelta(hours=2), cost=D("5"))  # exactly the budget: reached, not over
    status = budgets.status_for(alice)
    assert status.over and status.over_by == 0
    usage = alice_client.get("/usage/").content.decode()
    assert "budget reached" in usage and "over budget by" not in usage
    assert "over budget by" not in alice_client.get("/").content.decode()
