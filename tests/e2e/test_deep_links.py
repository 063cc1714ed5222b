"""A link to a turn (from search: `/c/<id>/?turn=<t>#turn-<t>`) scrolls the message list, never the page
(issue 19, item 1): the title bar, Share and the settings stay on screen."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP, settle
from tests.e2e.test_history import seed

pytestmark = pytest.mark.browser

PHONE_TALL = {"width": 390, "height": 844}


def _document_did_not_scroll(page) -> None:
    state = page.evaluate(
        """() => ({
            y: window.scrollY, x: window.scrollX,
            docHeight: document.documentElement.scrollHeight, viewHeight: window.innerHeight,
            top: document.querySelector('.topbar').getBoundingClientRect().top,
        })"""
    )
    assert state["y"] == 0 and state["x"] == 0, state
    # Nothing stretches the document past the window, so there is nothing to scroll to later either.
    assert state["docHeight"] <= state["viewHeight"], state
    assert state["top"] == 0, state
    expect(page.locator(".topbar .conversation-heading")).to_be_in_viewport()
    expect(page.locator("#share-menu > summary")).to_be_in_viewport()
    expect(page.locator("#conversation-settings > summary")).to_be_in_viewport()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_TALL], ids=["desktop", "phone"])
def test_a_link_to_a_turn_scrolls_only_the_message_list(app, viewport):
    user = app.user()
    seed(user, 60)  # a sidebar that scrolls too
    [conversation] = seed(user, 1, turns=12, answer="Answer {k}: " + "a long paragraph about {title}. " * 30)
    turns = list(conversation.turns.order_by("created_at"))
    assert len(turns) == 12
    page = app.new_page(user=user, viewport=viewport)
    for index in (0, 6, 11):
        target = turns[index]
        page.goto(f"{conversation.get_absolute_url()}?turn={target.id}#turn-{target.id}")
        turn = page.locator(f"#turn-{target.id}")
        expect(turn).to_have_class(r"turn turn-completed turn-linked")
        expect(turn).to_be_in_viewport()
        settle(page)
        _document_did_not_scroll(page)
        if index < 11:  # the list was scrolled to the turn, away from its newest end
            scroll_top = page.locator("#main").evaluate("main => main.scrollTop")
            assert index == 0 or scroll_top > 0
        # Scrolling the list to its end and back keeps the page where it is too.
        page.locator("#main").evaluate("main => { main.scrollTop = main.scrollHeight; }")
        page.mouse.wheel(0, 2000)
        settle(page)
        _document_did_not_scroll(page)
