"""The chat page's finish (issue 9) in a browser: streamed Markdown, Thinking then Writing, prompts
as typed, the character counter, the model picker, error pages, phone layout, copy."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ANSWER_TIMEOUT_MS, PHONE, screenshot
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

ELAPSED = re.compile(r"^\d+:\d{2}$")

# Two stream deltas of equal length (the fake server splits the reply evenly): the first ends in
# an open code fence, the second closes it.
FIRST_HALF = "Here is the **bold plan**, then code:\n\n```python\ndef merge(a, b):\n    out = []\n"
SECOND_HALF = "    return out\n```\n\nDone."


def _two_deltas(first: str, second: str) -> str:
    width = max(len(first), len(second))
    return first.ljust(width) + second.ljust(width, " ")


def _enable_second_model():
    """The catalogue as migrated (a transactional test starts empty), with the successor enabled too."""
    from conversations.models import AIModel
    from conversations.usage import catalog

    catalog.seed(AIModel)
    AIModel.objects.filter(provider_id="openai/gpt-5.6-sol-pro").update(enabled=True)


def test_a_streamed_answer_shows_markdown_and_an_open_code_fence_mid_stream(app, tmp_path):
    app.fake_api.stream_chunks = 2
    app.fake_api.latency = 16  # the first half after 8 s, the second after 16 s (stopped before)
    app.fake_api.reply = lambda body: _two_deltas(FIRST_HALF, SECOND_HALF)
    app.start_worker(AIMLAPI_MODE="stream")
    page = app.new_page("/", user=app.user())
    app.send(page, "Plan a merge")
    turn = app.last_turn(page)

    # No text yet: "Thinking…", the timer running.
    status = turn.locator(".status-line")
    expect(status.locator(".status-label")).to_have_text("Thinking…", timeout=ANSWER_TIMEOUT_MS)
    elapsed = status.locator(".elapsed")
    expect(elapsed).to_have_text(ELAPSED)
    first_reading = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first_reading)  # it ticks

    # The first half arrives: "Writing…", rendered as Markdown, the open fence an open code block.
    partial = turn.locator(".message-body.partial")
    expect(status.locator(".status-label")).to_have_text("Writing…", timeout=ANSWER_TIMEOUT_MS)
    expect(partial.locator("strong")).to_have_text("bold plan")
    expect(partial.locator("pre code")).to_contain_text("def merge(a, b):")
    assert "**" not in partial.inner_text() and "```" not in partial.inner_text()
    expect(partial).not_to_contain_text("Done.")
    expect(elapsed).to_have_text(ELAPSED)
    writing_reading = elapsed.inner_text()
    expect(elapsed).not_to_have_text(writing_reading)  # still ticking while it writes
    screenshot(page, "streaming-markdown", tmp_path)

    # Stopped: the text kept is shown as Markdown too.
    with page.expect_navigation():
        turn.get_by_role("button", name="Stop").click()
    expect(turn).to_have_attribute("data-status", "cancelled")
    expect(turn.locator(".markdown strong")).to_have_text("bold plan")
    expect(turn.locator(".markdown pre code")).to_contain_text("def merge(a, b):")


def test_a_prompt_keeps_its_indentation_and_a_long_one_shows_collapsed(app, tmp_path):
    page = app.new_page("/", user=app.user())
    code = "def merge(a, b):\n" + "\n".join(f"    step_{i} = a[{i}]  # keep" for i in range(30))
    app.send(page, "Why is this slow?\n\n" + code)
    bubble = app.last_turn(page).locator(".prompt-text")
    assert "\n    step_0 = a[0]  # keep\n" in bubble.inner_text()  # as typed, indentation and all
    full = bubble.evaluate("el => el.scrollHeight")
    collapsed = bubble.bounding_box()["height"]
    assert collapsed < full * 0.65, (collapsed, full)
    more = app.last_turn(page).locator(".prompt-more > summary")
    expect(more).to_have_text("Show more", use_inner_text=True)
    screenshot(page, "prompt-show-more", tmp_path)
    more.click()
    expect(more).to_have_text("Show less", use_inner_text=True)
    assert bubble.bounding_box()["height"] >= full - 1
    more.click()
    expect(more).to_have_text("Show more", use_inner_text=True)

    page.goto("/")
    app.send(page, "Short\n  and indented")
    expect(app.last_turn(page).locator(".prompt-more")).to_have_count(0)
    assert app.last_turn(page).locator(".prompt-text").inner_text() == "Short\n  and indented"


def test_the_character_counter_counts_as_typed(app):
    from conversations.models import Turn

    app.settings.MAX_PROMPT_CHARS = 200
    page = app.new_page("/", user=app.user())
    composer = page.locator("#id_prompt")
    counter = page.locator("#composer-count")
    composer.fill("a" * 150)
    expect(counter).to_be_hidden()  # far from the limit: no count
    composer.fill("\n".join(["x" * 17] * 10))  # 170 + 9 line breaks = 179 characters as typed
    expect(counter).to_be_visible()
    expect(counter).to_have_text("179 / 200 characters")
    composer.fill("y" * 195 + "\n\n\n\n" + "🙂" * 6)  # 205: an emoji is one character
    expect(counter).to_have_text("205 / 200 · 5 over the limit")
    expect(counter).to_have_class(re.compile("is-over"))
    composer.press("Enter")  # refused here, with the reason, and nothing sent
    expect(page.locator("#live-announcer")).to_contain_text("shorten it by 5 characters")
    assert page.url.endswith("/") and Turn.objects.count() == 0

    # Exactly the limit, with 19 line breaks and an emoji: counted 200 here and by the server.
    exact = "\n".join(["z" * 9] * 20) + "🙂"
    assert len(exact) == 200
    composer.fill(exact)
    expect(counter).to_have_text("200 / 200 characters")
    with page.expect_navigation():
        composer.press("Enter")
    expect(page.locator(".composer .alert-error")).to_have_count(0)
    assert Turn.objects.get().prompt == exact


def test_the_new_chat_offers_the_models_and_names_the_one_chosen(app, tmp_path):
    _enable_second_model()
    app.start_worker()
    page = app.new_page("/", user=app.user())
    picker = page.get_by_role("combobox", name="Model", exact=True)
    composer = page.locator("#id_prompt")
    expect(picker).to_have_value("openai/gpt-5-pro")
    expect(composer).to_have_attribute("placeholder", "Ask GPT-5 Pro anything…")
    picker.select_option(label="GPT-5.6 Sol Pro")
    expect(composer).to_have_attribute("placeholder", "Ask GPT-5.6 Sol Pro anything…")
    expect(page.locator(".welcome h1")).to_have_text("What can GPT-5.6 Sol Pro work on?")
    screenshot(page, "new-chat-model", tmp_path)
    app.send(page, "Which model are you?")
    app.wait_for_answer(page, "Echo: Which model are you?")
    assert app.fake_api.chat_requests[-1]["json"]["model"] == "openai/gpt-5.6-sol-pro"  # its endpoint
    expect(composer).to_have_attribute("placeholder", "Ask GPT-5.6 Sol Pro anything…")
    expect(app.last_turn(page).locator(".turn-model")).to_have_count(0)  # written by the current model

    # The conversation moves to another model: the answer names the one that wrote it.
    page.locator("#conversation-settings > summary").click()
    page.locator("#id_model").select_option("openai/gpt-5-pro")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    expect(app.last_turn(page).locator(".turn-model")).to_have_text("GPT-5.6 Sol Pro")
    expect(composer).to_have_attribute("placeholder", "Ask GPT-5 Pro anything…")

    # The next new chat starts with the model chosen last time.
    page.goto("/")
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_have_value("openai/gpt-5.6-sol-pro")
    expect(composer).to_have_attribute("placeholder", "Ask GPT-5.6 Sol Pro anything…")


def test_error_pages_look_like_the_app_and_lead_home(app, tmp_path):
    page = app.new_page(user=app.user(), viewport=PHONE)
    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
    screenshot(page, "error-404-phone", tmp_path)
    with page.expect_navigation():
        page.get_by_role("link", name="Back to your chats").click()
    expect(page.locator("#id_prompt")).to_be_visible()

    # An expired form (its CSRF cookie gone): the page says so, and the prompt stays as a draft.
    page.locator("#id_prompt").fill("My careful question")
    page.context.clear_cookies(name="csrftoken")
    with page.expect_navigation():
        page.locator("#id_prompt").press("Enter")
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    page.go_back()
    page.reload()
    expect(page.locator("#id_prompt")).to_have_value("My careful question")


def _small_targets(page) -> list[str]:
    """Every visible button and link (not a link inside running text) smaller than 44 × 44 px."""
    return page.evaluate(
        """() => {
        const small = [];
        for (const el of document.querySelectorAll('a[href], button, summary, select, [role=button]')) {
            const inText = '.markdown p, .markdown li, .markdown td, .prompt-text, .visually-hidden, .skip-link';
            if (el.closest(inText)) continue;
            if (!el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) continue;
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;
            if (box.bottom < 0 || box.top > innerHeight || box.right < 0 || box.left > innerWidth) continue;
            if (box.width < 43.5 || box.height < 43.5) {
                const name = (el.getAttribute('aria-label') || el.textContent || el.id).trim().slice(0, 40);
                small.push(`${el.tagName.toLowerCase()} "${name}" ${Math.round(box.width)}x${Math.round(box.height)}`);
            }
        }
        return small;
    }"""
    )


def test_on_a_phone_every_target_is_44_px_and_the_header_is_small(app, tmp_path):
    app.settings.AIMLAPI_DEMO = True
    _enable_second_model()  # the new chat shows its model picker
    app.fake_api.reply = (
        "A table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n\nSee [docs](https://example.com)."
    )
    app.start_worker()
    user = app.user()
    page = app.new_page("/", user=user, viewport=PHONE)
    expect(page.locator(".banner-demo")).to_be_visible()
    small = {"home page": _small_targets(page)}
    app.send(page, "Show a table and some code")
    turn = app.wait_for_answer(page, "A table")

    small["conversation page"] = _small_targets(page)
    page.locator("#sidebar-toggle").click()
    expect(page.locator("#sidebar")).to_be_visible()
    wait_for(lambda: page.locator("#sidebar").evaluate("el => getComputedStyle(el).transform") == "none")
    small["sidebar drawer"] = _small_targets(page)
    page.keyboard.press("Escape")
    wait_for(lambda: not page.locator("#sidebar").is_visible())
    page.locator("#conversation-settings > summary").click()
    small["conversation settings"] = _small_targets(page)
    page.keyboard.press("Escape")
    page.locator("#share-menu > summary").click()
    small["share menu"] = _small_targets(page)
    page.locator("#share-menu > summary").click()
    assert small == dict.fromkeys(small, [])

    # The demo banner and the header take at most 15 % of the screen, above the conversation.
    main_top = page.locator("#main").bounding_box()["y"]
    assert main_top <= 0.15 * PHONE["height"], main_top
    banner = page.locator(".banner-demo").bounding_box()
    assert banner["y"] + banner["height"] <= main_top + 0.5
    page.locator("#main").evaluate("el => el.scrollTo(0, el.scrollHeight)")
    assert page.locator("#main").bounding_box()["y"] == main_top  # scrolling does not move or cover it

    expect(turn.locator(".copy-button").first).to_be_visible()
    screenshot(page, "conversation-phone-demo", tmp_path)


def test_copy_gives_the_markdown_and_copy_text_the_plain_text(app):
    markdown = "Use **bold** and `code`:\n\n- one\n- two\n\n```python\nprint(1)\n```"
    app.fake_api.reply = markdown
    app.start_worker()
    page = app.new_page("/", user=app.user(), permissions=["clipboard-read", "clipboard-write"])
    app.send(page, "Format it")
    turn = app.wait_for_answer(page, "Use bold")

    copy = turn.get_by_role("button", name="Copy the answer as Markdown")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == markdown

    plain = turn.get_by_role("button", name="Copy text of the answer, without Markdown")
    plain.click()
    expect(plain).to_have_text("Copied")
    text = page.evaluate("navigator.clipboard.readText()")
    assert text.startswith("Use bold and code:")
    assert "**" not in text and "```" not in text and "Copy code" not in text
    assert "one" in text and "print(1)" in text
