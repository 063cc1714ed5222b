"""Pushed live updates in a real browser, from a real ASGI server (gunicorn + uvicorn worker).

The rest of the browser tests run on pytest-django's `live_server`, a WSGI server: there the
events endpoint answers 204 and pages poll (which those tests exercise). Here the app is served
as in production (`gunicorn` with gunicorn.conf.py, ASGI) on the test database, beside a real
worker, and the page must get its answers and its sidebar from the stream, not from polling.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import ANSWER_TIMEOUT_MS, App
from tests.fake_aimlapi import default_reply
from tests.helpers import free_port, subprocess_env, wait_for

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
# Polling, were it on, would ask every 100 ms: impossible to miss.
POLL_MS = 100

# Records, in the page, every event of its stream and when it came (before the page's modules run).
RECORDER = """
(() => {
  const Original = window.EventSource;
  if (!Original) return;
  window.__events = [];
  function Recording(url, options) {
    const source = new Original(url, options);
    ["hello", "turn", "conversation"].forEach((type) => source.addEventListener(type, (event) => {
      window.__events.push({type: type, at: performance.now(), data: JSON.parse(event.data)});
    }));
    return source;
  }
  Recording.prototype = Original.prototype;
  Object.assign(Recording, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
  window.EventSource = Recording;
})();
"""

# What the page's stream is doing, as static/js/live.js (the very module the page loaded) says.
LIVE_STATE = "async () => (await import(document.querySelector('script[data-events-url]').src)).state()"


class AsgiServer:
    """`gunicorn` as `make run` starts it (gunicorn.conf.py: uvicorn workers), on the test database."""

    def __init__(self, fake_api, settings, log: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        defaults = {
            "DJANGO_SETTINGS_MODULE": "tests.asgi_settings",
            "AIMLAPI_BASE_URL": fake_api.base_url,
            "LIVE_POLL_MS": str(POLL_MS),
            "WEB_CONCURRENCY": "1",
        }
        self.env = subprocess_env(settings, **{**defaults, **env})  # the caller's env wins
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process = None

    def start(self) -> AsgiServer:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def up():
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            try:
                return requests.get(f"{self.url}/login/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=60, interval=0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def push(request, chromium, worker, fake_api, settings, tmp_path):
    """Like the `app` fixture of the other browser tests, served by the ASGI server."""
    yield from serve(request, chromium, worker, fake_api, settings, tmp_path)


def serve(request, chromium, worker, fake_api, settings, tmp_path, **env: str):
    """The body of a fixture like `push`; `env` goes to the server's environment."""
    server = AsgiServer(fake_api, settings, tmp_path / "web.log", **env).start()
    app = App(chromium, SimpleNamespace(url=server.url), worker, fake_api, settings, tmp_path)
    yield app
    errors = app.close()
    server.stop()
    if errors or getattr(request.node, "e2e_call_failed", False):
        for log in [*app.worker_logs, server.log]:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            print(f"---- {log.name} (last 60 of {len(lines)} lines) ----", *lines[-60:], sep="\n")
    if errors:
        pytest.fail("browser problems:\n" + "\n".join(errors), pytrace=False)


def recorded_page(app: App, user, path: str = "/", context=None):
    context = context or app.new_context(user=user)
    page = context.new_page()
    app.guard_page(page)
    page.add_init_script(RECORDER)
    page.goto(path)
    return page


def live_fetches(page) -> list[dict]:
    """The page's requests for turn fragments (htmx: XHR), with their start times."""
    return page.evaluate(
        """performance.getEntriesByType("resource")
             .filter((e) => e.name.includes("/live/"))
             .map((e) => ({url: e.name, at: e.startTime}))"""
    )


def mark_document(page) -> None:
    page.evaluate("window.__e2eDocument = 'same'")


def same_document(page) -> bool:
    return page.evaluate("window.__e2eDocument") == "same"


def test_an_answer_appears_by_push_without_any_polling(push):
    push.fake_api.latency = 2.5
    push.start_worker()
    page = recorded_page(push, push.user())
    push.send(page, "Push it")
    turn = push.last_turn(page)
    expect(turn).to_have_attribute("data-active", "1")
    turn_id = turn.get_attribute("id").removeprefix("turn-")
    mark_document(page)

    push.wait_for_answer(page, "Echo: Push it")
    assert same_document(page)
    assert page.evaluate(LIVE_STATE) == "open"
    events = page.evaluate("window.__events")
    turn_events = [e for e in events if e["type"] == "turn" and e["data"]["id"] == turn_id]
    assert turn_events and turn_events[-1]["data"]["status"] == "completed"
    # The events brought the turn's fragments: no request for it at all (polling every 100 ms
    # would have made 25 over the answer's 2.5 s).
    assert turn_events[-1]["data"]["html"]
    assert live_fetches(page) == []
    # The fragment's out-of-band part updated the conversation's totals too.
    expect(page.locator("#conversation-usage")).to_contain_text("tokens")
    # Send is enabled again, the answer announced; the sidebar row stopped saying "working".
    expect(page.locator("#send-button")).to_be_enabled()
    expect(page.locator("#live-announcer")).to_have_text("Answer ready.")
    expect(page.locator(".conversation-link.current .badge-working")).to_have_count(0)


def test_the_sidebar_keeps_up_with_answers_finishing_in_other_tabs(push, request):
    """Two long answers started in another tab: this tab's sidebar shows each start, each end, the order."""
    # Each answer ends when the test lets it (the fake's reply waits for it), however loaded the machine:
    # the quick one must still be working when the slow one starts.
    release = {"Quick question": threading.Event(), "Slow question": threading.Event()}

    def reply(body: dict) -> str:
        for prompt, released in release.items():
            if prompt in str(body["input"]):
                released.wait(timeout=120)
        return default_reply(body)

    push.fake_api.reply = reply
    request.addfinalizer(lambda: [released.set() for released in release.values()])
    push.start_worker()
    user = push.user()
    context = push.new_context(user=user)
    watching = recorded_page(push, user, context=context)
    mark_document(watching)
    expect(watching.locator("#conversation-list .conversation-row")).to_have_count(0)

    other = recorded_page(push, user, context=context)
    push.send(other, "Quick question")
    quick_url = other.url
    other.goto("/")
    push.send(other, "Slow question")
    slow_url = other.url

    rows = watching.locator("#conversation-list .conversation-row")
    expect(rows).to_have_count(2)
    # Newest first, both working.
    expect(rows.nth(0)).to_contain_text("Slow question")
    expect(rows.nth(1)).to_contain_text("Quick question")
    expect(watching.locator(".conversation-row .badge-working")).to_have_count(2)

    # The quick one ends: its row says done, moves to the top; the slow one still works.
    release["Quick question"].set()
    quick = watching.locator(".conversation-row", has_text="Quick question")
    expect(quick.locator(".badge-done")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(quick.locator(".badge-working")).to_have_count(0)
    expect(rows.nth(0)).to_contain_text("Quick question")
    slow = watching.locator(".conversation-row", has_text="Slow question")
    expect(slow.locator(".badge-working")).to_be_visible()

    # Renamed in the other tab: the title follows.
    other.goto(slow_url)
    other.locator("#conversation-settings summary").click()
    other.locator("#id_title").fill("Renamed elsewhere")
    with other.expect_navigation():
        other.get_by_role("button", name="Save settings").click()
    expect(watching.locator(".conversation-row", has_text="Renamed elsewhere")).to_have_count(1)

    # Stopped in the other tab: no longer working.
    with other.expect_navigation():
        push.last_turn(other).get_by_role("button", name="Stop").click()
    renamed = watching.locator(".conversation-row", has_text="Renamed elsewhere")
    expect(renamed.locator(".badge-working")).to_have_count(0)
    assert same_document(watching)
    assert live_fetches(watching) == []  # the sidebar never polls

    # Opening the finished conversation clears its "done" mark, here and in other tabs.
    watching.goto(quick_url)
    expect(watching.locator(".conversation-row", has_text="Quick question").locator(".badge-done")).to_have_count(0)
    watching.goto("/")
    expect(watching.locator(".badge-done")).to_have_count(0)


@pytest.mark.parametrize("proxy", ["refuses", "holds back"])
def test_pages_poll_when_a_proxy_blocks_the_stream(push, proxy):
    # Longer than the page waits for its stream (4 s) before it polls instead.
    push.fake_api.latency = 6
    push.start_worker()
    context = push.new_context(user=push.user())
    held = []
    if proxy == "refuses":
        context.route(re.compile(r".*/events/.*"), lambda route: route.abort())
    else:
        # A proxy that buffers the stream: the request never gets an answer through.
        context.route(re.compile(r".*/events/.*"), lambda route: held.append(route))
    page = recorded_page(push, None, context=context)
    push.send(page, "Blocked stream")
    mark_document(page)
    push.wait_for_answer(page, "Echo: Blocked stream")
    assert same_document(page)
    assert page.evaluate(LIVE_STATE) == "off"
    assert page.evaluate("window.__events") == []
    assert len(live_fetches(page)) >= 2  # polled
