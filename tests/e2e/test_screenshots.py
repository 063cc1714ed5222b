"""Screenshots of the main pages: desktop light, desktop dark and phone.

`SAVE_SCREENSHOTS=1 make test` (or `SAVE_SCREENSHOTS=1 .venv/bin/python -m pytest
tests/e2e/test_screenshots.py`) writes all of them to docs/screenshots/. Otherwise
only the desktop-dark set is taken, into a temporary folder: a normal test run
never changes the repository and stays quick, but the flow is still exercised.
"""

import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ANSWER_TIMEOUT_MS, DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.browser

VARIANTS = {
    "desktop-light": {"viewport": DESKTOP, "color_scheme": "light"},
    "desktop-dark": {"viewport": DESKTOP, "color_scheme": "dark"},
    "phone": {"viewport": PHONE, "color_scheme": "light"},
}

MARKDOWN_REPLY = """## Merging two sorted lists

Walk both lists with two indices and always take the **smaller** head; `heapq.merge` does the same lazily.

```python
def merge(a: list[int], b: list[int]) -> list[int]:
    i = j = 0
    out = []
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    return out + a[i:] + b[j:]
```

| Approach | Time | Extra memory |
|---|---|---|
| Two indices | O(n + m) | O(n + m) |
| `sorted(a + b)` | O((n + m) log(n + m)) | O(n + m) |
| `heapq.merge` | O(n + m) | O(1), lazy |

> Tip: for many lists, `heapq.merge(*lists)` keeps only one item per list in memory.

1. Check both inputs are sorted.
2. Prefer the standard library when it fits.

See the [heapq documentation](https://docs.python.org/3/library/heapq.html).
"""

# Shown while it streams: rendered as Markdown as it grows (bold, a list, a code block still open).
RUNNING_REPLY = (
    "Let me work through this **carefully**. The constraints:\n\n"
    "1. answers within two seconds,\n2. two cores,\n3. a few thousand new rows a day.\n\n"
    "A single SQLite file in WAL mode is enough for that load, and it keeps backups trivial:\n\n"
    "```sql\nPRAGMA journal_mode = wal;\nCREATE TABLE event (\n    id INTEGER PRIMARY KEY,\n"
    "    created_at TEXT NOT NULL,\n    payload TEXT NOT NULL\n);\n"
    "CREATE INDEX event_created ON event (created_at);\n```\n\n"
) + "For the backups, `sqlite3 .backup` once an hour is plenty. " * 3


def test_screenshots(app, tmp_path):
    variants = VARIANTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else {"desktop-dark": VARIANTS["desktop-dark"]}
    user = app.user("dana")
    app.start_worker(AIMLAPI_MODE="stream")

    for name, options in variants.items():
        page = app.new_page("/login/", **options)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        screenshot(page, f"login-{name}", tmp_path)

    # A conversation with a rendered Markdown answer.
    app.fake_api.latency = 0.5
    app.fake_api.reply = MARKDOWN_REPLY
    page = app.new_page("/", user=user)
    app.send(page, "How do I merge two sorted lists in Python? Show code and compare the options.")
    app.wait_for_answer(page, "Merging two sorted lists")
    conversation_url = page.url

    # A second conversation whose answer is still being written.
    app.fake_api.latency = 60
    app.fake_api.stream_chunks = 40
    app.fake_api.reply = RUNNING_REPLY
    page.goto("/")
    app.send(page, "Plan the storage for a small internal service with a few thousand new rows a day.")
    expect(app.last_turn(page).locator(".partial")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    running_url = page.url

    for name, options in variants.items():
        page = app.new_page("/", user=user, **options)
        expect(page.locator(".conversation-link")).to_have_count(2)
        screenshot(page, f"home-{name}", tmp_path)

        page.goto(conversation_url)
        expect(page.locator(".markdown table")).to_be_visible()
        expect(page.locator(".markdown pre .copy-button")).to_have_count(1)
        screenshot(page, f"conversation-{name}", tmp_path)

        page.goto(running_url)
        # The answer so far, as Markdown: its code block shows (still open) about 22 s into the stream.
        expect(app.last_turn(page).locator(".partial pre")).to_be_visible(timeout=2 * ANSWER_TIMEOUT_MS)
        # The elapsed timer has ticked past 0:00.
        expect(app.last_turn(page).locator(".elapsed")).not_to_have_text(re.compile(r"^(0:00)?$"), timeout=5_000)
        screenshot(page, f"running-{name}", tmp_path)

    # Stop the long answer, so the worker is not left waiting on it.
    with page.expect_navigation():
        app.last_turn(page).get_by_role("button", name="Stop").click()
    expect(app.last_turn(page)).to_have_attribute("data-status", "cancelled")
