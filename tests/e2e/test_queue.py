"""Queued prompts in a real browser: a follow-up typed while the answer runs, a prompt past the running
limit, edited while it waits; both start by themselves and the pages follow without a reload."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Turn
from tests.e2e.conftest import ANSWER_TIMEOUT_MS, screenshot
from tests.helpers import wait_for

pytestmark = pytest.mark.browser


def _mark_document(page):
    page.evaluate("window.__e2eDocument = 'same'")


def _same_document(page) -> bool:
    return page.evaluate("window.__e2eDocument") == "same"


def test_a_follow_up_and_a_prompt_past_the_limit_wait_then_start_by_themselves(app, tmp_path):
    app.settings.MAX_ACTIVE_TURNS_PER_USER = 1
    # The first answer runs until the test lets it end (background mode: the fake finishes it then).
    app.fake_api.latency = 600
    app.start_worker(MAX_ACTIVE_TURNS_PER_USER=1, AIMLAPI_MODE="background", AIMLAPI_POLL_INTERVAL=0.2)
    user = app.user()
    page = app.new_page("/", user=user)
    app.send(page, "What is a quokka?")
    first = app.last_turn(page)
    expect(first).to_have_attribute("data-active", "1")

    # The composer stays usable while the answer runs: the follow-up waits under it.
    app.send(page, "Where do they live?")
    follow_up = app.last_turn(page)
    expect(page.locator("#turns > article.turn")).to_have_count(2)
    expect(follow_up.locator(".badge")).to_have_text("Queued")
    expect(follow_up.locator(".queue-place")).to_contain_text("Sent right after the answer above")
    expect(follow_up.get_by_role("button", name="Cancel")).to_be_visible()
    expect(follow_up.locator(".edit-prompt summary")).to_be_visible()
    # Sending again while it waits replaces its text (one follow-up waits at a time).
    app.send(page, "Where do quokkas live?")
    expect(page.locator("#turns > article.turn")).to_have_count(2)
    expect(app.last_turn(page).locator(".prompt-text")).to_have_text("Where do quokkas live?")
    screenshot(page, "queue-follow-up", tmp_path)

    # Another conversation, past the running limit of 1: queued with its place.
    other = app.new_page("/", user=user)
    app.send(other, "Tell me about wombats")
    waiting = app.last_turn(other)
    expect(waiting.locator(".badge")).to_have_text("Queued")
    expect(waiting.locator(".queue-place")).to_contain_text("Starts when your running answer ends")
    screenshot(other, "queue-past-the-limit", tmp_path)
    # Edited while it waits: the editor saves it in place.
    waiting.locator(".edit-prompt summary").click()
    editor = waiting.locator(".edit-prompt textarea")
    editor.fill("Tell me about wombats, briefly")
    with other.expect_navigation():
        waiting.get_by_role("button", name="Save queued prompt").click()
    waiting = app.last_turn(other)
    expect(waiting.locator(".prompt-text")).to_have_text("Tell me about wombats, briefly")
    expect(waiting.locator(".badge")).to_have_text("Queued")

    # From here on, nothing is reloaded: each starts by itself, and the pages follow.
    _mark_document(page)
    _mark_document(other)
    wait_for(lambda: app.fake_api.post_count == 1)  # the first answer is with the provider
    app.fake_api.latency = 0
    wait_for(lambda: app.fake_api.post_count == 1)
    app.fake_api.finish_all()
    app.wait_for_answer(page, "Echo: What is a quokka?", turn=page.locator("#turns > article.turn").first)
    app.wait_for_answer(page, "Echo: Where do quokkas live?")
    expect(other.locator("#turns > article.turn").last.locator(".badge")).to_have_text(
        re.compile(r"^(Starting|In progress|Completed)$"), timeout=ANSWER_TIMEOUT_MS
    )
    app.wait_for_answer(other, "Echo: Tell me about wombats, briefly")
    assert _same_document(page) and _same_document(other), "a page reloaded to show a queued prompt start"

    # The follow-up was sent with the answer it follows; each prompt once.
    bodies = [request["json"] for request in app.fake_api.post_requests]
    assert len(bodies) == 3
    follow = next(body for body in bodies if body["input"][-1]["content"] == "Where do quokkas live?")
    assert [item["role"] for item in follow["input"]] == ["user", "assistant", "user"]
    assert follow["input"][1]["content"].startswith("Echo: What is a quokka?")
    assert Turn.objects.filter(status="completed").count() == 3


def test_a_queued_prompt_is_cancelled_and_kept_for_retry(app):
    app.settings.MAX_ACTIVE_TURNS_PER_USER = 1
    app.fake_api.latency = 600
    app.start_worker(MAX_ACTIVE_TURNS_PER_USER=1, AIMLAPI_MODE="background", AIMLAPI_POLL_INTERVAL=0.2)
    page = app.new_page("/", user=app.user())
    app.send(page, "Slow answer")
    app.send(page, "Never mind this one")
    waiting = app.last_turn(page)
    expect(waiting.locator(".badge")).to_have_text("Queued")
    with page.expect_navigation():
        waiting.get_by_role("button", name="Cancel").click()
    cancelled = app.last_turn(page)
    expect(cancelled.locator(".badge")).to_have_text("Cancelled")
    expect(cancelled.locator(".prompt-text")).to_have_text("Never mind this one")
    expect(cancelled.get_by_role("button", name="Retry")).to_be_visible()
    wait_for(lambda: app.fake_api.post_count == 1)
    app.fake_api.finish_all()
    app.wait_for_answer(page, "Echo: Slow answer", turn=page.locator("#turns > article.turn").first)
    assert app.fake_api.post_count == 1  # the cancelled one was never sent
