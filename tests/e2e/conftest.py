"""End-to-end tests: headless Chromium against `live_server` and a real Huey consumer.

The pieces:

- `live_server` (pytest-django) serves the app from a thread of this process,
  static files through the finders. `settings` changes made in a test reach it.
- `worker` (tests/conftest.py) starts `manage.py run_huey` in a subprocess on the
  test database; it only sees the environment variables passed to `worker(...)`.
- `fake_api` is the fake AI/ML API both processes talk to.
- One Chromium per test module (Debian's /usr/bin/chromium, never a download).

Playwright's sync API keeps an asyncio loop "running" in this thread while it is
started, and Django refuses ORM calls when it sees a running loop. So the
browser lives only as long as one e2e module, and DJANGO_ALLOW_ASYNC_UNSAFE is
set only meanwhile: test files outside tests/e2e that the same xdist worker runs
later see neither.

Every page is guarded (see `PageGuard`): an unexpected dialog, a Content
Security Policy violation, an uncaught script error, a server error, a missing
static file or a request to another origin fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect, sync_playwright

from tests.helpers import client_for

# Debian's chromium (`make chromium` installs it); never a Playwright download.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
PASSWORD = "e2e-pass-Quokka-42"
# How often a page polls a running turn (settings.LIVE_POLL_MS) during e2e tests.
POLL_MS = 300
# Long enough for a consumer subprocess to start and answer on a busy 2-core machine.
ANSWER_TIMEOUT_MS = 25_000
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (see the module docstring for why not per session)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make chromium` (or set E2E_CHROMIUM)", pytrace=False)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class PageGuard:
    """Collects everything on a page that must fail the test."""

    origin: str
    errors: list[str] = field(default_factory=list)
    # (kind, message pattern, accept) for dialogs the test is about to cause.
    expected_dialogs: list[tuple[str, str, bool]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught error in page: {error}"))
        page.on("request", self._on_request)
        page.on("response", self._on_response)

    def expect_dialog(self, message: str, *, kind: str = "confirm", accept: bool = True) -> None:
        self.expected_dialogs.append((kind, message, accept))

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if self.expected_dialogs:
            kind, message, accept = self.expected_dialogs[0]
            if dialog.type == kind and re.search(message, dialog.message):
                self.expected_dialogs.pop(0)
                if accept:
                    dialog.accept()
                else:
                    dialog.dismiss()
                return
        self.errors.append(f"unexpected {dialog.type} dialog: {dialog.message!r}")
        dialog.dismiss()

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        self.console_errors.append(message.text)
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.errors.append(f"CSP violation: {message.text}")

    def _on_request(self, request) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and f"{url.scheme}://{url.netloc}" != self.origin:
            self.errors.append(f"request to another origin: {request.method} {request.url}")

    def _on_response(self, response) -> None:
        path = urlsplit(response.url).path
        if response.status >= 500:
            self.errors.append(f"server error {response.status} for {response.request.method} {response.url}")
        elif response.status >= 400 and path.startswith("/static/"):
            self.errors.append(f"missing static file ({response.status}): {response.url}")


class App:
    """The site under test, as one or more browser tabs see it."""

    def __init__(self, browser: Browser, live_server, worker, fake_api, settings, log_dir: Path):
        self.browser = browser
        self.log_dir = log_dir
        self.worker_logs: list[Path] = []
        self.url = live_server.url
        self.fake_api = fake_api
        self.settings = settings
        self._worker = worker
        self._contexts: list[BrowserContext] = []
        self.guards: dict[Page, PageGuard] = {}

    # ---- setup helpers -----------------------------------------------------

    def start_worker(self, **env):
        """Start a consumer; `AIMLAPI_MODE="stream"` etc. go to its environment.

        Its output goes to a file, printed when the test fails.
        """
        log = self.log_dir / f"worker-{len(self.worker_logs) + 1}.log"
        self.worker_logs.append(log)
        return self._worker(log_path=log, **env)

    def user(self, username: str = "alice"):
        from django.contrib.auth.models import User

        return User.objects.create_user(username, password=PASSWORD)

    def new_context(
        self,
        *,
        user=None,
        viewport: dict | None = None,
        color_scheme: str = "light",
        permissions: list[str] | None = None,
        bypass_csp: bool = False,
        java_script_enabled: bool = True,
    ) -> BrowserContext:
        # bypass_csp: only for a test that injects a script of its own (axe-core, test_accessibility.py).
        context = self.browser.new_context(
            bypass_csp=bypass_csp,
            java_script_enabled=java_script_enabled,
            base_url=self.url,
            viewport=viewport or DESKTOP,
            color_scheme=color_scheme,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(10_000)
        if permissions:
            context.grant_permissions(permissions, origin=self.url)
        if user is not None:
            context.add_cookies([self._session_cookie(user)])
        self._contexts.append(context)
        return context

    def new_page(self, path: str | None = None, **context_options) -> Page:
        """A guarded tab in a fresh context (its own cookies and storage), opened at `path`."""
        page = self.new_context(**context_options).new_page()
        self.guard_page(page)
        if path is not None:
            page.goto(path)
        return page

    def guard_page(self, page: Page) -> PageGuard:
        guard = PageGuard(origin=self.url)
        guard.attach(page)
        self.guards[page] = guard
        return guard

    def guard(self, page: Page) -> PageGuard:
        return self.guards[page]

    def _session_cookie(self, user) -> dict:
        """Log in without the form (the sign-up test covers the form)."""

        client = client_for(user)
        name = self.settings.SESSION_COOKIE_NAME
        return {"name": name, "value": client.cookies[name].value, "url": self.url}

    # ---- actions, as a user does them ---------------------------------------

    def send(self, page: Page, prompt: str) -> None:
        """Type a prompt into the composer and press Enter; wait for the page that follows."""
        composer = page.locator("#id_prompt")
        expect(page.locator("#send-button")).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)
        composer.fill(prompt)
        with page.expect_navigation():
            composer.press("Enter")

    def last_turn(self, page: Page):
        """The last turn on screen (of the version shown)."""
        return page.locator("#turns > article.turn").last

    def wait_for_answer(self, page: Page, text: str, *, turn=None):
        turn = turn if turn is not None else self.last_turn(page)
        expect(turn.locator(".message-assistant .markdown")).to_contain_text(text, timeout=ANSWER_TIMEOUT_MS)
        expect(turn).to_have_attribute("data-status", "completed")
        return turn

    # ---- teardown ------------------------------------------------------------

    def close(self) -> list[str]:
        for context in self._contexts:
            # A context of a crashed browser cannot close; the test has failed already.
            with contextlib.suppress(Exception):
                context.close()
        errors = []
        for guard in self.guards.values():
            errors.extend(guard.errors)
            errors.extend(f"expected dialog never shown: {d}" for d in guard.expected_dialogs)
        return errors


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_call_failed = report.failed
    return report


@pytest.fixture
def app(request, chromium, live_server, worker, fake_api, settings, tmp_path):
    settings.LIVE_POLL_MS = POLL_MS
    app = App(chromium, live_server, worker, fake_api, settings, tmp_path)
    yield app
    errors = app.close()
    if errors or getattr(request.node, "e2e_call_failed", False):
        for log in app.worker_logs:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            print(f"---- {log.name} (last 60 of {len(lines)} lines) ----", *lines[-60:], sep="\n")
    if errors:
        pytest.fail("browser problems:\n" + "\n".join(errors), pytrace=False)


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """Save to docs/screenshots when SAVE_SCREENSHOTS=1, else to the test's tmp dir."""
    folder = SCREENSHOT_DIR if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    return path


def settle(page: Page) -> None:
    """Let the page run what it has queued (timers of 0 ms, handlers, a frame), then deliver its events here.

    Playwright's sync API hands page events (dialogs, errors) to Python only while a call runs:
    this is that call, ended by the page itself, not by a clock.
    """
    page.evaluate(SETTLE)


# Under Playwright's page.clock the timers and frames are the test's to run: paused, none would ever come
# (the call would never end), so the page's next task, a message, ends it instead. A frame may also never
# come to a page Chromium treats as hidden: then at most 1 s.
SETTLE = """() => new Promise(done => {
  if (!String(setTimeout).includes("[native code]")) {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => done();
    channel.port2.postMessage(0);
    return;
  }
  setTimeout(() => requestAnimationFrame(() => done()), 0);
  setTimeout(done, 1000);
})"""


def page_until(page: Page, condition, timeout: float = 10.0) -> None:
    """Settle the page until `condition()` holds, or fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        settle(page)
