"""The model's thinking in a browser (issue 17): a streamed reasoning summary shows under "Thinking…"
before the answer is complete, a reader's collapse is kept across live updates, and once the answer
has ended the summary stays with it, collapsed, to open with the mouse or the keyboard."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ANSWER_TIMEOUT_MS, screenshot

pytestmark = pytest.mark.browser

PRO = "openai/gpt-5-pro"


def _thinking_on():
    """The catalogue as migrated (a transactional test starts empty), gpt-5-pro's switch on (the admin's "try it")."""
    from conversations.models import AIModel
    from conversations.usage import catalog

    catalog.seed(AIModel)
    AIModel.objects.filter(provider_id=PRO).update(reasoning_summaries=True)


def test_a_streamed_summary_shows_under_thinking_then_stays_collapsible(app, tmp_path):
    _thinking_on()
    app.fake_api.thinking_latency = 6  # the summary streams for 6 s, then the answer for 6 s
    app.fake_api.latency = 6
    app.start_worker(AIMLAPI_MODE="stream")
    page = app.new_page("/", user=app.user())
    app.send(page, "Plan a launch")
    turn = app.last_turn(page)

    # While it thinks: the summary so far, open, under "Thinking…", before any of the answer.
    thinking = turn.locator("details.thinking")
    body = thinking.locator(".thinking-body")
    expect(body).to_contain_text("Reading the question", timeout=ANSWER_TIMEOUT_MS)
    expect(turn).to_have_attribute("data-status", "in_progress")
    expect(turn.locator(".status-label")).to_have_text("Thinking…")
    expect(turn.locator(".message-body.partial")).to_have_count(0)
    expect(thinking).to_have_attribute("open", "")
    expect(body.locator("strong").first).to_have_text("Reading the question")  # its heading, bold; no asterisks
    expect(body).not_to_contain_text("**")
    expect(body).to_contain_text("Planning the answer", timeout=ANSWER_TIMEOUT_MS)  # it grew
    screenshot(page, "thinking-live", tmp_path)

    # The reader collapses it: it stays collapsed while the answer streams in (the turn is swapped in again).
    summary = thinking.locator("summary")
    summary.click()
    expect(thinking).not_to_have_attribute("open", "")
    expect(turn.locator(".status-label")).to_have_text("Writing…", timeout=ANSWER_TIMEOUT_MS)
    expect(turn.locator(".message-body.partial")).to_be_visible()
    expect(turn.locator("details.thinking")).not_to_have_attribute("open", "")
    expect(turn.locator("details.thinking .thinking-body")).to_be_hidden()
    expect(turn.locator("details.thinking > summary")).to_be_focused()  # the swap kept the reader's place

    # Done: the summary is kept with the answer and still opens and closes.
    app.wait_for_answer(page, "Echo: Plan a launch")
    thinking = turn.locator("details.thinking")
    expect(thinking).not_to_have_attribute("open", "")
    expect(thinking.locator("summary")).to_contain_text("Thinking summary")
    thinking.locator("summary").click()
    expect(thinking.locator(".thinking-body")).to_be_visible()
    expect(thinking.locator(".thinking-body")).to_contain_text("I settled on a short reply with a list.")
    thinking.locator("summary").click()
    expect(thinking.locator(".thinking-body")).to_be_hidden()

    # A fresh page shows it collapsed by default; the keyboard opens it (a <details> summary is a button).
    page.reload()
    turn = app.last_turn(page)
    thinking = turn.locator("details.thinking")
    expect(thinking).not_to_have_attribute("open", "")
    thinking.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(thinking).to_have_attribute("open", "")
    expect(thinking.locator(".thinking-body")).to_contain_text("Reading the question")
    screenshot(page, "thinking-done", tmp_path)
