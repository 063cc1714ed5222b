"""Running turns: live status after a reload, streamed text, Stop, Retry."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Turn
from tests.e2e.conftest import ANSWER_TIMEOUT_MS
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

ELAPSED = re.compile(r"^\d+:\d{2}$")


def _mark_document(page):
    """Tag the loaded document, to show later that no reload or navigation happened."""
    page.evaluate("window.__e2eDocument = 'same'")


def _same_document(page) -> bool:
    return page.evaluate("window.__e2eDocument") == "same"


def test_reload_during_an_answer_shows_status_and_timer_then_the_answer(app):
    app.fake_api.latency = 4
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Take your time")
    turn = app.last_turn(page)
    expect(turn).to_have_attribute("data-active", "1")

    page.reload()
    turn = app.last_turn(page)
    expect(turn.locator(".status-line")).to_contain_text(re.compile(r"(Starting|Thinking)…"))
    expect(turn.locator(".status-line .elapsed")).to_have_text(ELAPSED)
    expect(turn.locator(".badge")).to_have_text(re.compile(r"^(Starting|In progress)$"))
    expect(turn.get_by_role("button", name="Stop")).to_be_visible()
    # Send stays usable (a follow-up is queued after the answer: tests/e2e/test_queue.py), and says so.
    expect(page.locator("#send-button")).to_be_enabled()
    expect(page.locator(".hint-busy")).to_be_visible()
    # The sidebar shows the conversation as working.
    expect(page.locator(".conversation-link.current .badge-working")).to_be_visible()
    _mark_document(page)

    # The answer arrives by itself.
    app.wait_for_answer(page, "Echo: Take your time")
    assert _same_document(page), "the page reloaded or navigated to show the answer"
    expect(turn.locator(".status-line")).to_have_count(0)
    expect(turn.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.locator("#send-button")).to_be_enabled()
    expect(page.locator(".conversation-link.current .badge-working")).to_have_count(0)
    expect(page.locator("#live-announcer")).to_have_text("Answer ready.")
    assert app.fake_api.post_count == 1


def test_streamed_text_shows_before_the_answer_completes(app):
    app.fake_api.latency = 3
    app.fake_api.reply = "Echo: streaming. " + " ".join(f"word{i}" for i in range(60))
    app.start_worker(AIMLAPI_MODE="stream")
    page = app.new_page("/", user=app.user())
    app.send(page, "Stream it")
    _mark_document(page)
    turn = app.last_turn(page)

    partial = turn.locator(".message-body.partial")
    expect(partial).to_contain_text("Echo: streaming.", timeout=ANSWER_TIMEOUT_MS)
    # Part of the text, while the turn still runs: it is writing now.
    expect(turn.locator(".status-line")).to_contain_text("Writing…")
    assert "word59" not in partial.inner_text()

    app.wait_for_answer(page, "word59")
    expect(partial).to_have_count(0)
    assert _same_document(page)
    assert app.fake_api.post_requests[-1]["json"]["stream"] is True


def test_stop_cancels_at_once_and_retry_completes(app):
    # Stopped long before its one delta: an attempt that wrote nothing is retried in place ("attempt 2").
    # (One that wrote something is kept as a version: tests/e2e/test_retry_versions.py.)
    app.fake_api.latency, app.fake_api.stream_chunks = 60, 1
    app.start_worker(AIMLAPI_MODE="stream")
    page = app.new_page("/", user=app.user())
    app.send(page, "Long question")
    turn = app.last_turn(page)
    expect(turn.locator(".status-line")).to_contain_text(re.compile(r"(Thinking|Writing)…"), timeout=ANSWER_TIMEOUT_MS)

    with page.expect_navigation():
        turn.get_by_role("button", name="Stop").click()
    # The page that follows the click already shows the turn stopped.
    expect(turn).to_have_attribute("data-status", "cancelled", timeout=1_000)
    expect(turn.locator(".badge")).to_have_text("Cancelled")
    expect(turn.get_by_role("status")).to_have_text("Stopped by the user.")
    expect(turn.locator(".status-line")).to_have_count(0)
    expect(page.locator("#send-button")).to_be_enabled()
    assert Turn.objects.get(pk=turn.get_attribute("id").removeprefix("turn-")).output_text == ""

    app.fake_api.latency = 0.3
    with page.expect_navigation():
        turn.get_by_role("button", name="Retry").click()
    app.wait_for_answer(page, "Echo: Long question")
    expect(turn.locator(".turn-meta")).to_contain_text("attempt 2")
    expect(turn.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("#turns > article.turn")).to_have_count(1)
    assert app.fake_api.post_count == 2


def test_failed_answer_explains_and_retry_completes(app):
    app.fake_api.faults = [("status", 400)]
    app.fake_api.latency = 0.3
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Bad luck")
    turn = app.last_turn(page)

    expect(turn).to_have_attribute("data-status", "failed", timeout=ANSWER_TIMEOUT_MS)
    expect(turn.locator(".badge")).to_have_text("Failed")
    expect(turn.locator(".alert-error")).to_be_visible()
    expect(page.locator("#send-button")).to_be_enabled()

    with page.expect_navigation():
        turn.get_by_role("button", name="Retry").click()
    app.wait_for_answer(page, "Echo: Bad luck")
    expect(turn.locator(".alert-error")).to_have_count(0)
    expect(turn.locator(".turn-meta")).to_contain_text("attempt 2")
    assert app.fake_api.post_count == 2


def test_instant_answers_leave_the_page_consistent(app):
    """However an answer's end and the page's drawing interleave, the page settles the same way.

    With a warm worker and no model latency, an answer often finishes while the
    page after Send is being drawn: Send must still end up enabled and the sidebar
    must not keep saying "working" (nothing would be left to poll).
    """
    app.fake_api.latency = 0
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Warm up")
    app.wait_for_answer(page, "Echo: Warm up")
    for n in range(1, 4):
        app.send(page, f"Quick {n}")
        app.wait_for_answer(page, f"Echo: Quick {n}")
        expect(page.locator("#send-button")).to_be_enabled(timeout=2_000)
        expect(page.locator(".conversation-link.current .badge-working")).to_have_count(0)
        expect(page.locator("#turns > article.turn")).to_have_count(n + 1)


def test_a_hidden_tab_polls_slowly_and_catches_up_when_shown(app):
    app.settings.LIVE_POLL_MS = 200
    app.settings.LIVE_POLL_HIDDEN_MS = 60_000
    app.fake_api.latency = 3
    app.start_worker()
    page = app.new_page("/", user=app.user())
    polls = []
    page.on("request", lambda request: "/live/" in request.url and polls.append(request.url))
    app.send(page, "Hide me")
    turn = app.last_turn(page)
    expect(turn).to_have_attribute("data-active", "1")
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    hidden_from = len(polls)
    # The answer arrives meanwhile (wait for it in the database, not for a fixed time): a hidden tab does not ask.
    wait_for(
        lambda: Turn.objects.filter(prompt="Hide me", status="completed").exists(), timeout=ANSWER_TIMEOUT_MS / 1000
    )
    assert len(polls) <= hidden_from + 1  # at most the one already on its way when the tab was hidden
    expect(turn.locator(".status-line")).to_have_count(1)
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    app.wait_for_answer(page, "Echo: Hide me")
    assert len(polls) <= hidden_from + 2  # one poll on showing the tab brought it
