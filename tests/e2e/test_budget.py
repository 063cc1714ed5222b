"""Budgets and model retirement as a user and an admin see them, in both themes and on a phone."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser


def _spend(user, usd: str) -> None:
    from conversations.usage import ledger

    conversation = factories.conversation(owner=user, title="Quarterly report draft")
    turn = factories.turn(conversation=conversation, prompt="p", status="completed", attempts=1)
    fields = {"input_tokens": 5000, "output_tokens": 20000, "cost_usd": Decimal(usd)}
    ledger.charge_record(turn=turn, status="completed", model="openai/gpt-5-pro", response_id="r", fields=fields)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_prompt_over_budget_is_refused_in_the_page_and_kept(app, theme, tmp_path):
    app.settings.BUDGET_MONTHLY_USD = Decimal("50")
    app.settings.BUDGET_HOLD = "worst"  # the hard wall: a prompt is held at the most it can cost
    alice = app.user("alice")
    _spend(alice, "41.20")
    page = app.new_page("/", user=alice, color_scheme=theme)
    budget = page.locator("#composer-budget")
    expect(budget).to_have_class("composer-budget is-warning")
    expect(budget).to_contain_text("82 % of your monthly budget is spent: $8.80 left of $50.00")
    screenshot(page, f"budget-warning-desktop-{theme}", tmp_path)

    app.send(page, "Summarise the attached quarterly report in one table")
    error = page.locator("#composer .alert-error")
    expect(error).to_contain_text("Not sent: this prompt could cost up to $44.89")
    expect(error).to_contain_text("$41.20 of your monthly budget of $50.00 is spent this month")
    expect(page.locator("#id_prompt")).to_have_value("Summarise the attached quarterly report in one table")
    assert app.fake_api.post_count == 0
    screenshot(page, f"budget-refused-desktop-{theme}", tmp_path)


def test_budget_and_retirement_notices_fit_a_phone(app, tmp_path):
    from conversations.models import AIModel, Conversation

    app.settings.BUDGET_MONTHLY_USD = Decimal("50")
    AIModel.objects.filter(provider_id="openai/gpt-5.6-sol-pro").update(enabled=True)
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(retires_on=timezone.localdate())
    boss = app.user("boss")
    boss.is_staff = True
    boss.save()
    _spend(boss, "12")
    conversation = Conversation.objects.get(owner=boss)
    page = app.new_page(conversation.get_absolute_url(), user=boss, viewport=PHONE)
    expect(page.locator(".banner-retirement")).to_contain_text("was retired on")
    expect(page.locator("#model-switch")).to_contain_text("your next prompt goes to its successor, GPT-5.6 Sol Pro")
    expect(page.locator("#composer-budget")).to_contain_text("$38.00 left of your $50.00 monthly budget")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "model-retired-phone", tmp_path)

    page.get_by_role("button", name="Switch to GPT-5.6 Sol Pro").click()
    expect(page.locator(".messages")).to_contain_text("now uses openai/gpt-5.6-sol-pro")
    expect(page.locator("#model-switch")).to_have_count(0)
    conversation.refresh_from_db()
    assert conversation.model == "openai/gpt-5.6-sol-pro"


def test_staff_see_the_retirement_banner_in_the_admin(app, tmp_path):
    from conversations.models import AIModel

    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(retires_on=timezone.localdate() + timedelta(days=9))
    boss = app.user("boss")
    boss.is_staff = boss.is_superuser = True
    boss.save()
    for theme in ("light", "dark"):
        page = app.new_page("/admin/", user=boss, viewport=DESKTOP, color_scheme=theme)
        notice = page.locator(".retirement-notices li")
        expect(notice).to_contain_text("retires on")
        expect(notice).to_contain_text("in 9 days. Its successor is GPT-5.6 Sol Pro")
        screenshot(page, f"retirement-admin-{theme}", tmp_path)
