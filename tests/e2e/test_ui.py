"""The page itself: theme, a phone-sized screen, the kept draft, copy buttons."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.browser

CODE_REPLY = """Here is the function:

```python
def add(a, b):
    return a + b
```

And a shell line:

```
echo done
```
"""


def _theme(page) -> str:
    return page.locator("html").get_attribute("data-theme")


def test_theme_toggle_switches_to_dark_and_persists(app):
    page = app.new_page("/", user=app.user())
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    light_background = page.evaluate("getComputedStyle(document.body).backgroundColor")

    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_background != light_background

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    # Other pages of the site too, and back to light.
    page.goto("/?q=nothing")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_a_dark_system_theme_starts_dark(app):
    page = app.new_page(color_scheme="dark")
    # Dark from the first paint: record the theme as soon as the document exists.
    page.add_init_script(
        "document.addEventListener('readystatechange', () => {"
        " window.__themes = (window.__themes || []).concat(document.documentElement.dataset.theme); });"
    )
    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert set(page.evaluate("window.__themes")) == {"dark"}

    logged_in = app.new_page("/", user=app.user(), color_scheme="dark")
    expect(logged_in.locator("html")).to_have_attribute("data-theme", "dark")
    # An explicit choice wins over the system theme.
    logged_in.locator("#theme-toggle").click()
    expect(logged_in.locator("html")).to_have_attribute("data-theme", "light")
    logged_in.reload()
    expect(logged_in.locator("html")).to_have_attribute("data-theme", "light")


def _no_horizontal_overflow(page) -> None:
    widths = page.evaluate(
        """() => ({
            document: document.documentElement.scrollWidth,
            main: document.getElementById('main').scrollWidth,
            mainClient: document.getElementById('main').clientWidth,
        })"""
    )
    assert widths["document"] <= PHONE["width"], widths
    assert widths["main"] <= widths["mainClient"], widths


def test_phone_sized_screen(app):
    app.fake_api.reply = (
        "A long unbroken line: " + "x" * 300 + "\n\n"
        "| column one | column two | column three | column four | column five |\n"
        "|---|---|---|---|---|\n"
        "| " + " | ".join(["some wide cell content"] * 5) + " |\n\n"
        "```python\n" + "print('" + "y" * 200 + "')\n```\n"
    )
    app.start_worker()
    page = app.new_page("/", user=app.user(), viewport=PHONE)
    sidebar = page.locator("#sidebar")
    toggle = page.locator("#sidebar-toggle")

    # The sidebar is out of the way until asked for.
    expect(toggle).to_be_visible()
    expect(sidebar).not_to_be_in_viewport()
    _no_horizontal_overflow(page)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar).to_be_in_viewport(ratio=0.9)
    expect(page.locator("#new-chat")).to_be_in_viewport()
    # The open drawer covers the toggle: Escape or a tap beside it closes it.
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(sidebar).to_be_in_viewport(ratio=0.9)
    page.mouse.click(PHONE["width"] - 15, PHONE["height"] // 2)
    expect(sidebar).not_to_be_in_viewport()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # The composer is usable: visible, big enough, and sends.
    composer = page.locator("#id_prompt")
    expect(composer).to_be_in_viewport()
    box = composer.bounding_box()
    assert box["width"] >= 200, box
    send = page.locator("#send-button")
    expect(send).to_be_in_viewport()
    send_box = send.bounding_box()
    assert send_box["x"] + send_box["width"] <= PHONE["width"], send_box
    app.send(page, "Wide things please")
    turn = app.wait_for_answer(page, "A long unbroken line")
    expect(turn.locator(".markdown table")).to_be_visible()
    _no_horizontal_overflow(page)
    expect(page.locator("#id_prompt")).to_be_in_viewport()
    expect(page.locator("#send-button")).to_be_in_viewport()


def test_the_draft_survives_a_reload_and_clears_after_sending(app):
    app.fake_api.latency = 0.3
    app.start_worker()
    page = app.new_page("/", user=app.user())
    composer = page.locator("#id_prompt")
    composer.fill("Half-written thought")
    page.reload()
    expect(composer).to_have_value("Half-written thought")

    composer.press_sequentially(", finished.")
    expect(composer).to_have_value("Half-written thought, finished.")
    with page.expect_navigation():
        composer.press("Enter")
    app.wait_for_answer(page, "Echo: Half-written thought, finished.")
    expect(composer).to_have_value("")
    conversation_url = page.url
    page.goto("/")
    expect(composer).to_have_value("")

    # In a conversation too: a draft there is kept separately and cleared once sent.
    page.goto(conversation_url)
    composer.press_sequentially("Follow-up draft")
    page.reload()
    expect(composer).to_have_value("Follow-up draft")
    with page.expect_navigation():
        composer.press("Enter")
    app.wait_for_answer(page, "Echo: Follow-up draft")
    expect(composer).to_have_value("")
    page.reload()
    expect(composer).to_have_value("")


def test_copy_code_puts_the_code_on_the_clipboard(app):
    app.fake_api.reply = CODE_REPLY
    app.fake_api.latency = 0.3
    app.start_worker()
    page = app.new_page("/", user=app.user(), permissions=["clipboard-read", "clipboard-write"])
    app.send(page, "Write add()")
    turn = app.wait_for_answer(page, "Here is the function")

    # The answer arrived by polling: its code blocks got buttons too.
    copy_code = turn.locator(".markdown pre .copy-button")
    expect(copy_code).to_have_count(2)
    copy_code.first.click()
    expect(copy_code.first).to_have_text("Copied")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard.strip() == "def add(a, b):\n    return a + b"
    expect(copy_code.first).to_have_text("Copy code", timeout=5_000)

    copy_code.nth(1).click()
    expect(copy_code.nth(1)).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == "echo done"

    # After a reload (buttons added on page load) the same.
    page.reload()
    copy_code.first.click()
    expect(copy_code.first).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == "def add(a, b):\n    return a + b"

    # The whole answer, as text.
    copy_answer = turn.locator(".turn-meta .copy-button")
    expect(copy_answer).to_have_count(1)
    copy_answer.click()
    expect(copy_answer).to_have_text("Copied")
    answer = page.evaluate("navigator.clipboard.readText()")
    assert answer.startswith("Here is the function:")
    assert "return a + b" in answer and "echo done" in answer
    assert "Copy code" not in answer
