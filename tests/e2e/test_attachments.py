"""Attachments in a browser (issue 18): an image dropped on the page and one pasted into the composer are
uploaded and previewed, a PDF chosen with Attach shows its page count, a bad file is refused by name while the
prompt stays; sent, the fake API receives them as content parts, and the conversation shows thumbnails."""

import base64

import pytest
from playwright.sync_api import expect

from tests import attachment_files as made
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser

# A File built in the page from base64, put in a DataTransfer, then a drop on the page or a paste in the box.
DROP = """([data, name]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: "image/png"}));
  const main = document.querySelector("main");
  for (const kind of ["dragenter", "dragover", "drop"]) {
    main.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}"""
PASTE = """([data]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "image.png", {type: "image/png"}));
  const box = document.getElementById("id_prompt");
  box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
}"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_dropped_and_a_pasted_image_are_sent_and_shown(app, tmp_path):
    app.start_worker()
    page = app.new_page("/", user=app.user())
    items = page.locator("#attach .attach-item")
    page.locator("#id_prompt").fill("What do these show?")

    page.evaluate(DROP, [_b64(made.png(640, 400, color=(230, 120, 40))), "dropped.png"])
    expect(items).to_have_count(1)
    expect(items.first.locator(".attach-name")).to_have_text("dropped.png")
    expect(items.first.locator("img.attach-thumb")).to_be_visible()

    page.evaluate(PASTE, [_b64(made.png(300, 300, color=(40, 120, 230)))])
    expect(items).to_have_count(2)
    expect(items.nth(1).locator(".attach-name")).to_contain_text("pasted-")

    page.locator("#attach .attach-input").set_input_files(
        [{"name": "report.pdf", "mimeType": "application/pdf", "buffer": made.pdf(3)}]
    )
    expect(items).to_have_count(3)
    expect(items.nth(2)).to_contain_text("3 pages")

    # A refused file names itself and why; the prompt and the three files stay.
    page.locator("#attach .attach-input").set_input_files(
        [{"name": "cute.png", "mimeType": "image/png", "buffer": made.HTML}]
    )
    expect(page.locator("#attach .attach-errors")).to_contain_text("“cute.png” was not attached: its content is HTML")
    expect(items).to_have_count(3)
    expect(page.locator("#id_prompt")).to_have_value("What do these show?")
    expect(items.locator(".attach-remove").first).to_be_visible()
    screenshot(page, "attachments-composer", tmp_path)

    # Remove the PDF, then send.
    items.nth(2).locator(".attach-remove").click()
    expect(items).to_have_count(2)
    expect(page.locator("#send-button")).to_be_enabled()
    with page.expect_navigation():
        page.locator("#id_prompt").press("Enter")
    turn = app.last_turn(page)
    expect(turn.locator(".turn-file-image img")).to_have_count(2)
    app.wait_for_answer(page, "Echo: What do these show?", turn=turn)
    got = app.fake_api.files
    assert [(f["kind"], f["content_type"]) for f in got] == [("image", "image/png"), ("image", "image/png")]
    # A thumbnail opens the full image (the owner's URL, served by the app).
    full = turn.locator(".turn-file-image").first.get_attribute("href")
    response = page.request.get(full)
    assert response.status == 200 and response.headers["x-content-type-options"] == "nosniff"
    screenshot(page, "attachments-conversation", tmp_path)
    expect(turn.locator(".turn-file-image img").first).to_have_attribute("loading", "lazy")


def test_the_composer_s_estimate_counts_its_files_as_the_hold_does(app, clock):
    from datetime import UTC, datetime

    from conversations.models import Attachment, Turn
    from conversations.usage import budgets

    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))  # before gpt-5-pro, the default model, retires
    page = app.new_page("/", user=app.user())
    shown = page.locator("#composer-estimate .estimate-usd")
    page.locator("#id_prompt").fill("Summarise this paper")
    expect(shown).to_have_text("$2.64")
    page.locator("#attach .attach-input").set_input_files(
        [{"name": "paper.pdf", "mimeType": "application/pdf", "buffer": made.pdf(12)}]
    )
    expect(page.locator("#attach .attach-item[data-input-tokens]")).to_have_count(1)
    assert Attachment.objects.get().tokens > 5_000  # twelve pages: enough to move the cents
    expect(shown).not_to_have_text("$2.64")
    with_file = shown.text_content()
    page.locator("#attach .attach-remove").click()
    expect(shown).to_have_text("$2.64")  # removed: out of the estimate
    page.locator("#attach .attach-input").set_input_files(
        [{"name": "paper.pdf", "mimeType": "application/pdf", "buffer": made.pdf(12)}]
    )
    expect(shown).to_have_text(with_file)
    with page.expect_navigation():
        page.locator("#id_prompt").press("Enter")
    turn = Turn.objects.get(prompt="Summarise this paper")
    assert budgets.about_usd(turn.estimate_usd) == with_file  # what was shown is what the prompt is held at
