"""Retry after Stop keeps the stopped answer (issue 19, item 9): the retry is a new version of the turn,
and what the stopped attempt wrote stays one `‹` away, also after a reload."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ANSWER_TIMEOUT_MS, screenshot

pytestmark = pytest.mark.browser

FIRST_HALF = "The **plan**, part one: gather the numbers."
SECOND_HALF = " Part two: never sent."


def test_stop_then_retry_keeps_the_stopped_text_as_the_previous_version(app, tmp_path):
    width = max(len(FIRST_HALF), len(SECOND_HALF))
    app.fake_api.stream_chunks = 2
    app.fake_api.latency = 16  # the first half after 8 s; stopped before the second
    app.fake_api.reply = lambda body: FIRST_HALF.ljust(width) + SECOND_HALF.ljust(width)
    app.start_worker(AIMLAPI_MODE="stream")
    page = app.new_page("/", user=app.user())
    app.send(page, "Make a plan")
    turn = app.last_turn(page)
    expect(turn.locator(".message-body.partial strong")).to_have_text("plan", timeout=ANSWER_TIMEOUT_MS)
    with page.expect_navigation():
        turn.get_by_role("button", name="Stop").click()
    turn = app.last_turn(page)
    expect(turn).to_have_attribute("data-status", "cancelled")
    expect(turn.locator(".markdown")).to_contain_text("gather the numbers")

    app.fake_api.latency = 0.2
    app.fake_api.stream_chunks = 1
    app.fake_api.reply = "A complete plan, in one go."
    with page.expect_navigation():
        turn.get_by_role("button", name="Retry").click()
    app.wait_for_answer(page, "A complete plan, in one go.")
    expect(page.locator("#turns > article.turn")).to_have_count(1)  # in place on the page
    expect(page.get_by_role("group", name="Version 2 of 2")).to_be_visible()
    expect(page.get_by_text("gather the numbers")).to_have_count(0)  # not drawn meanwhile

    page.reload()
    switcher = page.get_by_role("group", name="Version 2 of 2")
    switcher.get_by_role("button", name="Previous version").click()
    stopped = app.last_turn(page)
    expect(page.get_by_role("group", name="Version 1 of 2")).to_be_visible()
    expect(stopped).to_have_attribute("data-status", "cancelled")
    expect(stopped.locator(".markdown strong")).to_have_text("plan")
    expect(stopped.locator(".markdown")).to_contain_text("gather the numbers")
    expect(stopped.locator(".badge")).to_have_text("Cancelled")
    screenshot(page, "retry-keeps-the-stopped-version", tmp_path)
