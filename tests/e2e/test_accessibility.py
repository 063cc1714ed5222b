"""Every page and state of the app checked by axe-core (Deque's rules, not ours): WCAG 2.0-2.2 A/AA and best practice.

axe-core comes from npm as a test-only dependency (tests/e2e/axe/package.json and its lock file; `make test`
and .ci/run install it with `npm ci`). The test injects `axe.min.js` into the page (`add_script_tag`); the app
never serves it. Its context ignores the Content-Security-Policy for that injected script only: the CSP itself
is checked by every other browser test (tests/e2e/conftest.py PageGuard) and tests/security.

Each page, state, theme and viewport is its own test id:

    .venv/bin/python -m pytest tests/e2e/test_accessibility.py -k "usage-dashboard and phone"

Django's admin (/admin/) is not checked: its markup is Django's, not ours (our admin CSS only widens columns).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conversations.chat.rendering import markdown_to_html
from tests import factories
from tests.e2e.conftest import settle

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
THEMES = ("light", "dark")
# Before gpt-5-pro retires (2026-12-11): the default model is still the one the rows use.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)

ANSWER = """## Merging two sorted lists

Walk both lists with two indices and take the **smaller** head; `heapq.merge` does it lazily.

```python
def merge(a, b):
    return sorted(a + b)
```

| Approach | Time |
|---|---|
| Two indices | O(n + m) |
| `heapq.merge` | O(n + m), lazy |
"""

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' | ' + (n.failureSummary || '').replace(/\\s+/g, ' ')),
  }));
}"""


def axe_violations(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (its script injected by the test, never served)."""
    if not AXE.exists():
        pytest.fail(f"no axe-core at {AXE}: run `make test` (or `npm ci --prefix tests/e2e/axe`)", pytrace=False)
    page.add_script_tag(path=str(AXE))
    settle(page)
    return page.evaluate(RUN_AXE, TAGS)


# ---- the pages and states ------------------------------------------------------------------------------


def _conversation(app, user, *, error: bool = True):
    talk = factories.conversation(user, title="Merging lists")
    done = {"status": "completed", "model": factories.PRO, "completed_at": NOW, "started_at": NOW}
    usage = {"input_tokens": 1200, "output_tokens": 800, "total_tokens": 2000, "cost_usd": Decimal("0.123400")}
    html = markdown_to_html(ANSWER)
    factories.turn(talk, "How do I merge two sorted lists?", output_text=ANSWER, output_html=html, **usage, **done)
    short = "Use `heapq.merge(*lists)`."
    factories.turn(talk, "And for many lists?", output_text=short, output_html=markdown_to_html(short), **done)
    if error:
        failed = "The model's service failed (500). Nothing was charged; try again."
        factories.turn(talk, "One more thing", status="failed", model=factories.PRO, error_code="server_error",
                       error_message=failed)  # fmt: skip
    return talk


def conversation(app, **options) -> Page:
    user = app.user("alice")
    talk = _conversation(app, user)
    page = app.new_page(f"/c/{talk.id}/", user=user, **options)
    expect(page.locator(".markdown table")).to_be_visible()
    expect(page.locator("article.turn[data-status=failed]")).to_be_visible()
    return page


def conversation_share_menu(app, **options) -> Page:
    from conversations.history.services import share_create

    user = app.user("alice")
    talk = _conversation(app, user, error=False)
    share_create(conversation=talk, show_cost=True)
    page = app.new_page(f"/c/{talk.id}/", user=user, **options)
    page.get_by_title("Share or export this conversation").click()
    expect(page.locator(".share-item")).to_have_count(1)
    return page


def new_chat(app, **options) -> Page:
    page = app.new_page("/", user=app.user("alice"), **options)
    expect(page.locator("#id_prompt")).to_be_visible()
    return page


def search_results(app, **options) -> Page:
    user = app.user("alice")
    _conversation(app, user)
    page = app.new_page("/search/?q=merge", user=user, **options)
    expect(page.locator("mark").first).to_be_visible()
    return page


def own_usage(app, **options) -> Page:
    data = factories.ledger()
    page = app.new_page("/usage/", user=data["ann"], **options)
    expect(page.get_by_role("heading", name="Per conversation")).to_be_visible()
    return page


def usage_dashboard(app, **options) -> Page:
    factories.ledger()
    boss = factories.user("boss", is_staff=True, is_superuser=True)
    page = app.new_page("/usage/admin/?period=30d", user=boss, **options)
    expect(page.locator("svg.chart").first).to_be_visible()
    return page


def signed_in_page(path: str) -> Callable[..., Page]:
    """A page of a signed-in user drawn from the request alone (account, password, export and import)."""

    def open_page(app, **options) -> Page:
        page = app.new_page(path, user=app.user("alice"), **options)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        return page

    return open_page


def sign_in(app, **options) -> Page:
    page = app.new_page("/login/", **options)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    return page


def sign_in_error(app, **options) -> Page:
    page = app.new_page("/login/", **options)
    page.fill("#id_username", "nobody")
    page.fill("#id_password", "wrong-password-1")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    return page


def sign_up(app, **options) -> Page:
    page = app.new_page("/signup/", **options)
    expect(page.get_by_role("button", name="Sign up")).to_be_visible()
    return page


def sign_up_pending(app, **options) -> Page:
    app.settings.SIGNUP = "approval"
    page = app.new_page("/signup/", **options)
    page.fill("#id_username", "newcomer")
    page.fill("#id_password1", "e2e-pass-Quokka-42")
    page.fill("#id_password2", "e2e-pass-Quokka-42")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Almost there")).to_be_visible()
    return page


def share_page(app, **options) -> Page:
    from conversations.history.services import share_create

    owner, reader = app.user("alice"), app.user("bob")
    share = share_create(conversation=_conversation(app, owner, error=False), show_cost=True)
    page = app.new_page(f"/s/{share.token}/", user=reader, **options)
    expect(page.locator(".markdown table")).to_be_visible()
    return page


def share_signed_out(app, **options) -> Page:
    from conversations.history.services import share_create

    share = share_create(conversation=_conversation(app, app.user("alice"), error=False))
    page = app.new_page(f"/s/{share.token}/", **options)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    return page


def not_found(app, **options) -> Page:
    page = app.new_page(**options)
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    return page


PAGES: dict[str, Callable[..., Page]] = {
    "conversation": conversation,
    "conversation-share-menu": conversation_share_menu,
    "new-chat": new_chat,
    "search": search_results,
    "usage-mine": own_usage,
    "usage-dashboard": usage_dashboard,
    "account": signed_in_page("/account/"),
    "password-change": signed_in_page("/account/password/"),
    "transfer": signed_in_page("/transfer/"),
    "sign-in": sign_in,
    "sign-in-error": sign_in_error,
    "sign-up": sign_up,
    "sign-up-pending": sign_up_pending,
    "share": share_page,
    "share-signed-out": share_signed_out,
    "error-404": not_found,
}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("name", PAGES)
def test_no_axe_violations(name, theme, viewport, app, clock):
    clock(NOW)
    page = PAGES[name](app, viewport=VIEWPORTS[viewport], color_scheme=theme, bypass_csp=True)
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    violations = axe_violations(page)
    assert violations == [], f"{len(violations)} axe-core rule(s) broken:\n" + json.dumps(violations, indent=1)
