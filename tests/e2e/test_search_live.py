"""The sidebar's search as you type (issue 19, item 2): debounced, a newer search cancels the one in flight,
one result per conversation with its best snippets and a count, the keyboard; Enter still opens the search
page, and without JavaScript the form does."""

import contextlib
import os

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, page_until, screenshot
from tests.e2e.test_history import seed

pytestmark = pytest.mark.browser

DELAY_MS = 250  # static/js/search-live.js
PHONE_TALL = {"width": 390, "height": 844}


def _seed_matches(user):
    """Seven turns about quokkas in one conversation, one in another, and some that say nothing of them."""
    from conversations.models import Turn

    seed(user, 6)
    [many, one] = seed(user, 2, turns=7, answer="Step {k} of {title}.")
    turns = list(many.turns.order_by("created_at"))
    for k, turn in enumerate(turns):
        Turn.objects.filter(id=turn.id).update(prompt=f"Where does the quokka live? ({k})")
    Turn.objects.filter(id=one.turns.order_by("created_at").first().id).update(
        output_text="A quokka is a small wallaby.", output_html="<p>A quokka is a small wallaby.</p>"
    )
    return many, one


def panel(page):
    return page.locator("#search-panel")


def test_results_come_as_you_type_one_per_conversation_and_the_keyboard_opens_them(app):
    user = app.user()
    many, one = _seed_matches(user)
    page = app.new_page("/", user=user)
    box = page.get_by_label("Search conversations")
    box.press_sequentially("quokka", delay=20)
    hits = panel(page).locator(".panel-hit")
    expect(hits).to_have_count(2)
    expect(page.locator("#conversation-list")).to_be_hidden()  # the results take the list's place
    top = hits.filter(has_text=many.title)
    expect(top.locator(".panel-count")).to_have_text("7 matches")
    expect(top.locator(".panel-snippet")).to_have_count(3)
    expect(top.locator(".panel-snippet mark").first).to_have_text("quokka")
    expect(hits.filter(has_text=one.title).locator(".panel-snippet")).to_contain_text("A quokka is a small wallaby.")
    expect(panel(page).get_by_role("link", name="All results and filters")).to_have_attribute(
        "href", "/search/?q=quokka"
    )
    expect(page.locator("#live-announcer")).to_have_text("2 conversations match, best first.")

    # ↓ into the results, ↓ ↑ between them, ↑ from the first back to the box; Escape clears.
    links = panel(page).locator("a[href]")
    box.press("ArrowDown")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(links.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    box.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(panel(page)).to_be_hidden()
    expect(page.locator("#conversation-list")).to_be_visible()

    # Enter on a result opens its best message.
    box.press_sequentially("quokka", delay=20)
    expect(hits).to_have_count(2)
    box.press("ArrowDown")
    first = links.nth(0)
    expect(first).to_be_focused()
    href = first.get_attribute("href")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(href) and "#turn-" in href
    expect(page.locator(".turn-linked")).to_be_in_viewport()

    # Enter in the box: the search page, as without JavaScript.
    box = page.get_by_label("Search conversations")
    box.fill("quokka")
    with page.expect_navigation():
        box.press("Enter")
    expect(page.locator(".search-hit")).to_have_count(2)
    expect(page.locator(".search-hit", has_text=many.title).locator(".hit-snippet")).to_have_count(3)


def test_typing_waits_for_a_pause_and_a_newer_search_cancels_the_one_in_flight(app):
    user = app.user()
    _seed_matches(user)
    seed(user, 1, answer="The wombat digs.")
    page = app.new_context(user=user).new_page()
    app.guard_page(page)
    searches, failed, held = [], [], []
    page.on("request", lambda r: searches.append(r.url) if "/search/?q=" in r.url else None)
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure)) if "/search/?q=" in r.url else None)

    def hold_quokka(route):
        held.append(route)  # answered only after the newer search

    page.route("**/search/?q=quokka", hold_quokka)
    page.clock.install()
    page.goto("/")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    box = page.get_by_label("Search conversations")
    box.focus()
    expect(page.locator("#search-panel")).to_be_attached()  # search-live.js arrived
    for text in ("q", "qu", "quok", "quokka"):
        box.fill(text)
    page.clock.run_for(DELAY_MS - 1)
    assert searches == []  # still typing, as far as the page knows
    page.clock.run_for(1)
    page_until(page, lambda: len(held) == 1)
    assert [url.rsplit("?", 1)[1] for url in searches] == ["q=quokka"]

    box.fill("wombat")
    page.clock.run_for(DELAY_MS)
    expect(panel(page).locator(".panel-hit")).to_have_count(1)
    expect(panel(page)).to_contain_text("The wombat digs.")
    page_until(page, lambda: len(failed) == 1)
    assert failed[0][0].endswith("/search/?q=quokka")  # aborted, not just ignored
    with contextlib.suppress(Exception):
        held[0].continue_()
    expect(panel(page)).to_contain_text("The wombat digs.")
    assert [url.rsplit("?", 1)[1] for url in searches] == ["q=quokka", "q=wombat"]


def test_without_javascript_the_box_opens_the_search_page(app):
    user = app.user()
    many, _one = _seed_matches(user)
    context = app.browser.new_context(base_url=app.url, java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    page.context.add_cookies([app._session_cookie(user)])
    page.goto("/")
    page.get_by_label("Search conversations").fill("quokka")
    with page.expect_navigation():
        page.get_by_label("Search conversations").press("Enter")
    hit = page.locator(".search-hit", has_text=many.title)
    expect(hit.locator(".hit-count")).to_have_text("7 matching messages (4 more in the conversation)")
    expect(page.locator(".search-hit")).to_have_count(2)
    context.close()


@pytest.mark.parametrize("view", ["desktop-light", "desktop-dark", "phone-light"])
def test_screenshots_of_the_sidebar_search(app, tmp_path, view):
    user = app.user("dana")
    _seed_matches(user)
    size, theme = view.split("-")
    options = {"viewport": DESKTOP if size == "desktop" else PHONE_TALL, "color_scheme": theme}
    page = app.new_page("/", **options, user=user)
    if size == "phone":
        page.locator("#sidebar-toggle").click()
    page.get_by_label("Search conversations").focus()
    expect(page.locator("#search-panel")).to_be_attached()  # search-live.js arrived (what is typed before: below)
    page.get_by_label("Search conversations").press_sequentially("quokka", delay=20)
    expect(panel(page).locator(".panel-hit")).to_have_count(2)
    page.get_by_label("Search conversations").press("ArrowDown")
    path = screenshot(page, f"search-live-{view}", tmp_path)
    assert path.exists() and (os.environ.get("SAVE_SCREENSHOTS") != "1" or path.stat().st_size > 10_000)


def test_what_is_typed_before_the_module_arrives_is_searched(app):
    user = app.user()
    _seed_matches(user)
    page = app.new_context(user=user).new_page()
    app.guard_page(page)
    held = []
    page.route("**/search-live*.js", lambda route: held.append(route))  # arrives once the typing is done
    page.goto("/")
    page.get_by_label("Search conversations").press_sequentially("quokka", delay=20)
    page_until(page, lambda: len(held) == 1)
    held[0].continue_()
    expect(panel(page).locator(".panel-hit")).to_have_count(2)
