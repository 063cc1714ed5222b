"""The usage dashboard and the Usage page in Chromium: light and dark themes, a phone, and a figure followed
to the admin's charge list (whose sums equal it). Screenshots go to docs/screenshots with SAVE_SCREENSHOTS=1.

    SAVE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_usage.py
"""

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser

THEMES = {"light": "light", "dark": "dark"}


def _money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^0-9.]", "", text))


def test_the_dashboard_in_both_themes_and_a_figure_followed_to_its_rows(clock, app, tmp_path, settings):
    # Mid-month, so "this month" holds enough spend for someone to be near the budget, whatever today is.
    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("250")  # a few heavy users are near or over it
    settings.INSTANCE_BUDGET_MONTHLY_USD = Decimal("2000")
    call_command("seed_usage", turns=4000, users=9, models=3, months=3, batch=500, seed=3, stdout=io.StringIO())
    boss = app.user("dana")
    boss.is_staff = boss.is_superuser = True
    boss.save()

    # As a new admin would: from the admin's home page to last month's spend per person and model.
    page = app.new_page("/admin/", user=boss, viewport=DESKTOP)
    screenshot(page, "usage-admin-index", tmp_path)
    with page.expect_navigation():
        page.get_by_role("link", name="Usage dashboard").click()
    page.select_option("#id_period", "last_month")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator(".topbar .conversation-sub")).to_contain_text("Last month")
    expect(page.get_by_role("heading", name="Cost per user and model")).to_be_visible()
    expect(page.locator("#table-matrix tbody tr").first).to_be_visible()
    # Yesterday's cost, and the most expensive turns with a link to each.
    page.select_option("#id_period", "yesterday")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#figure-cost .usage-card-value")).to_contain_text("$")
    expect(page.locator("#table-top tbody tr").first.get_by_role("link", name="turn")).to_be_visible()

    for theme, scheme in THEMES.items():
        page = app.new_page("/usage/admin/?period=30d", user=boss, viewport=DESKTOP, color_scheme=scheme)
        expect(page.get_by_role("heading", name="Cost per day, by model")).to_be_visible()
        expect(page.locator("#usage-dashboard svg.chart").first).to_be_visible()
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        # The bars take their colours from the theme's CSS, not from the markup.
        fill = page.locator("svg.chart rect.series-0").first.evaluate("e => getComputedStyle(e).fill")
        assert fill == ("rgb(52, 82, 209)" if theme == "light" else "rgb(142, 163, 255)")
        screenshot(page, f"usage-dashboard-{theme}", tmp_path)
        expect(page.locator("#near-budget tbody tr").first).to_be_visible()
        # At 1280 px the budget table fits its card (its overshoot note wraps): no sideways scrolling.
        near = page.locator("#near-budget .table-scroll")
        assert near.evaluate("e => e.scrollWidth - e.clientWidth") <= 0
        near.scroll_into_view_if_needed()
        screenshot(page, f"usage-near-budget-{theme}", tmp_path)
        page.locator("#chart-days-title").evaluate("e => e.closest('section').scrollIntoView({block: 'start'})")
        screenshot(page, f"usage-charts-{theme}", tmp_path)
        page.locator("#matrix-title").scroll_into_view_if_needed()
        screenshot(page, f"usage-tables-{theme}", tmp_path)

    # The cost of the period, followed to the ledger: the list's sums are the same money.
    cost = _money(page.locator("#figure-cost .usage-card-value").inner_text())
    attempts = page.locator("#figure-attempts .usage-card-value").inner_text()
    with page.expect_navigation():
        page.locator("#figure-cost").click()
    expect(page.locator("#usage-sums")).to_be_visible()
    assert page.locator("#sum-count").inner_text() == attempts
    assert _money(page.locator("#sum-cost").inner_text()) == cost
    assert "/admin/conversations/charge/" in page.url and "from=" in page.url
    screenshot(page, "usage-admin-charges-dark", tmp_path)

    # A custom range, picked in the form.
    page = app.new_page("/usage/admin/", user=boss, viewport=DESKTOP)
    page.select_option("#id_period", "custom")
    page.fill("#id_start", "2026-01-01")
    page.fill("#id_end", "2026-01-31")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator(".topbar .conversation-sub")).to_contain_text("01 Jan 2026 – 31 Jan 2026")

    # On a phone: nothing wider than the screen but the tables and charts, which scroll.
    page = app.new_page("/usage/admin/?period=30d", user=boss, viewport=PHONE)
    expect(page.locator("#figure-cost")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "usage-dashboard-phone", tmp_path)


def test_a_user_sees_their_own_usage_and_budget(clock, app, tmp_path, settings):
    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("400")
    call_command("seed_usage", turns=1500, users=3, models=2, months=2, batch=500, seed=5, stdout=io.StringIO())
    from django.contrib.auth.models import User

    user = User.objects.get(username="seed-user-001")
    for theme, scheme in THEMES.items():
        page = app.new_page("/", user=user, viewport=DESKTOP, color_scheme=scheme)
        page.locator("#account-menu summary").click()
        with page.expect_navigation():
            page.locator("#usage-link").click()
        expect(page.get_by_role("heading", name="Per conversation")).to_be_visible()
        expect(page.locator("#my-budget")).to_contain_text("of $400.00 spent")
        expect(page.locator("#my-conversations tbody tr").first).to_be_visible()
        screenshot(page, f"usage-mine-{theme}", tmp_path)
