"""Versions in the browser: regenerate twice, switch between the three versions, continue from the middle one."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, screenshot

pytestmark = pytest.mark.browser

ANSWERS = {
    "one": "Seven. **Lucky** and prime.",
    "two": "Forty-two: the answer to *everything*, as the book says.",
    "three": "Three, the first odd prime.",
}


def versions(page):
    """The switcher of the turn with versions (the only one in these tests)."""
    return page.locator(".versions")


def test_switch_between_three_versions_and_continue_from_the_middle_one(app, tmp_path):
    app.start_worker()
    user = app.user()
    page = app.new_page("/", user=user)
    app.send(page, "Hello there")
    app.wait_for_answer(page, "Echo: Hello there")
    app.fake_api.reply = ANSWERS["one"]
    app.send(page, "Pick a number")
    app.wait_for_answer(page, "Seven.")
    expect(versions(page)).to_have_count(0)  # one version: no switcher

    # Regenerate twice: each answer is another version at the same place, the newest shown.
    for name in ("two", "three"):
        app.fake_api.reply = ANSWERS[name]
        with page.expect_navigation():
            app.last_turn(page).get_by_role("button", name="Regenerate").click()
        app.wait_for_answer(page, ANSWERS[name].split(":")[0].split(",")[0])
    expect(page.locator("#turns > article.turn")).to_have_count(2)
    switcher = page.get_by_role("group", name="Version 3 of 3")
    expect(switcher).to_have_text("3 / 3")
    expect(switcher.get_by_role("button", name="Next version")).to_be_disabled()
    for name in ("one", "two"):  # the other versions are not drawn meanwhile
        expect(page.get_by_text(ANSWERS[name].split(".")[0].split(":")[0])).to_have_count(0)
    assert app.fake_api.post_count == 4

    # Switch without a reload, by keyboard: focus stays on the switcher.
    page.evaluate("window.stillTheSamePage = true")
    previous = switcher.get_by_role("button", name="Previous version")
    previous.focus()
    page.keyboard.press("Enter")
    switcher = page.get_by_role("group", name="Version 2 of 3")
    expect(switcher).to_have_text("2 / 3")
    expect(switcher.get_by_role("button", name="Previous version")).to_be_focused()
    expect(app.last_turn(page)).to_contain_text("Forty-two")
    page.keyboard.press("Enter")
    switcher = page.get_by_role("group", name="Version 1 of 3")
    expect(app.last_turn(page)).to_contain_text("Seven.")
    expect(switcher.get_by_role("button", name="Previous version")).to_be_disabled()
    expect(switcher.get_by_role("button", name="Next version")).to_be_focused()  # the one still usable
    switcher.get_by_role("button", name="Next version").click()
    switcher = page.get_by_role("group", name="Version 2 of 3")
    expect(app.last_turn(page)).to_contain_text("Forty-two")
    expect(page.locator("#live-announcer")).to_have_text("Version 2 of 3 shown.")
    assert page.evaluate("window.stillTheSamePage") is True
    assert "?" not in page.url  # the address is the conversation's; the server remembers the version
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement.blur()")
    shot("versions-desktop-light", page, tmp_path, to_docs=True)

    # Continue from the middle version: the model is sent exactly the path on screen.
    app.fake_api.reply = None
    app.send(page, "Why that one?")
    app.wait_for_answer(page, "Echo: Why that one?")
    sent = app.fake_api.post_requests[-1]["json"]["input"]
    hello = page.locator("#turns > article.turn").first.locator(".markdown")
    assert [(item["role"], item["content"]) for item in sent] == [
        ("user", "Hello there"),
        ("assistant", sent[1]["content"]),
        ("user", "Pick a number"),
        ("assistant", ANSWERS["two"]),
        ("user", "Why that one?"),
    ]
    assert sent[1]["content"].startswith("Echo: Hello there")
    expect(hello).to_contain_text("Echo: Hello there")
    turns = page.locator("#turns > article.turn")
    expect(turns).to_have_count(3)
    expect(turns.nth(1)).to_contain_text("Forty-two")
    expect(page.get_by_role("group", name="Version 2 of 3")).to_be_visible()

    # Reloaded, the same version is on screen; version 3 still holds only its own answer.
    page.reload()
    expect(page.locator("#turns > article.turn")).to_have_count(3)
    page.get_by_role("group", name="Version 2 of 3").get_by_role("button", name="Next version").click()
    expect(page.get_by_role("group", name="Version 3 of 3")).to_be_visible()
    expect(page.locator("#turns > article.turn")).to_have_count(2)
    expect(app.last_turn(page)).to_contain_text("Three, the first odd prime.")

    # The switcher in the dark theme and on a 360 px phone.
    url = page.url
    for name, options in {
        "versions-desktop-dark": {"color_scheme": "dark"},
        "versions-phone-light": {"viewport": PHONE},
        "versions-phone-dark": {"viewport": PHONE, "color_scheme": "dark"},
    }.items():
        other = app.new_page(url, user=user, **options)
        group = other.get_by_role("group", name="Version 3 of 3")
        expect(group).to_be_visible()
        if "phone" in name:
            for button in group.get_by_role("button").all():  # touch targets of at least 44 × 44 px
                box = button.bounding_box()
                assert box["width"] >= 44 and box["height"] >= 44, box
        group.scroll_into_view_if_needed()
        shot(name, other, tmp_path)


def shot(name, page, tmp_path, to_docs=False):
    """One screenshot in docs/screenshots (SAVE_SCREENSHOTS=1); the others in the test's folder."""
    if to_docs:
        return screenshot(page, name, tmp_path)
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    return path
