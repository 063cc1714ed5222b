"""Attachments in history (issue 18): the Markdown export lists them, the JSON export carries them (base64 data
URLs) and an import restores them, checked like uploads and idempotent; shares include them only by choice."""

import base64
import html
import io
import json
import re

from django.core.files.storage import storages
from django.urls import reverse

from conversations.attachments import selectors as attachment_selectors
from conversations.attachments import services as attachment_services
from conversations.chat import services
from conversations.history import services as history
from conversations.models import Attachment, Conversation, Turn
from tests import attachment_files as made
from tests.helpers import client_for
from tests.history.test_transfer import as_file, envelope, export_all, upload, valid_conversation


def _attach(owner, name, data) -> Attachment:
    return attachment_services.attachment_upload(
        owner=owner, name=name, content=io.BytesIO(data), size=len(data), model=None
    )


def _conversation_with_files(owner):
    image, pdf = _attach(owner, "shot.png", made.png(120, 90)), _attach(owner, "paper.pdf", made.pdf(2))
    turn = services.conversation_create(owner=owner, prompt="Look at these", attachments=[image, pdf])
    Turn.objects.filter(pk=turn.pk).update(status="completed", output_text="Seen.")
    return turn.conversation, image, pdf


def test_the_markdown_export_lists_a_prompt_s_files_with_links(alice_client, alice):
    conversation, image, pdf = _conversation_with_files(alice)
    text = alice_client.get(reverse("conversation_export_markdown", args=[conversation.id])).content.decode()
    assert f"- Attached: [shot.png]({reverse('attachment_file', args=[image.id])})" in text
    assert f"- Attached: [paper.pdf]({reverse('attachment_file', args=[pdf.id])}) (2 pages," in text


def test_the_json_export_carries_the_files_and_an_import_restores_them_once(alice, bob):
    conversation, image, pdf = _conversation_with_files(alice)
    exported = export_all(client_for(alice))
    data = json.loads(exported)
    assert data["version"] == 4
    files = data["conversations"][0]["turns"][0]["attachments"]
    assert [(f["name"], f["kind"], f["content_type"], f["pages"]) for f in files] == [
        ("shot.png", "image", "image/png", None),
        ("paper.pdf", "pdf", "application/pdf", 2),
    ]
    assert base64.b64decode(files[1]["data"].split(",", 1)[1]) == made.pdf(2)
    assert files[0]["data"].startswith("data:image/png;base64,") and files[0]["sha256"] == image.sha256

    bob_client = client_for(bob)
    assert upload(bob_client, exported).status_code == 302
    assert upload(bob_client, exported).status_code == 302  # idempotent: the conversation is skipped
    restored = Turn.objects.get(conversation__owner=bob)
    rows = list(restored.attachments.order_by("position"))
    assert [(row.name, row.owner, row.pages) for row in rows] == [("shot.png", bob, None), ("paper.pdf", bob, 2)]
    assert rows[1].sha256 == pdf.sha256 and rows[1].path.startswith(f"{bob.pk}/")
    with storages["attachments"].open(rows[1].path, "rb") as stored:
        assert stored.read() == made.pdf(2)
    assert Attachment.objects.filter(owner=bob).count() == 2
    page = bob_client.get(restored.conversation.get_absolute_url()).content.decode()
    assert reverse("attachment_thumbnail", args=[rows[0].id]) in page


def test_an_imported_file_is_checked_like_an_upload_and_a_bad_one_refuses_the_import(bob):
    conversation = valid_conversation(title="With a bad file")
    conversation["turns"][0]["thinking"] = ""
    html_file = "data:image/png;base64," + base64.b64encode(made.HTML).decode()
    conversation["turns"][0]["attachments"] = [
        {"name": "cute.png", "kind": "image", "content_type": "image/png", "size": 70, "sha256": "x", "pages": None,
         "data": html_file}
    ]  # fmt: skip
    response = upload(client_for(bob), as_file(envelope(conversation, version=4)))
    message = html.unescape(response.content.decode())
    assert response.status_code == 400 and "file 1: “cute.png” was not attached: its content is HTML or XML" in message
    assert not Conversation.objects.filter(owner=bob).exists() and not Attachment.objects.filter(owner=bob).exists()


def test_a_share_includes_the_files_only_when_its_owner_chooses(alice_client, alice, bob):
    conversation, image, pdf = _conversation_with_files(alice)
    plain = history.share_create(conversation=conversation)
    with_files = history.share_create(conversation=conversation, show_attachments=True)
    reader = client_for(bob)
    assert "shot.png" not in reader.get(reverse("share", args=[plain.token])).content.decode()
    assert reader.get(reverse("shared_attachment", args=[plain.token, image.id])).status_code == 404
    page = reader.get(reverse("share", args=[with_files.token])).content.decode()
    thumb = reverse("shared_attachment_thumbnail", args=[with_files.token, image.id])
    assert thumb in page and reverse("shared_attachment", args=[with_files.token, pdf.id]) in page
    assert f'"{reverse("attachment_file", args=[image.id])}' not in page  # never the owner's own URL
    response = reader.get(reverse("shared_attachment", args=[with_files.token, pdf.id]))
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    assert reader.get(thumb).status_code == 200
    # The owner's URL stays the owner's; another file of alice's is not reachable through the share.
    assert reader.get(reverse("attachment_file", args=[image.id])).status_code == 404
    other = _attach(alice, "private.png", made.png(color=(5, 5, 5)))
    assert reader.get(reverse("shared_attachment", args=[with_files.token, other.id])).status_code == 404
    history.share_revoke(share=with_files)
    assert reader.get(reverse("shared_attachment", args=[with_files.token, pdf.id])).status_code == 404


def test_the_share_menu_offers_to_include_files(alice_client, alice):
    conversation, _image, _pdf = _conversation_with_files(alice)
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert re.search(r'name="show_attachments"', page)
    alice_client.post(reverse("share_create", args=[conversation.id]), {"show_attachments": "on"})
    assert conversation.shares.get().show_attachments


def test_an_import_whose_files_would_pass_the_storage_quota_imports_nothing(alice, bob, settings):
    _conversation_with_files(alice)
    exported = export_all(client_for(alice))
    brought = sum(row.size for row in Attachment.objects.filter(owner=alice))  # the bytes the file carries
    _attach(bob, "mine.png", made.png(40, 40))
    used = attachment_selectors.storage_used(user=bob)  # the file and its thumbnail
    settings.ATTACHMENT_QUOTA_BYTES = used + brought - 1  # one byte short
    response = upload(client_for(bob), exported)
    message = html.unescape(response.content.decode())
    assert response.status_code == 400 and "over your" in message and "Nothing was imported" in message
    assert not Conversation.objects.filter(owner=bob).exists() and Attachment.objects.filter(owner=bob).count() == 1

    settings.ATTACHMENT_QUOTA_BYTES = used + brought  # exactly enough
    assert upload(client_for(bob), exported).status_code == 302
    assert Attachment.objects.filter(owner=bob).count() == 3
