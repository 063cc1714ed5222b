"""Take conversations away and bring them back, and show one to a colleague, in the browser."""

import json
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conversations.chat import rendering
from conversations.models import Conversation
from tests import factories

pytestmark = pytest.mark.browser

ANSWER = "The plan:\n\n1. **Copy** the data\n2. Switch reads\n\n| step | risk |\n|---|---|\n| copy | low |"


def conversation_of(user, title="Billing migration"):
    conversation = factories.conversation(owner=user, title=title)
    factories.turn(
        conversation=conversation,
        prompt="How do we move billing without downtime?",
        status="completed",
        output_text=ANSWER,
        output_html=rendering.markdown_to_html(ANSWER),
        input_tokens=1200,
        output_tokens=3400,
        total_tokens=4600,
        cost_usd=Decimal("0.585920"),
    )
    return conversation


def test_export_one_and_all_then_import_as_another_user(app, tmp_path):
    alice, bob = app.user("alice"), app.user("bob")
    conversation = conversation_of(alice)
    page = app.new_page(f"/c/{conversation.id}/", user=alice)

    page.get_by_title("Share or export this conversation").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown", exact=True).click()
    assert markdown.value.suggested_filename == "billing-migration.md"
    text = open(markdown.value.path(), encoding="utf-8").read()
    assert text.startswith("# Billing migration") and "**Copy** the data" in text and "$0.58592" in text
    with page.expect_download() as one:
        page.get_by_role("link", name="JSON", exact=True).click()
    assert json.loads(open(one.value.path(), "rb").read())["conversations"][0]["title"] == "Billing migration"

    # Everything, from the sidebar's account menu.
    page.locator("#account-menu summary").click()
    page.locator("#transfer-link").click()
    expect(page.get_by_role("heading", name="Export and import")).to_be_visible()
    expect(page.get_by_text("Your 1 conversation in one JSON file")).to_be_visible()
    with page.expect_download() as everything:
        page.get_by_role("link", name="Download all (JSON)").click()
    assert re.fullmatch(r"aimlweb-export-\d{4}-\d{2}-\d{2}\.json", everything.value.suggested_filename)
    export_path = tmp_path / "export.json"
    everything.value.save_as(export_path)

    # Bob imports it: the conversation is his, rendered here, and nothing went to the model.
    bob_page = app.new_page("/transfer/", user=bob)
    bob_page.get_by_label("Export file").set_input_files(export_path)
    bob_page.get_by_role("button", name="Import").click()
    expect(bob_page.locator(".alert-success")).to_have_text("Imported 1 conversation (1 turn).")
    # Again: nothing new.
    bob_page.get_by_label("Export file").set_input_files(export_path)
    bob_page.get_by_role("button", name="Import").click()
    expect(bob_page.locator(".alert-success")).to_contain_text(
        "One conversation was already here, so it was left unchanged."
    )
    bob_page.get_by_role("link", name="Back to the chat").click()
    bob_page.get_by_role("link", name="Billing migration").click()
    turn = bob_page.locator("#turns > article.turn")
    expect(turn.locator(".markdown strong")).to_have_text("Copy")
    expect(turn.locator(".markdown table")).to_be_visible()
    expect(turn.locator(".turn-meta")).to_contain_text("$0.5859")
    assert Conversation.objects.filter(owner=bob).count() == 1
    assert app.fake_api.post_count == 0


def test_a_foreign_file_is_refused_with_the_reason(app, tmp_path):
    alice = app.user("alice")
    conversation_of(alice)
    foreign = tmp_path / "chatgpt.json"
    foreign.write_text(json.dumps([{"title": "x", "mapping": {}}]))
    page = app.new_page("/transfer/", user=alice)
    page.get_by_label("Export file").set_input_files(foreign)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was imported: This file is not an aimlweb export (it is not a JSON object)."
    )
    assert Conversation.objects.filter(owner=alice).count() == 1


def test_share_a_snapshot_with_a_colleague_then_revoke_it(app):
    alice, bob = app.user("alice"), app.user("bob")
    conversation = conversation_of(alice)
    page = app.new_page(f"/c/{conversation.id}/", user=alice)
    page.get_by_title("Share or export this conversation").click()
    page.get_by_label("Show tokens and cost").check()
    page.get_by_role("button", name="Create link").click()

    # Back on the page with the menu open, the new link selected beside a Copy button.
    link = page.locator(".share-new .share-url")
    expect(link).to_be_focused()
    url = link.input_value()
    assert re.fullmatch(rf"{re.escape(app.url)}/s/[A-Za-z0-9_-]{{32}}/", url)
    expect(page.locator(".share-new")).to_contain_text("shows cost")
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()

    colleague = app.new_page(url, user=bob)
    expect(colleague.get_by_role("heading", name="Billing migration")).to_be_visible()
    expect(colleague.get_by_text("Shared by alice")).to_be_visible()
    expect(colleague.locator(".markdown strong")).to_have_text("Copy")
    expect(colleague.locator(".turn-meta")).to_contain_text("$0.5859")
    expect(colleague.locator("#composer, textarea, form")).to_have_count(0)

    # A visitor who is not signed in is sent to sign in.
    stranger = app.new_page(url)
    expect(stranger).to_have_url(re.compile(r"/login/\?next=/s/"))

    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".alert-success")).to_have_text("Link revoked: it now leads nowhere.")
    expect(page.locator(".share-item")).to_have_count(0)
    response = colleague.reload()
    assert response.status == 404
