"""What surrounds the conversation (issue 19): the sidebar's account menu, sign-ups approved from it, banners
dismissed, usage charts on a phone, a share link opened signed out, the admin at 1280 px."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e.conftest import DESKTOP, PASSWORD, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # before gpt-5-pro retires (2026-12-11)


def _staff(app, username="boss"):
    user = app.user(username)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def _waiting(username: str, email: str = ""):
    from accounts.models import PendingSignup

    user = factories.user(username, email=email, is_active=False)
    PendingSignup.objects.create(user=user)
    return user


# ---- the account menu ------------------------------------------------------------------------------------


def test_the_sidebar_footer_is_one_compact_menu_for_mouse_and_keyboard(app, tmp_path):
    page = app.new_page("/", user=_staff(app), viewport=DESKTOP, color_scheme="dark")
    foot = page.locator(".sidebar-foot")
    assert foot.bounding_box()["height"] <= 64  # one row: the name, the menu, the theme
    expect(page.locator("#usage-link")).to_be_hidden()

    summary = page.locator("#account-menu > summary")
    summary.focus()
    page.keyboard.press("Enter")
    for link in ("Account", "Usage", "Export and import", "Admin"):
        expect(page.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "account-menu-desktop-dark", tmp_path)
    page.keyboard.press("Tab")
    expect(page.locator("#account-link")).to_be_focused()
    page.keyboard.press("Escape")  # closes it, back on its button
    expect(page.locator("#account-link")).to_be_hidden()
    expect(summary).to_be_focused()

    summary.click()
    expect(page.locator("#usage-link")).to_be_visible()
    page.locator("#main").click(position={"x": 20, "y": 20})  # a click outside closes it
    expect(page.locator("#usage-link")).to_be_hidden()
    summary.click()
    with page.expect_navigation():
        page.locator("#usage-link").click()
    expect(page.get_by_role("heading", name="Your usage", level=1)).to_be_visible()


def test_the_account_menu_works_without_javascript_and_on_a_phone(app, tmp_path):
    user = app.user("alice")
    page = app.new_page("/", user=user, java_script_enabled=False)
    page.locator("#account-menu > summary").click()
    with page.expect_navigation():
        page.get_by_role("link", name="Export and import").click()
    expect(page.get_by_role("heading", name="Export and import")).to_be_visible()

    phone = app.new_page("/", user=user, viewport=PHONE)
    phone.locator("#sidebar-toggle").click()
    expect(phone.locator("#sidebar")).to_be_visible()
    foot = phone.locator(".sidebar-foot").bounding_box()
    assert foot["height"] <= 72, foot  # one row of 44 px targets
    phone.locator("#account-menu > summary").click()
    for item in phone.locator(".account-item").all():
        box = item.bounding_box()
        assert box["height"] >= 44 and box["y"] >= 0, box  # a touch target, on screen
    screenshot(phone, "account-menu-phone", tmp_path)


def test_staff_approve_a_waiting_sign_up_from_the_menu(app, tmp_path):
    _waiting("ann", "ann@example.com")
    _waiting("ben")
    page = app.new_page("/", user=_staff(app), viewport=DESKTOP)
    expect(page.locator("#pending-count")).to_have_text("2 waiting for approval")
    page.locator("#account-menu > summary").click()
    expect(page.get_by_role("heading", name="Waiting for approval (2)")).to_be_visible()
    screenshot(page, "pending-approvals-desktop", tmp_path)
    with page.expect_navigation():
        page.get_by_role("button", name="Approve ann").click()
    expect(page.get_by_role("status").filter(has_text="Approved ann")).to_be_visible()
    expect(page.locator("#pending-count")).to_have_text("1 waiting for approval")
    from django.contrib.auth.models import User

    assert User.objects.get(username="ann").is_active and not User.objects.get(username="ben").is_active
    # Someone who is not staff sees no count.
    plain = app.new_page("/", user=app.user("carl"))
    expect(plain.locator("#account-menu")).to_be_attached()
    expect(plain.locator("#pending-count")).to_have_count(0)


def test_a_waiting_sign_up_is_told_what_happens_next(app, tmp_path):
    app.settings.SIGNUP = "approval"
    app.settings.EMAIL_ENABLED = True
    factories.user("root", is_staff=True, is_superuser=True)
    page = app.new_page(viewport=PHONE, color_scheme="dark")
    page.clock.install()  # the page's minute, moved by the test
    page.goto("/signup/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_email", "new@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Almost there")).to_be_visible()
    expect(page.locator("#waiting-next")).to_contain_text("We'll email new@example.com when it is approved")
    screenshot(page, "signup-waiting-phone-dark", tmp_path)
    from django.contrib.auth.models import User

    from accounts import services

    # Still waiting after a minute: the page stays; once approved, the next minute's check shows it.
    page.clock.fast_forward("01:01")
    expect(page.get_by_role("heading", name="Almost there")).to_be_visible()
    services.users_approve(users=User.objects.filter(username="newcomer"))
    page.clock.fast_forward("01:01")
    expect(page.get_by_role("heading", name="You're in")).to_be_visible()
    page.get_by_role("link", name="Sign in").first.click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


# ---- banners ---------------------------------------------------------------------------------------------


def _retiring():
    """gpt-5-pro retiring in 10 days (the catalogue as migrated: a transactional test starts empty)."""
    from conversations.models import AIModel
    from conversations.usage import catalog

    catalog.seed(AIModel)
    model = AIModel.objects.get(provider_id=factories.PRO)
    model.retires_on = NOW.date() + timedelta(days=10)
    model.save()
    return model


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_banners_are_dismissed_one_by_one_and_stay_dismissed(app, clock, javascript, tmp_path):
    clock(NOW)
    _retiring()
    app.settings.AIMLAPI_DEMO = True
    page = app.new_page("/", user=_staff(app), viewport=PHONE, java_script_enabled=javascript)
    retirement = page.locator(".banner-retirement")
    demo = page.locator("#banner-demo")
    expect(retirement).to_be_visible()
    expect(demo).to_be_visible()
    if javascript:
        screenshot(page, "banners-phone", tmp_path)
        retirement.get_by_role("button", name=re.compile("^Dismiss the notice about")).click()
    else:
        with page.expect_navigation():
            retirement.get_by_role("button", name=re.compile("^Dismiss the notice about")).click()
    expect(retirement).to_have_count(0)
    expect(demo).to_be_visible()  # the other banner stays
    page.reload()
    expect(page.locator("#banner-demo")).to_be_visible()
    expect(page.locator(".banner-retirement")).to_have_count(0)  # remembered
    page.goto("/usage/")
    expect(page.locator(".banner-retirement")).to_have_count(0)
    # A new date is a new notice: shown again.
    from conversations.models import AIModel

    AIModel.objects.filter(provider_id=factories.PRO).update(retires_on=NOW.date() + timedelta(days=5))
    page.reload()
    expect(page.locator(".banner-retirement")).to_have_count(1)


# ---- usage charts on a phone -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/usage/admin/?period=30d", "/usage/?period=30d"], ids=["dashboard", "mine"])
def test_usage_charts_fit_a_phone_with_todays_bars_in_view(app, clock, url, tmp_path):
    clock(NOW)
    data = factories.ledger()
    user = _staff(app) if "admin" in url else data["ann"]
    page = app.new_page(url, user=user, viewport=PHONE, color_scheme="dark")
    chart = page.locator("svg.chart-columns").first
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    parent = chart.locator("xpath=..").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= parent["x"] + parent["width"] + 0.5, (box, parent)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Today's bar (the last day) is inside the screen, and the labels are still readable.
    last = chart.locator("rect[class^=series-]").last.bounding_box()
    assert 0 <= last["x"] and last["x"] + last["width"] <= PHONE["width"], last
    size = chart.locator("text.chart-label").first.evaluate(
        "t => t.getBoundingClientRect().height"
    )  # the drawing shrinks, its text is drawn larger
    assert size >= 8, size
    labels = chart.locator("text.chart-label").evaluate_all("els => els.map(e => e.textContent)")
    ticks = [t for t in labels if t.startswith("$")]
    assert all(re.fullmatch(r"\$\d+(\.\d+)?k?", t) and not re.search(r"\.\d{4}", t) for t in ticks), ticks
    chart.evaluate("e => e.closest('section').scrollIntoView({block: 'start'})")
    screenshot(page, f"usage-chart-phone-{'dashboard' if 'admin' in url else 'mine'}", tmp_path)


# ---- a share link opened signed out ----------------------------------------------------------------------


def test_a_share_link_opened_signed_out_says_what_and_returns_after_sign_in(app, tmp_path):
    from conversations.history.services import share_create

    alice, bob = app.user("alice"), app.user("bob")
    talk = factories.conversation(alice, title="Billing migration")
    factories.turn(talk, "Plan it", status="completed", output_text="Done.", output_html="<p>Done.</p>")
    share = share_create(conversation=talk)
    page = app.new_page(f"/s/{share.token}/", viewport=PHONE)
    expect(page).to_have_url(re.compile(rf"/login/\?next=/s/{share.token}/$"))
    notice = page.locator("#share-notice")
    expect(notice).to_contain_text("alice shared “Billing migration” with the people of this site")
    expect(page.get_by_role("heading", name="Welcome back")).to_have_count(0)
    expect(page.get_by_role("heading", name="Sign in to read a shared conversation")).to_be_visible()
    screenshot(page, "share-signed-out-phone", tmp_path)
    # Sign-up keeps the way back too.
    expect(page.get_by_role("link", name="Sign up")).to_have_attribute("href", f"/signup/?next=/s/{share.token}/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/s/{share.token}/$"))
    expect(page.get_by_role("heading", name="Billing migration")).to_be_visible()
    assert bob.is_active

    # A revoked or unknown link says nothing about who shared what.
    stranger = app.new_page("/s/not-a-real-token/")
    expect(stranger.locator("#share-notice")).to_have_count(0)
    expect(stranger.get_by_role("button", name="Sign in")).to_be_visible()


# ---- the admin at 1280 px --------------------------------------------------------------------------------


def _no_sideways_scroll(page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " ...[...document.querySelectorAll('.results')].map(e => e.scrollWidth - e.clientWidth)]"
    )
    assert widths[0] <= widths[1] and all(extra <= 1 for extra in widths[2:]), widths


def test_the_admin_fits_1280_px_and_carries_the_apps_name(app, clock, tmp_path):
    clock(NOW)
    factories.ledger()
    boss = _staff(app)
    page = app.new_page("/admin/", user=boss, viewport=DESKTOP)
    expect(page).to_have_title(re.compile(r"aimlweb admin"))
    expect(page.locator("#site-name")).to_have_text("aimlweb admin")
    assert page.locator('link[rel="icon"]').get_attribute("href").endswith(".svg")
    response = page.request.get("/favicon.ico", max_redirects=3)
    assert response.ok and "svg" in response.headers["content-type"]

    page.goto("/admin/conversations/aimodel/")
    for column in ("Enabled", "Default", "Retires"):
        header = page.get_by_role("columnheader", name=re.compile(column, re.I)).first
        expect(header).to_be_visible()
        assert header.bounding_box()["x"] + header.bounding_box()["width"] <= DESKTOP["width"]
    screenshot(page, "admin-models-desktop", tmp_path)
    _no_sideways_scroll(page)

    page.goto("/admin/conversations/turn/")
    for column in ("Model", "Tokens", "Cost"):
        header = page.get_by_role("columnheader", name=re.compile(rf"^{column}", re.I)).first
        expect(header).to_be_visible()
        assert header.bounding_box()["x"] + header.bounding_box()["width"] <= DESKTOP["width"]
    screenshot(page, "admin-turns-desktop", tmp_path)
    _no_sideways_scroll(page)

    # A turn with a long answer, stored JSON and earlier attempts (unbroken lines), and its charged attempts.
    from conversations.models import Turn

    Turn.objects.update(output_text="w" * 3000, response_json={"output": "x" * 3000}, history=[{"text": "y" * 3000}])
    with page.expect_navigation():
        page.locator("#result_list tbody tr th a").first.click()
    expect(page.locator(".inline-group")).to_be_visible()
    screenshot(page, "admin-turn-desktop", tmp_path)
    _no_sideways_scroll(page)


def test_a_saved_invite_shows_its_link_with_a_copy_button(app, clock, tmp_path):
    clock(NOW)
    boss = _staff(app)
    page = app.new_page(
        "/admin/accounts/invite/add/", user=boss, viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    page.fill("#id_note", "Dana from billing")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    link = page.locator("#invite-link")
    expect(link).to_be_visible()
    url = link.input_value()
    assert re.fullmatch(r"https?://[^/]+/invite/[\w-]+/", url), url
    expect(page.locator(".messagelist .success")).to_contain_text(
        "Copy its link below and send it to Dana from billing"
    )
    copy = page.locator("button[data-copy=invite-link]")
    expect(copy).to_have_accessible_name("Copy link")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    screenshot(page, "admin-invite-saved", tmp_path)
