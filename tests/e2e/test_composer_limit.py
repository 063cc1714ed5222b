"""A prompt over the length limit, with JavaScript on (issue 19, item 4): Enter and Send say why, in an
alert next to the composer (announced), and the text stays as typed; nothing is sent."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

PHONE_TALL = {"width": 390, "height": 844}


def _refusal_is_where_the_user_looks(page):
    alert = page.locator("#composer").get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_have_text(
        "This prompt has 205 characters, over the limit of 200: shorten it by 5 characters to send it."
    )
    expect(alert).to_be_in_viewport()
    box = page.locator(".composer-box").bounding_box()
    placed = alert.bounding_box()
    assert 0 <= box["y"] - (placed["y"] + placed["height"]) < 24, (placed, box)  # just above the box
    expect(page.locator("#id_prompt")).to_be_focused()
    expect(page.locator("#id_prompt")).to_have_attribute("aria-invalid", "true")


@pytest.mark.parametrize("viewport", [None, PHONE_TALL], ids=["desktop", "phone"])
def test_enter_and_send_over_the_limit_say_why_and_keep_the_text(app, tmp_path, viewport):
    from conversations.models import Turn

    app.settings.MAX_PROMPT_CHARS = 200
    theme = "light" if viewport is None else "dark"
    page = app.new_page("/", user=app.user(), viewport=viewport, color_scheme=theme)
    composer = page.locator("#id_prompt")
    text = "Summarise this: " + "x" * 189
    composer.fill(text)
    expect(page.locator("#composer-count")).to_have_text("205 / 200 · 5 over the limit")
    expect(page.locator("#composer").get_by_role("alert")).to_have_count(0)  # nothing refused yet

    composer.press("Enter")
    _refusal_is_where_the_user_looks(page)
    expect(composer).to_have_value(text)
    screenshot(page, "composer-over-the-limit-refused" + ("" if viewport is None else "-phone-dark"), tmp_path)

    # Shorter: the message goes. Longer again, and the Send button: the same message, announced anew.
    composer.press("Backspace")
    expect(page.locator("#composer").get_by_role("alert")).to_have_count(1)  # 204: still over
    composer.fill(text[:200])
    expect(page.locator("#composer").get_by_role("alert")).to_have_count(0)
    expect(composer).not_to_have_attribute("aria-invalid", "true")
    composer.fill(text)
    page.locator("#send-button").click()
    _refusal_is_where_the_user_looks(page)
    expect(composer).to_have_value(text)
    assert page.url.endswith("/") and Turn.objects.count() == 0
