"""The front end as deployed: static/js's ES modules under their hashed names, each loaded once.

A deployment serves every static file under a hashed name (`collectstatic` with aimlweb/storage.py,
then whitenoise), so each module's imports must name the hashed files too, those fetched when a
feature is first used (`import("./x.js")`) included: a module imported by an unhashed name would load
a second time, a second instance with its own state. Here the files are collected as a deployment
collects them, and the app is served with its own settings, as `make run` serves it (gunicorn, ASGI),
beside a real worker. What a conversation loads before any interaction is what
benchmarks/page_bytes.py counts (and tests/ops/test_static.py keeps within its budget).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from benchmarks import page_bytes
from tests.e2e.test_push import LIVE_STATE, ROOT, serve
from tests.helpers import wait_for

pytestmark = pytest.mark.browser

HASHED_MODULE = re.compile(r"/static/js/(?P<name>[\w-]+)\.[0-9a-f]{12}\.js")
# Resolves after the page's next two frames: what runs on load and in the first frame callbacks has run
# (or after 2 s, should a hidden page run no frames: then the assertions that follow say what is missing).
TWO_FRAMES = (
    "() => new Promise(done => { requestAnimationFrame(() => requestAnimationFrame(done)); setTimeout(done, 2000); })"
)


@pytest.fixture
def deployed(request, chromium, worker, fake_api, settings, tmp_path):
    static_root = tmp_path / "static"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aimlweb.settings", "STATIC_ROOT": str(static_root)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    result = subprocess.run(collect, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    yield from serve(
        request, chromium, worker, fake_api, settings, tmp_path,
        DJANGO_SETTINGS_MODULE="aimlweb.settings", STATIC_ROOT=str(static_root),
    )  # fmt: skip


def test_a_conversation_loads_each_module_once_by_its_hashed_name(deployed):
    deployed.start_worker()
    deployed.fake_api.reply = "Like this:\n\n```python\nprint('hello')\n```\n"
    page = deployed.new_page("/", user=deployed.user())
    deployed.send(page, "Show me some code")
    turn = deployed.wait_for_answer(page, "print")

    scripts = []
    page.on("request", lambda r: scripts.append(urlsplit(r.url).path) if r.resource_type == "script" else None)

    def ours():
        paths = [path for path in scripts if path.startswith("/static/js/")]
        assert all(HASHED_MODULE.fullmatch(path) for path in paths), paths
        assert len(paths) == len(set(paths)), paths  # each module once
        return {HASHED_MODULE.fullmatch(path)["name"] for path in paths}

    page.reload()
    # answers.js, which only turns.js imports, drew the code block's Copy button.
    expect(page.locator(".markdown pre .copy-button")).to_have_count(1)
    page.evaluate(TWO_FRAMES)
    # Before any interaction: what benchmarks/page_bytes.py reads from the templates and imports, no more
    # (the features fetched on first use are not), including modules only other modules import.
    at_start, on_first_use = page_bytes.loaded(ROOT)
    assert ours() == {Path(path).stem for path in at_start if path.startswith("js/")}
    assert {"util", "sidebar", "theme-toggle", "answers"} <= ours()
    assert {
        "edit",
        "versions",
        "earlier",
        "share",
        "row-menu",
        "shortcuts-dialog",
        "search-live",
        "confirm-dialog",
    } <= {Path(path).stem for path in on_first_use}
    # One live.js: the page's tag and turns.js's import are the same module, and its stream opens
    # (after a reload it may still be connecting).
    wait_for(lambda: page.evaluate(LIVE_STATE) == "open")
    # shortcuts.js (every page) reaches theme-toggle.js through its import.
    theme = page.locator("html").get_attribute("data-theme")
    page.keyboard.press("Control+Shift+L")
    expect(page.locator("html")).not_to_have_attribute("data-theme", theme)

    # Each feature fetched at its first use comes by its hashed name, and does its part at once.
    turn.get_by_text("Edit prompt").click()
    expect(turn.get_by_label("Edited prompt")).to_be_focused()
    expect(turn.get_by_label("Edited prompt")).to_have_value("Show me some code")
    assert "edit" in ours()
    turn.get_by_role("button", name="Cancel").click()
    expect(turn.get_by_label("Edited prompt")).to_be_hidden()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert "shortcuts-dialog" in ours()

    row = page.locator("#conversation-list .conversation-row").first
    row.hover()
    row.locator(".row-menu-button").click()
    menu = page.get_by_role("menu", name="Conversation actions")
    expect(menu.get_by_role("menuitem", name="Pin")).to_be_focused()  # the first action
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    assert "row-menu" in ours() and "confirm-dialog" in ours()  # row-menu.js imports it

    search = page.get_by_label("Search conversations")
    search.focus()
    wait_for(lambda: "search-live" in ours())
    search.press_sequentially("code", delay=20)
    expect(page.locator("#search-panel .panel-hit")).to_have_count(1)
    search.press("Escape")
    expect(page.locator("#search-panel")).to_be_hidden()

    share = page.locator("#share-menu")
    share.locator("summary").click()
    expect(share).to_have_attribute("open", "")
    wait_for(lambda: "share" in ours())
    page.keyboard.press("Escape")
    expect(share).not_to_have_attribute("open", "")
    ours()  # still each module once, by its hashed name

    # A link created: its page draws the menu open, and share.js comes with it (a Copy button beside the link).
    share.locator("summary").click()
    scripts.clear()
    with page.expect_navigation():
        page.locator("#share-create").click()
    expect(share.locator(".share-new .share-url")).to_be_focused()
    expect(share.get_by_role("button", name="Copy link")).to_be_visible()
    assert "share" in ours()
