"""The finish of issue 19, item 10: the answer's meta row, sidebar titles beside a badge, import errors in
plain words, one name for the username, Delete asking in the app's own dialog."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

PHONE_TALL = {"width": 390, "height": 844}


def _answered(user, *, title="Meta row"):
    from decimal import Decimal

    now = timezone.now()
    conversation = factories.conversation(owner=user, title=title)
    factories.turn(
        conversation=conversation,
        prompt="How long did that take?",
        status="completed",
        output_text="Six seconds, more or less.",
        output_html="<p>Six seconds, more or less.</p>",
        input_tokens=12_345,
        cached_tokens=2_048,
        output_tokens=3_456,
        reasoning_tokens=1_024,
        total_tokens=15_801,
        cost_usd=Decimal("0.412345"),
        started_at=now - timedelta(seconds=6),
        completed_at=now,
    )
    return conversation


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_answer_meta_row_keeps_the_time_beside_the_cost_on_a_phone(app, tmp_path, theme):
    user = app.user()
    conversation = _answered(user)
    page = app.new_page(conversation.get_absolute_url(), user=user, viewport=PHONE_TALL, color_scheme=theme)
    meta = page.locator(".turn-meta").last
    time = meta.locator(".meta-item", has_text="6.0 s")
    cost = meta.locator(".meta-item", has_text="$0.4123")
    expect(time).to_have_count(1)
    line = cost.bounding_box()
    box = time.bounding_box()
    assert abs(box["y"] - line["y"]) < 2, (box, line)  # the same line as the cost, never one of its own
    assert box["height"] < 1.6 * 0.8 * 16 * 1.5, box  # "6.0 s" on one line
    # Nothing runs off the screen: the token counts break between their parts instead.
    tokens = meta.locator(".meta-tokens")
    assert tokens.evaluate("el => el.getBoundingClientRect().right") <= PHONE_TALL["width"]
    assert page.evaluate("document.querySelector('#main').scrollWidth <= document.querySelector('#main').clientWidth")
    screenshot(page, f"meta-row-phone-{theme}", tmp_path)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_badge_in_a_sidebar_row_takes_the_times_place_not_the_titles(app, tmp_path, theme):
    from conversations.models import Turn

    user = app.user()
    title = "Draft the onboarding email for the new team"
    idle = factories.conversation(owner=user, title=title + " (idle)")
    busy = factories.conversation(owner=user, title=title + " (busy)")
    factories.turn(conversation=idle, prompt="Draft it", status="completed", output_text="Done.")
    factories.turn(conversation=busy, prompt="Draft it", status="in_progress", started_at=timezone.now())
    assert Turn.objects.filter(status="in_progress").count() == 1
    page = app.new_page("/", user=user, color_scheme=theme)
    busy_row = page.locator(".conversation-row", has_text="(busy)")
    idle_row = page.locator(".conversation-row", has_text="(idle)")
    expect(busy_row.locator(".badge-working")).to_be_visible()
    expect(busy_row.locator(".badge-working")).to_have_attribute("title", "An answer is being generated")
    expect(busy_row.locator(".conversation-time")).to_be_hidden()
    width = lambda row: row.locator(".conversation-title").evaluate("el => el.clientWidth")  # noqa: E731
    assert width(busy_row) >= width(idle_row), (width(busy_row), width(idle_row))
    page.mouse.move(600, 400)
    screenshot(page, f"sidebar-badge-{theme}", tmp_path)


def test_import_errors_are_in_plain_words(app, tmp_path):
    page = app.new_page("/transfer/", user=app.user())
    cases = {
        "diary.json": (b"Dear diary,", "it has something that is not an export's text in it"),
        "cut.json": (b'{"format": "aimlweb-export", "version": 3, "conversations": [', "it ends too early"),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        page.get_by_label("Export file").set_input_files(path)
        with page.expect_navigation():
            page.get_by_role("button", name="Import").click()
        alert = page.locator(".alert-error")
        expect(alert).to_contain_text("Nothing was imported: This is not a valid JSON file: " + reason)
        for jargon in ("lexical", "parse error", "json text", "EOF", "right here"):
            expect(alert).not_to_contain_text(jargon)


def test_the_username_has_one_name_everywhere(app):
    page = app.new_page("/login/")
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    page.get_by_label("Username", exact=True).fill("nobody")
    page.get_by_label("Password", exact=True).fill("wrong-password-1")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Your username and password did not match. Please try again.")
    page.goto("/signup/")
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    for path in ("/login/", "/signup/"):
        page.goto(path)
        assert "user name" not in page.locator("body").inner_text().lower(), path


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_delete_asks_in_the_apps_dialog_and_without_javascript_on_a_page(app, tmp_path, theme):
    from conversations.models import Conversation
    from tests.e2e.conftest import DESKTOP

    user = app.user()
    conversation = _answered(user, title="Old notes")
    page = app.new_page(conversation.get_absolute_url(), user=user, color_scheme=theme)
    page.get_by_text("Conversation settings").click()
    page.get_by_role("button", name="Delete conversation").click()
    dialog = page.get_by_role("dialog", name="Delete “Old notes”?")
    expect(dialog).to_be_visible()
    screenshot(page, f"delete-dialog-{theme}", tmp_path)
    dialog.get_by_role("button", name="Cancel").click()
    assert Conversation.objects.filter(id=conversation.id).exists()

    # Without JavaScript the same button opens the confirmation page, which deletes.
    context = app.browser.new_context(base_url=app.url, java_script_enabled=False, viewport=DESKTOP)
    plain = context.new_page()
    plain.context.add_cookies([app._session_cookie(user)])
    plain.goto(conversation.get_absolute_url())
    plain.locator("#conversation-settings > summary").click()
    plain.get_by_role("button", name="Delete conversation").click()
    expect(plain.get_by_role("heading", name="Delete “Old notes”?")).to_be_visible()
    assert Conversation.objects.filter(id=conversation.id).exists()
    plain.get_by_role("button", name="Delete for good").click()
    expect(plain.get_by_text("Deleted “Old notes”.")).to_be_visible()
    assert not Conversation.objects.filter(id=conversation.id).exists()
    context.close()
