"""Chatting as a user does: sign up, send, continue, change settings, edit, regenerate, delete."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, settle

pytestmark = pytest.mark.browser

TOKENS = re.compile(r"\d+ in · \d+ out \(64 reasoning\) · \d+ total")


def test_sign_up_send_with_enter_and_continue_the_conversation(app):
    app.start_worker()
    # Still running when the conversation page is drawn, so the answer arrives by polling
    # (instant answers are test_live.py::test_instant_answers_leave_the_page_consistent).
    app.fake_api.latency = 0.5
    page = app.new_page("/")
    # Not logged in: the home page sends us to the login page, which links to sign-up.
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("link", name="Sign up")).to_be_visible()
    # A fresh site: the newcomer opens the one-time link `make run` printed.
    from django.urls import reverse

    from accounts import setup

    page.goto(reverse("first_admin_setup", args=[setup.setup_token()]))
    expect(page.get_by_role("heading", name="Create the administrator")).to_be_visible()
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create the administrator").click()

    # Signed in on the home page, as the administrator.
    expect(page.get_by_role("heading", name="What can GPT-5 Pro work on?")).to_be_visible()
    expect(page.get_by_text("You are the administrator")).to_be_visible()
    expect(page.locator(".sidebar-foot")).to_contain_text("newcomer")

    composer = page.get_by_label("Prompt", exact=True)
    expect(composer).to_be_focused()
    composer.press_sequentially("What is 2 + 2?")
    with page.expect_navigation(url=re.compile(r"/c/[0-9a-f-]{36}/$")):
        composer.press("Enter")

    turn = app.wait_for_answer(page, "Echo: What is 2 + 2?")
    expect(turn.locator(".prompt-text")).to_have_text("What is 2 + 2?")
    # Rendered Markdown, not the raw text.
    expect(turn.locator(".markdown strong")).to_have_text("fake")
    expect(turn.locator(".markdown li")).to_have_count(2)
    expect(turn.locator(".turn-meta")).to_contain_text(TOKENS)
    expect(turn.locator(".badge")).to_have_text("Completed")
    # The sidebar lists the conversation, titled after the prompt.
    expect(page.locator(".conversation-link.current .conversation-title")).to_have_text("What is 2 + 2?")
    expect(page.locator("#send-button")).to_be_enabled()

    # Shift+Enter adds a line and sends nothing.
    composer = page.get_by_label("Prompt", exact=True)
    composer.press_sequentially("And times 3?")
    composer.press("Shift+Enter")
    composer.press_sequentially("Show your work.")
    expect(composer).to_have_value("And times 3?\nShow your work.")
    settle(page)  # a send would have started navigating once the key's handlers ran
    expect(page.locator("#turns > article.turn")).to_have_count(1)
    assert app.fake_api.post_count == 1

    with page.expect_navigation():
        composer.press("Enter")
    second = app.wait_for_answer(page, "Echo: And times 3?")
    expect(page.locator("#turns > article.turn")).to_have_count(2)
    expect(second.locator(".prompt-text")).to_contain_text("And times 3?")
    expect(second.locator(".prompt-text")).to_contain_text("Show your work.")
    # The line break shows as typed (white-space: pre-wrap), not as <br>.
    assert second.locator(".prompt-text").inner_text() == "And times 3?\nShow your work."
    expect(second.locator(".markdown")).to_contain_text("(turns=2)")
    expect(second.locator(".turn-meta")).to_contain_text(TOKENS)
    # The conversation's running total (top bar) is drawn with the page.
    page.reload()
    expect(page.locator(".topbar")).to_contain_text(re.compile(r"\d+ tokens · \$\d+\.\d{4}"))

    # The model got the earlier exchange, then the two-line prompt.
    sent = app.fake_api.post_requests[-1]["json"]["input"]
    assert [item["role"] for item in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "What is 2 + 2?"
    assert sent[1]["content"].startswith("Echo: What is 2 + 2?")
    # (A form posts a textarea's new lines as CRLF.)
    assert sent[2]["content"].replace("\r\n", "\n") == "And times 3?\nShow your work."


def test_conversation_settings_reach_the_model(app):
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "First question")
    app.wait_for_answer(page, "Echo: First question")
    assert "instructions" not in app.fake_api.post_requests[-1]["json"]

    page.get_by_text("Conversation settings").click()
    panel = page.locator("#conversation-settings")
    panel.get_by_label("Instructions").fill("Answer like a pirate.")
    panel.get_by_label("Max output tokens").fill("2048")
    # gpt-5-pro always reasons at high effort: the choice is shown, but disabled.
    expect(panel.get_by_label("Reasoning effort")).to_be_disabled()
    panel.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()

    # The saved values are what the panel shows after a reload.
    page.reload()
    page.get_by_text("Conversation settings").click()
    expect(panel.get_by_label("Instructions")).to_have_value("Answer like a pirate.")
    expect(panel.get_by_label("Max output tokens")).to_have_value("2048")

    app.send(page, "Second question")
    app.wait_for_answer(page, "Echo: Second question")
    body = app.fake_api.post_requests[-1]["json"]
    assert body["instructions"] == "Answer like a pirate."
    assert body["max_output_tokens"] == 2048
    assert "reasoning" not in body
    assert app.fake_api.post_count == 2


def test_edit_prompt_and_regenerate_keep_earlier_versions(app):
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Name a colour")
    first = app.wait_for_answer(page, "Echo: Name a colour")

    # Edit the prompt: another version of the message answers the edited text.
    first.get_by_text("Edit prompt").click()
    edit_box = first.get_by_label("Edited prompt")
    expect(edit_box).to_have_value("Name a colour")
    edit_box.fill("Name a fruit")
    with page.expect_navigation():
        first.get_by_role("button", name="Send edited prompt").click()
    edited = app.wait_for_answer(page, "Echo: Name a fruit")
    expect(page.locator("#turns > article.turn")).to_have_count(1)  # one version on screen, not a pile
    expect(page.locator("details.superseded-turn")).to_have_count(0)
    expect(edited.get_by_role("group", name="Version 2 of 2")).to_be_visible()
    expect(page.get_by_text("Echo: Name a colour")).to_have_count(0)
    # The edited turn was sent without the replaced exchange.
    assert [item["role"] for item in app.fake_api.post_requests[-1]["json"]["input"]] == ["user"]

    # Regenerate: the same prompt again, a third version; the earlier ones are one click away.
    app.fake_api.reply = "A banana, freshly regenerated."
    with page.expect_navigation():
        app.last_turn(page).get_by_role("button", name="Regenerate").click()
    latest = app.wait_for_answer(page, "A banana, freshly regenerated.")
    expect(latest.locator(".prompt-text")).to_have_text("Name a fruit")
    expect(page.locator("#turns > article.turn")).to_have_count(1)
    latest.get_by_role("button", name="Previous version").click()
    expect(page.get_by_role("group", name="Version 2 of 3")).to_be_visible()
    expect(app.last_turn(page).locator(".markdown")).to_contain_text("Echo: Name a fruit")
    page.get_by_role("button", name="Previous version").click()
    expect(page.get_by_role("group", name="Version 1 of 3")).to_be_visible()
    expect(app.last_turn(page).locator(".prompt-text")).to_have_text("Name a colour")
    expect(app.last_turn(page).locator(".markdown")).to_contain_text("Echo: Name a colour")
    # Every version can be edited or regenerated again.
    expect(app.last_turn(page).get_by_role("button", name="Regenerate")).to_be_visible()
    assert app.fake_api.post_count == 3


def test_delete_conversation_asks_first(app):
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Something to delete")
    app.wait_for_answer(page, "Echo: Something to delete")
    conversation_url = page.url

    # The app's own dialog, not the browser's confirm() (the page guard fails the test on one).
    page.get_by_text("Conversation settings").click()
    delete = page.get_by_role("button", name="Delete conversation")
    delete.click()
    dialog = page.get_by_role("dialog", name="Delete “Something to delete”?")
    expect(dialog).to_be_visible()
    # It says what goes and what stays (the spend, in the usage ledger).
    expect(dialog).to_contain_text("Its 1 prompt and its answer will be deleted")
    expect(dialog).to_contain_text("stays in the usage ledger")
    cancel = dialog.get_by_role("button", name="Cancel")
    expect(cancel).to_be_focused()  # Enter alone never deletes
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Delete", exact=True)).to_be_focused()
    page.keyboard.press("Tab")  # modal: focus stays in the dialog (the page behind is inert)
    assert page.evaluate("document.querySelector('#confirm-dialog').contains(document.activeElement)") or (
        page.evaluate("document.activeElement === document.body")
    )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()  # back where it was
    assert page.url == conversation_url

    delete.click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("Deleted “Something to delete”.")).to_be_visible()
    expect(page.locator(".sidebar")).to_contain_text("No conversations yet.")
    response = page.goto(conversation_url)
    assert response.status == 404
