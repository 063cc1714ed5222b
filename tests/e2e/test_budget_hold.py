"""What the next prompt may cost, under the composer, as a user types; the new chat's output cap and effort;
and the budget line, current after an answer without a reload."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.conftest import ANSWER_TIMEOUT_MS, PHONE, screenshot

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # mid-month, before gpt-5-pro retires (2026-12-11)
PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"


def _spend(user, usd: str) -> None:
    from conversations.usage import ledger

    conversation = factories.conversation(owner=user, title="Earlier work")
    turn = factories.turn(conversation=conversation, prompt="p", status="completed", attempts=1)
    fields = {"input_tokens": 5000, "output_tokens": 20000, "cost_usd": Decimal(usd)}
    ledger.charge_record(turn=turn, status="completed", model=PRO, response_id="r", fields=fields)


def test_the_estimate_follows_the_typed_prompt_the_model_and_the_cap(app, clock, tmp_path):
    from conversations.models import AIModel, Turn
    from conversations.usage import budgets

    clock(NOW)
    app.settings.BUDGET_MONTHLY_USD = Decimal("50")
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    alice = app.user("alice")
    _spend(alice, "10")
    page = app.new_page("/", user=alice)
    estimate = page.locator("#composer-estimate")
    composer = page.locator("#id_prompt")
    # Nothing typed: 16,000 output tokens (a typical gpt-5-pro answer) x $165.048 / 1M.
    expect(estimate).to_have_text("Next prompt: up to about $2.64")
    why = "about 0 input tokens and 16,000 output tokens (a typical answer of GPT-5 Pro)"
    held = f"Held against the budget while the answer runs: {why}. An answer that runs longer is charged in full."
    expect(estimate).to_have_attribute("title", held)
    composer.fill("a" * 30_000)  # 10,000 input tokens at $20.631 / 1M
    expect(estimate).to_have_text("Next prompt: up to about $2.85")
    composer.press("End")
    page.keyboard.insert_text("b" * 30_000)
    expect(estimate).to_have_text("Next prompt: up to about $3.05")
    composer.press("ControlOrMeta+a")
    composer.press("Backspace")
    expect(estimate).to_have_text("Next prompt: up to about $2.64")

    # The new chat's settings: a cap lowers what the prompt is held at; the effort is there for a model
    # that takes one.
    page.get_by_text("Answer settings").click()
    effort = page.locator("#new-chat-effort")
    expect(effort).to_be_hidden()  # gpt-5-pro takes no effort setting
    page.locator("#id_max_output_tokens").fill("1000")
    expect(estimate).to_have_text("Next prompt: up to about $0.17")
    page.locator("#new-chat-model").select_option(SOL)
    expect(estimate).to_have_text("Next prompt: up to about $0.03")  # 1,000 x $27.508 / 1M
    expect(effort).to_be_visible()
    page.locator("#id_reasoning_effort").select_option("low")
    page.locator("#id_max_output_tokens").fill("")
    expect(estimate).to_have_text("Next prompt: up to about $0.44")  # 16,000 at GPT-5.6 Sol Pro's price
    screenshot(page, "composer-estimate-new-chat", tmp_path)

    page.locator("#id_max_output_tokens").fill("2500")
    composer.fill("Plan a three-day trip to Lisbon " * 40)
    shown = estimate.locator(".estimate-usd").text_content()
    with page.expect_navigation():
        composer.press("Enter")
    turn = Turn.objects.select_related("conversation").get(prompt__startswith="Plan a three-day trip")
    conversation = turn.conversation
    assert (conversation.model, conversation.max_output_tokens, conversation.reasoning_effort) == (SOL, 2500, "low")
    assert budgets.about_usd(turn.estimate_usd) == shown  # what was shown is what the prompt is held at


def test_a_bad_setting_is_shown_in_the_page_with_the_prompt_kept(app, clock):
    from conversations.models import AIModel

    clock(NOW)
    AIModel.objects.filter(provider_id=PRO).update(max_output_tokens=100_000)
    page = app.new_page("/", user=app.user("alice"))
    page.get_by_text("Answer settings").click()
    page.locator("#id_max_output_tokens").fill("120000")  # within what the box takes, over what the model writes
    app.send(page, "Keep this prompt")
    expect(page.locator(".field-max_output_tokens .field-error")).to_have_text(
        "GPT-5 Pro writes at most 100,000 output tokens: enter that or less."
    )
    expect(page.locator("#new-chat-options")).to_have_attribute("open", "")
    expect(page.locator("#id_prompt")).to_have_value("Keep this prompt")
    expect(page.locator("#id_max_output_tokens")).to_have_value("120000")


def test_the_budget_line_and_the_estimate_are_current_after_an_answer_without_a_reload(app, clock, tmp_path):
    from conversations.generation import worker
    from conversations.models import Turn
    from conversations.usage import budgets

    clock(NOW)
    app.settings.BUDGET_MONTHLY_USD = Decimal("50")
    alice = app.user("alice")
    _spend(alice, "10")
    page = app.new_page("/", user=alice, viewport=PHONE)
    app.send(page, "Count the stars")
    turn = Turn.objects.get(prompt="Count the stars")
    held = turn.estimate_usd
    budget = page.locator("#composer-budget")
    expect(budget).to_have_text(f"${40 - held:.2f} left of your $50.00 monthly budget (${held:.2f} held for answers "
                                "still running)")  # fmt: skip
    expect(page.locator("#composer-estimate")).to_have_text("Next prompt: up to about $2.64")
    page.evaluate("window.sameDocument = true")

    # The answer comes (the worker's code, in this process: its charge is written at the pinned time).
    worker.turn_run(turn_id=turn.id)
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.cost_usd > 0
    left = Decimal(40) - turn.cost_usd
    expect(page.locator("#turns > article.turn").last).to_have_attribute(
        "data-status", "completed", timeout=ANSWER_TIMEOUT_MS
    )
    expect(budget).to_have_text(f"${left:.2f} left of your $50.00 monthly budget")
    # The next prompt now sends this answer along: the estimate counts its tokens.
    cost = budgets.composer_cost(conversation=turn.conversation, leaf=turn.pk)
    assert cost.input_tokens == turn.input_tokens + turn.output_tokens
    expect(page.locator("#composer-money")).to_have_attribute("data-input-tokens", str(cost.input_tokens))
    expect(page.locator("#composer-estimate")).to_have_text(f"Next prompt: up to about {budgets.about_usd(cost.usd)}")
    page.locator("#id_prompt").fill("x" * 3_000)
    typed = budgets.about_usd(cost.usd + Decimal(1_000) * Decimal("20.631") / 1_000_000)
    expect(page.locator("#composer-estimate")).to_have_text(f"Next prompt: up to about {typed}")
    assert page.evaluate("window.sameDocument") is True  # no reload
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "composer-budget-after-answer-phone", tmp_path)
