"""History in the browser: the sidebar loads more as it scrolls, search jumps to the turn, pin, archive, delete.

Conversations are written straight to the database (the history is what is under test, not
the model). `SAVE_SCREENSHOTS=1` also writes the sidebar and search screenshots to docs/screenshots/.
"""

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.chat.selectors import TURNS_PAGE
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser

TITLES = [
    "Quarterly revenue forecast review",
    "Postgres index for the orders table",
    "Draft the onboarding email",
    "Why is the cache hit rate falling?",
    "Compare three queue libraries",
    "Kubernetes rollout checklist",
    "Explain the bias-variance trade-off",
    "Budget plan for the data team",
    "Refactor the invoice parser",
    "Summarise the incident report",
]


def seed(user, count, *, turns=1, now=None, answer=None):
    """`count` conversations, newest first, an hour apart; returns them oldest last."""
    from conversations.models import Turn

    now = now or timezone.now()
    made = []
    for i in range(count):
        at = now - timedelta(hours=i * 5)
        conversation = factories.conversation(
            owner=user, title=f"{TITLES[i % len(TITLES)]} #{i}", model="openai/gpt-5-pro", updated_at=at
        )
        rows = Turn.objects.bulk_create(
            [
                Turn(
                    conversation=conversation,
                    prompt=f"Question {k} of {conversation.title}",
                    status="completed",
                    output_text=(answer or "An answer about {title}.").format(title=conversation.title, k=k),
                    output_html="<p>"
                    + (answer or "An answer about {title}.").format(title=conversation.title, k=k)
                    + "</p>",
                    created_at=at - timedelta(minutes=turns - k),
                )
                for k in range(turns)
            ]
        )
        for previous, turn in zip(rows, rows[1:], strict=False):  # one line: each follows the one before
            turn.parent_id = previous.id
        Turn.objects.bulk_update(rows, ["parent"])
        made.append(conversation)
    return made


def rows(page):
    return page.locator("#conversation-list .conversation-row")


def scroll_list_to_end(page):
    page.locator("#conversation-list").evaluate("list => { list.scrollTop = list.scrollHeight; }")


def open_row_menu(page, title):
    row = page.locator("#conversation-list .conversation-row", has_text=title)
    row.hover()
    row.get_by_role("button", name=f"Actions for {title}").click()
    menu = page.get_by_role("menu", name="Conversation actions")
    expect(menu).to_be_visible()
    return menu


def test_the_sidebar_loads_more_as_it_scrolls(app):
    user = app.user()
    seed(user, 130)
    page = app.new_page("/", user=user)
    expect(rows(page)).to_have_count(50)
    expect(page.locator("#conversation-list .list-heading").first).to_have_text("Today")
    scroll_list_to_end(page)
    expect(rows(page)).to_have_count(100)
    scroll_list_to_end(page)
    expect(rows(page)).to_have_count(130)
    expect(page.locator("#conversation-list .list-end")).to_contain_text("That is all")
    ids = rows(page).evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(set(ids)) == 130
    # Month headings appear once each, however the pages were cut.
    headings = page.locator("#conversation-list .list-heading").all_inner_texts()
    assert len(headings) == len(set(headings)) and "Previous 7 days" in headings
    # The rows that arrived later open like the first ones.
    rows(page).last.locator(".conversation-link").click()
    expect(page.locator(".conversation-heading")).to_contain_text("#129")


def test_search_shows_a_highlighted_snippet_and_jumps_to_an_early_turn(app):
    from conversations.models import Turn

    user = app.user()
    seed(user, 5)
    [long] = seed(user, 1, turns=100, answer="Step {k}: keep going with {title}.")
    target = long.turns.order_by("created_at")[3]
    Turn.objects.filter(id=target.id).update(
        output_text="The quokka smiles because of its jaw shape.", output_html="<p>The quokka smiles.</p>"
    )
    page = app.new_page("/", user=user)
    page.get_by_label("Search conversations").fill("quokka jaw")
    with page.expect_navigation():
        page.get_by_label("Search conversations").press("Enter")
    hit = page.locator(".search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(["quokka", "jaw"])
    expect(hit.locator(".hit-snippet")).to_contain_text("The quokka smiles because of its jaw shape.")
    with page.expect_navigation():
        hit.locator(".hit-link").click()
    assert page.url.endswith(f"/c/{long.id}/?turn={target.id}#turn-{target.id}")
    # The turn is far above the newest ones: it is loaded and scrolled to.
    turn = page.locator(f"#turn-{target.id}")
    expect(turn).to_be_in_viewport()
    expect(turn).to_contain_text("Question 3 of")
    # The three turns above it follow as they come into reach; the linked one stays in view.
    expect(page.locator("#turns > article.turn")).to_have_count(100)
    expect(turn).to_be_in_viewport()


def test_search_input_that_is_not_words_gets_a_message_and_keeps_the_text(app):
    user = app.user()
    seed(user, 2)
    page = app.new_page("/search/?q=" + "%22%22+-", user=user)
    expect(page.get_by_role("alert")).to_contain_text("Type a word to look for")
    expect(page.locator("#id_q")).to_have_value('"" -')


def test_earlier_messages_load_when_scrolling_up(app):
    user = app.user()
    [long] = seed(user, 1, turns=100)
    page = app.new_page(long.get_absolute_url(), user=user)
    turns = page.locator("#turns > article.turn")
    expect(turns).to_have_count(TURNS_PAGE)
    first_shown = turns.first.get_attribute("id")
    page.locator("#main").evaluate("main => { main.scrollTop = 0; }")
    expect(turns).to_have_count(2 * TURNS_PAGE)
    # What was at the top is still where the reader was, not pushed away.
    expect(page.locator(f"#{first_shown}")).to_be_in_viewport()
    for shown in range(3 * TURNS_PAGE, 100 + TURNS_PAGE, TURNS_PAGE):
        page.locator("#main").evaluate("main => { main.scrollTop = 0; }")
        expect(turns).to_have_count(min(shown, 100))
    expect(page.locator("[data-turns-earlier]")).to_have_count(0)


def test_pin_puts_a_conversation_on_top(app):
    user = app.user()
    made = seed(user, 6)
    oldest = made[-1].title
    page = app.new_page("/", user=user)
    menu = open_row_menu(page, oldest)
    with page.expect_navigation():
        menu.get_by_role("menuitem", name="Pin", exact=True).click()
    expect(page.get_by_text(f"Pinned “{oldest}”.")).to_be_visible()
    expect(page.locator("#conversation-list .list-heading").first).to_have_text("Pinned")
    expect(rows(page).first).to_contain_text(oldest)
    expect(rows(page)).to_have_count(6)
    menu = open_row_menu(page, oldest)
    expect(menu.get_by_role("menuitem", name="Pin", exact=True)).to_be_hidden()
    with page.expect_navigation():
        menu.get_by_role("menuitem", name="Unpin").click()
    expect(rows(page).last).to_contain_text(oldest)
    expect(page.locator("#conversation-list .list-heading", has_text="Pinned")).to_have_count(0)


def test_archive_hides_it_and_unarchive_brings_it_back_in_one_click(app):
    user = app.user()
    made = seed(user, 4)
    title = made[1].title
    page = app.new_page("/", user=user)
    menu = open_row_menu(page, title)
    with page.expect_navigation():
        menu.get_by_role("menuitem", name="Archive").click()
    expect(page.get_by_text(f"Archived “{title}”.")).to_be_visible()
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#conversation-list")).not_to_contain_text(title)
    with page.expect_navigation():
        page.get_by_role("link", name="Archived conversations").click()
    hit = page.locator(".search-hit", has_text=title)
    expect(hit).to_be_visible()
    with page.expect_navigation():
        hit.get_by_role("button", name="Unarchive").click()
    expect(page.get_by_text(f"“{title}” is back in the list.")).to_be_visible()
    expect(rows(page)).to_have_count(4)


def test_delete_asks_first_and_says_what_goes(app):
    user = app.user()
    made = seed(user, 3)
    title = made[0].title
    page = app.new_page("/", user=user)
    open_row_menu(page, title).get_by_role("menuitem", name="Delete…").click()
    dialog = page.get_by_role("dialog", name=f"Delete “{title}”?")
    expect(dialog).to_have_text(re.compile(r"Its prompts and answers will be deleted for good.*usage ledger"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(rows(page)).to_have_count(3)
    expect(page.get_by_role("button", name=f"Actions for {title}")).to_be_focused()
    open_row_menu(page, title).get_by_role("menuitem", name="Delete…").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text(f"Deleted “{title}”.")).to_be_visible()
    expect(rows(page)).to_have_count(2)


def test_rename_in_the_list(app):
    user = app.user()
    made = seed(user, 2)
    page = app.new_page(made[1].get_absolute_url(), user=user)
    open_row_menu(page, made[0].title).get_by_role("menuitem", name="Rename").click()
    field = page.get_by_label("New title")
    expect(field).to_be_focused()
    field.press("Escape")  # cancels
    expect(field).to_have_count(0)
    open_row_menu(page, made[0].title).get_by_role("menuitem", name="Rename").click()
    page.get_by_label("New title").fill("Renamed in place")
    with page.expect_navigation():
        page.get_by_label("New title").press("Enter")
    assert page.url.endswith(made[1].get_absolute_url())  # back where the user was
    expect(rows(page).first).to_contain_text("Renamed in place")


def test_without_javascript_the_list_and_actions_still_work(app):
    user = app.user()
    seed(user, 60)
    page = app.browser.new_context(base_url=app.url, java_script_enabled=False, viewport=DESKTOP).new_page()
    page.context.add_cookies([app._session_cookie(user)])
    page.goto("/")
    expect(rows(page)).to_have_count(50)
    page.get_by_role("link", name="More conversations").first.click()
    expect(page.get_by_role("heading", name="Earlier conversations")).to_be_visible()
    expect(page.locator(".history-list .conversation-row")).to_have_count(10)
    page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_the_sidebar_and_search(app, tmp_path, theme):
    from conversations.chat import services
    from conversations.models import Turn

    user = app.user("dana")
    made = seed(
        user,
        24,
        turns=2,
        answer="For {title}, start with the numbers: the forecast model needs the last 12 months of revenue.",
    )
    services.conversation_pin(conversation=made[6])
    Turn.objects.filter(conversation=made[2]).order_by("-created_at").filter(
        id=made[2].turns.order_by("-created_at").first().id
    ).update(status="in_progress")
    options = {"viewport": DESKTOP, "color_scheme": theme}
    page = app.new_page(made[0].get_absolute_url(), **options, user=user)
    expect(rows(page)).to_have_count(24)
    row = page.locator("#conversation-list .conversation-row").nth(2)
    row.hover()
    screenshot(page, f"sidebar-desktop-{theme}", tmp_path)
    page.goto("/search/?q=forecast+revenue")
    expect(page.locator(".search-hit").first).to_be_visible()
    screenshot(page, f"search-desktop-{theme}", tmp_path)
    if theme == "light" and os.environ.get("SAVE_SCREENSHOTS") == "1":
        phone = app.new_page("/search/?q=forecast+revenue&status=completed", viewport=PHONE, user=user)
        expect(phone.locator(".search-hit").first).to_be_visible()
        screenshot(phone, "search-phone", tmp_path)
