"""Model continuity in Chromium, as a new admin and a user meet it: enable and check gpt-5-pro's successor,
preview and move conversations, and the retirement day's line above the next answer.

Screenshots go to docs/screenshots with SAVE_SCREENSHOTS=1.
"""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from conversations.models import AIModel, Conversation, UserBudget
from tests import factories
from tests.e2e.conftest import DESKTOP, screenshot

pytestmark = pytest.mark.browser

PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"


def _select_model(page, provider_id: str) -> None:
    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=provider_id, exact=True))
    row.locator("input.action-select").check()


def test_an_admin_enables_checks_and_moves_people_to_the_successor(app, tmp_path):
    app.start_worker()
    boss = User.objects.create_superuser("boss", password="pw-boss-123")
    alice = app.user("alice")
    for title in ("Plans", "Notes"):
        factories.conversation(owner=alice, title=title, model=PRO)
    page = app.new_page("/admin/conversations/aimodel/", user=boss, viewport=DESKTOP)
    sol = page.locator("#result_list tbody tr", has=page.get_by_role("link", name=SOL, exact=True))
    expect(sol).to_contain_text("Chat Completions")

    # Enable the successor on its page.
    with page.expect_navigation():
        page.get_by_role("link", name=SOL, exact=True).click()
    page.get_by_label("Enabled").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()

    # Check it: the worker sends one tiny prompt through Chat Completions.
    _select_model(page, SOL)
    page.select_option("select[name=action]", "check_models")
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist:not(.retirement-notices)")).to_contain_text("Checking GPT-5.6 Sol Pro")
    _reload_until(page, sol, "✔ OK")
    screenshot(page, "models-admin-checked", tmp_path)

    # Move everyone on gpt-5-pro, after a preview.
    _select_model(page, PRO)
    page.select_option("select[name=action]", "move_conversations")
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    page.get_by_label("Move to").select_option(label="GPT-5.6 Sol Pro")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview the move").click()
    expect(page.locator("#move-summary")).to_have_text(
        "2 conversations of 1 user will move to GPT-5.6 Sol Pro (openai/gpt-5.6-sol-pro, "
        "Chat Completions (/v1/chat/completions))."
    )
    screenshot(page, "models-admin-move-preview", tmp_path)
    with page.expect_navigation():
        page.get_by_role("button", name="Move 2 conversations to GPT-5.6 Sol Pro").click()
    expect(page.locator(".messagelist:not(.retirement-notices)")).to_contain_text(
        "2 conversations moved to GPT-5.6 Sol Pro."
    )
    assert set(Conversation.objects.values_list("model", flat=True)) == {SOL}


def _reload_until(page, locator, text: str, timeout: float = 25.0) -> None:
    """The check's outcome is written by the worker: reload (as the page says) until it shows."""
    import time

    deadline = time.monotonic() + timeout
    while text not in locator.inner_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not shown within {timeout} s")
        page.reload()


def test_on_the_retirement_day_the_conversation_continues_with_a_line(app, clock, tmp_path):
    app.start_worker()
    alice = app.user("alice")
    UserBudget.objects.create(user=alice, unlimited=True)
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    conversation = factories.conversation(owner=alice, title="Sorting", model=PRO)
    factories.turn(
        conversation=conversation, prompt="How do I sort?", status="completed", output_text="Use sorted().",
        output_html="<p>Use sorted().</p>", parent=None,
    )  # fmt: skip
    clock(datetime(2026, 12, 11, 9, 0, tzinfo=UTC))  # the web process: the day gpt-5-pro retires
    page = app.new_page(conversation.get_absolute_url(), user=alice, viewport=DESKTOP)
    expect(page.locator("#model-switch")).to_contain_text("your next prompt goes to its successor")
    app.send(page, "And in reverse?")
    turn = app.wait_for_answer(page, "Echo: And in reverse?")
    expect(turn.locator(".turn-notice")).to_have_text(
        "GPT-5 Pro retired on 11 Dec 2026; this conversation continues with GPT-5.6 Sol Pro."
    )
    assert app.fake_api.chat_requests[-1]["json"]["messages"][1]["content"] == "Use sorted()."
    expect(page.locator("#model-switch")).to_have_count(0)
    screenshot(page, "models-retirement-line", tmp_path)
