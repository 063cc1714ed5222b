"""The front end as deployed: static/js's ES modules under their hashed names, each loaded once.

A deployment serves every static file under a hashed name (`collectstatic` with aimlweb/storage.py,
then whitenoise), so each module's imports must name the hashed files too: a module imported by an
unhashed name would load a second time, a second instance with its own state. Here the files are
collected as a deployment collects them, and the app is served with its own settings, as `make run`
serves it (gunicorn, ASGI), beside a real worker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.test_push import LIVE_STATE, ROOT, serve

pytestmark = pytest.mark.browser

HASHED_MODULE = re.compile(r"/static/js/(?P<name>[\w-]+)\.[0-9a-f]{12}\.js")


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
    deployed.wait_for_answer(page, "print")

    scripts = []
    page.on("request", lambda r: scripts.append(urlsplit(r.url).path) if r.resource_type == "script" else None)
    page.reload()
    # answers.js, which only turns.js imports, drew the code block's Copy button.
    expect(page.locator(".markdown pre .copy-button")).to_have_count(1)
    ours = [path for path in scripts if path.startswith("/static/js/")]
    assert all(HASHED_MODULE.fullmatch(path) for path in ours), ours
    assert len(ours) == len(set(ours)), ours
    names = {HASHED_MODULE.fullmatch(path)["name"] for path in ours}
    # Modules that only other modules import came by their hashed names too.
    assert {"util", "sidebar", "theme-toggle", "answers", "edit"} <= names, names
    # One live.js: the page's tag and turns.js's import are the same module, and its stream is open.
    assert page.evaluate(LIVE_STATE) == "open"
    # shortcuts.js (every page) reaches theme-toggle.js through its import.
    theme = page.locator("html").get_attribute("data-theme")
    page.keyboard.press("Control+Shift+L")
    expect(page.locator("html")).not_to_have_attribute("data-theme", theme)
