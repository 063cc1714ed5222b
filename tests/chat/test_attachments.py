"""Attachments (issue 18) as users meet them: upload from the composer, each bad input refused by name with the
prompt and the other files kept, files served to their owner only, edits, deletes, the quota and the model."""

import re
import uuid

import pytest
from django.core.files.storage import storages
from django.urls import reverse
from PIL import Image

from conversations.attachments import checks
from conversations.attachments import services as attachment_services
from conversations.chat import services
from conversations.models import AIModel, Attachment, Turn
from conversations.usage import budgets
from tests import attachment_files as files
from tests.helpers import client_for

ID = re.compile(r'data-attachment="([0-9a-f-]{36})"')


def _upload(client, name, data, **extra):
    return client.post(reverse("attachment_upload"), {"file": files.upload(name, data), **extra})


def _uploaded(client, name, data, **extra) -> Attachment:
    response = _upload(client, name, data, **extra)
    assert response.status_code == 200, response.content
    return Attachment.objects.get(pk=ID.search(response.content.decode()).group(1))


def _stored(row: Attachment) -> bytes:
    with storages["attachments"].open(row.path, "rb") as f:
        return f.read()


# --- Upload: the content decides, images are re-encoded ----------------------------------------------


def test_an_uploaded_png_is_checked_stored_and_previewed_with_its_thumbnail(alice_client, alice):
    response = _upload(alice_client, "shot.png", files.png(640, 480))
    assert response.status_code == 200
    page = response.content.decode()
    row = Attachment.objects.get(owner=alice)
    assert row.turn is None and row.kind == "image" and row.content_type == "image/png"
    assert (row.width, row.height, row.name) == (640, 480, "shot.png")
    assert f'value="{row.id}"' in page and reverse("attachment_thumbnail", args=[row.id]) in page and "shot.png" in page
    assert row.tokens == 85 + 170 * 2  # high detail: 640 x 480 fits, 2 x 1 tiles of 512
    thumb = Image.open(storages["attachments"].open(row.thumbnail_path, "rb"))
    assert thumb.format == "WEBP" and max(thumb.size) <= checks.THUMBNAIL_SIDE


def test_an_image_is_re_encoded_without_its_metadata_and_its_long_side_capped(alice_client, settings):
    settings.ATTACHMENT_IMAGE_MAX_SIDE = 100
    raw = files.jpeg_with_exif(400, 200)
    assert b"SecretCam" in raw
    row = _uploaded(alice_client, "photo.jpg", raw)
    stored = _stored(row)
    assert b"SecretCam" not in stored and b"Exif" not in stored
    assert (row.width, row.height) == (100, 50) and Image.open(storages["attachments"].open(row.path)).size == (100, 50)


@pytest.mark.parametrize(
    ("name", "data", "kind", "content_type"),
    [
        ("a.webp", files.webp(), "image", "image/webp"),
        ("a.gif", files.gif(), "image", "image/png"),  # its first frame, as PNG
        ("doc.pdf", files.pdf(3), "pdf", "application/pdf"),
        ("no-extension", files.png(), "image", "image/png"),  # the name says nothing: the content decides
    ],
)
def test_each_accepted_kind_is_stored_as_what_its_content_is(alice_client, name, data, kind, content_type):
    row = _uploaded(alice_client, name, data)
    assert (row.kind, row.content_type) == (kind, content_type)
    if kind == "pdf":
        assert row.pages == 3 and _stored(row) == data and row.tokens >= 3 * 765


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("cute.png", files.HTML, "its content is HTML or XML"),
        ("cut.png", files.png(300, 300)[:-200], "not a complete Png image"),
        ("photos.zip", files.zip_file(), "a ZIP archive"),
        ("archive.pdf", files.zip_file(), "a ZIP archive"),
        ("secret.pdf", files.encrypted_pdf(), "it is encrypted"),
        ("broken.pdf", files.pdf(1)[:-60], "could not be parsed"),
        ("bomb.png", files.huge_png(), "it has more pixels than the limit of 40,000,000"),  # Pillow's own check
        ("empty.png", b"", "the file is empty"),
    ],
)
def test_each_bad_file_is_refused_by_name_and_why_and_nothing_is_kept(alice_client, alice, name, data, why):
    response = _upload(alice_client, name, data)
    assert response.status_code == 400
    message = response.content.decode()
    assert message.startswith(f"“{name}” was not attached:") and why in message, message
    assert not Attachment.objects.filter(owner=alice).exists()


def test_a_pdf_over_the_page_limit_and_a_file_over_the_size_limit_are_refused(alice_client, settings):
    settings.ATTACHMENT_PDF_MAX_PAGES = 2
    assert "it has 3 pages, over the limit of 2" in _upload(alice_client, "long.pdf", files.pdf(3)).content.decode()
    settings.ATTACHMENT_MAX_BYTES = 1024
    big = files.png(400, 400, color=(1, 2, 3))
    refused = _upload(alice_client, "big.png", big + b"\0" * 2000).content.decode().replace("\xa0", " ")
    assert "it is 3.3 KB, over the limit of 1.0 KB" in refused


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(alice_client, settings):
    settings.ATTACHMENT_MAX_PIXELS = 10_000
    message = _upload(alice_client, "wide.png", files.huge_png(200, 100)).content.decode()
    assert "it is 200 × 100 pixels, over the limit of 10,000 pixels" in message  # the header is never decoded


def test_past_the_quota_an_upload_is_refused_saying_how_much_is_used(alice_client, alice, settings):
    first = _uploaded(alice_client, "one.png", files.png())
    settings.ATTACHMENT_QUOTA_BYTES = first.size + first.thumbnail_size + 10
    response = _upload(alice_client, "two.pdf", files.pdf(1))
    assert (
        response.status_code == 400 and "“two.pdf” was not attached: your attachments take" in response.content.decode()
    )
    assert Attachment.objects.filter(owner=alice).count() == 1


def test_the_same_content_twice_is_stored_once_and_counted_once(alice_client, alice):
    from conversations.attachments import selectors

    one, two = _uploaded(alice_client, "a.png", files.png()), _uploaded(alice_client, "b.png", files.png())
    assert one.path == two.path and one.pk != two.pk
    assert selectors.storage_used(user=alice) == one.size + one.thumbnail_size


def test_a_model_that_takes_no_images_hides_attach_and_refuses_uploads(alice_client, alice):
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(accepts_images=False, accepts_files=False)
    assert 'class="attach-input"' not in alice_client.get("/").content.decode()
    response = _upload(alice_client, "shot.png", files.png())
    assert response.status_code == 400 and "does not read images" in response.content.decode()
    AIModel.objects.filter(provider_id="openai/gpt-5-pro").update(accepts_files=True)
    page = alice_client.get("/").content.decode()
    assert 'accept="application/pdf,.pdf"' in page and "PDFs · up to" in page and "Images and PDFs" not in page


# --- Ownership and serving ---------------------------------------------------------------------------


def test_files_are_served_to_their_owner_only_with_safe_headers(alice_client, bob):
    row = _uploaded(alice_client, "shot.png", files.png())
    response = alice_client.get(reverse("attachment_file", args=[row.id]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == _stored(row)
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert (
        response["Content-Security-Policy"].startswith("default-src 'none'")
        and "sandbox" in response["Content-Security-Policy"]
    )
    assert response["Content-Disposition"].startswith("inline") and "shot.png" in response["Content-Disposition"]
    download = alice_client.get(reverse("attachment_file", args=[row.id]) + "?download")
    assert download["Content-Disposition"].startswith("attachment")
    other = client_for(bob)
    for name in ("attachment_file", "attachment_thumbnail"):
        assert other.get(reverse(name, args=[row.id])).status_code == 404
    assert other.post(reverse("attachment_discard", args=[row.id])).status_code == 404
    assert other.get(reverse("attachment_file", args=[uuid.uuid4()])).status_code == 404
    assert Attachment.objects.filter(pk=row.pk).exists()


def test_files_are_not_under_a_public_url(alice_client, settings):
    row = _uploaded(alice_client, "shot.png", files.png())
    assert str(storages["attachments"].location).startswith(str(settings.DATA_DIR / "media"))
    assert alice_client.get(f"/media/attachments/{row.path}").status_code == 404
    assert alice_client.get(f"/{row.path}").status_code == 404


def test_another_users_attachment_id_in_a_prompt_is_ignored(alice_client, alice, bob):
    theirs = attachment_services.attachment_upload(
        owner=bob, name="bob.png", content=files.upload("bob.png", files.png()), size=len(files.png()), model=None
    )
    conversation = services.conversation_create(owner=alice, prompt="first").conversation
    alice_client.post(conversation.get_absolute_url(), {"prompt": "mine", "attachment": [str(theirs.id)]})
    assert Attachment.objects.get(pk=theirs.pk).turn is None and not Attachment.objects.filter(owner=alice).exists()


# --- The composer: sent, refused, kept --------------------------------------------------------------


def test_files_listed_in_the_composer_go_with_the_prompt_in_order(alice_client, alice):
    conversation = services.conversation_create(owner=alice, prompt="first").conversation
    one, two = _uploaded(alice_client, "one.pdf", files.pdf(1)), _uploaded(alice_client, "two.png", files.png())
    response = alice_client.post(
        conversation.get_absolute_url(), {"prompt": "look", "attachment": [str(two.id), str(one.id)]}
    )
    assert response.status_code == 302
    turn = Turn.objects.get(conversation=conversation, prompt="look")
    assert [(row.name, row.position) for row in turn.attachments.order_by("position")] == [
        ("two.png", 0),
        ("one.pdf", 1),
    ]
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert reverse("attachment_thumbnail", args=[two.id]) in page and 'loading="lazy"' in page
    assert reverse("attachment_file", args=[one.id]) in page and "1 page" in page


def test_a_prompts_files_are_counted_in_the_input_it_is_held_at(alice_client, alice):
    # The hold is priced before the transaction that attaches the files (budgets.turn_quote): it counts them.
    alice_client.post("/", {"prompt": "plain"})
    plain = Turn.objects.get(prompt="plain")
    image = _uploaded(alice_client, "shot.png", files.png(640, 480))
    alice_client.post("/", {"prompt": "image", "attachment": [str(image.id)]})
    with_image = Turn.objects.get(prompt="image")
    assert with_image.attachments.count() == 1
    extra = budgets.estimate(with_image).input_tokens - budgets.estimate(plain).input_tokens
    assert extra == image.tokens  # same prompt length, so the files alone make the difference
    assert with_image.estimate_usd > plain.estimate_usd
    # A follow-up's own file, too.
    Turn.objects.filter(pk=with_image.pk).update(status="completed", output_text="seen")
    pdf = _uploaded(alice_client, "one.pdf", files.pdf(1))
    alice_client.post(with_image.conversation.get_absolute_url(), {"prompt": "again", "attachment": [str(pdf.id)]})
    again = Turn.objects.get(prompt="again")
    held = budgets.turn_quote(turn=again, row=None).found.input_tokens
    assert held >= image.tokens + pdf.tokens


def test_without_javascript_the_file_input_is_posted_with_the_prompt(alice_client, alice):
    response = alice_client.post(
        "/",
        {"prompt": "what is this?", "files": [files.upload("a.png", files.png()), files.upload("b.pdf", files.pdf(2))]},
    )
    assert response.status_code == 302
    turn = Turn.objects.get(prompt="what is this?")
    assert sorted(turn.attachments.values_list("name", flat=True)) == ["a.png", "b.pdf"]


def test_a_refused_file_keeps_the_prompt_and_the_other_files_in_the_composer(alice_client, alice):
    conversation = services.conversation_create(owner=alice, prompt="first").conversation
    good = _uploaded(alice_client, "good.png", files.png())
    response = alice_client.post(
        conversation.get_absolute_url(),
        {"prompt": "Keep this text", "attachment": [str(good.id)], "files": [files.upload("evil.png", files.HTML)]},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Keep this text" in page and "“evil.png” was not attached: its content is HTML or XML" in page
    assert f'name="attachment" value="{good.id}"' in page
    assert not Turn.objects.filter(prompt="Keep this text").exists()


def test_over_the_per_prompt_limits_the_prompt_is_refused_and_kept(alice_client, alice, settings):
    settings.ATTACHMENT_MAX_FILES = 1
    rows = [_uploaded(alice_client, "a.png", files.png()), _uploaded(alice_client, "b.pdf", files.pdf(1))]
    response = alice_client.post("/", {"prompt": "two files", "attachment": [str(row.id) for row in rows]})
    assert response.status_code == 400 and "a prompt takes at most 1 files" in response.content.decode()
    settings.ATTACHMENT_MAX_FILES, settings.ATTACHMENT_MAX_PROMPT_BYTES = 10, rows[0].size + 1
    response = alice_client.post("/", {"prompt": "two files", "attachment": [str(row.id) for row in rows]})
    assert response.status_code == 400 and "per prompt; remove some" in response.content.decode()
    assert "two files" in response.content.decode() and not Turn.objects.filter(prompt="two files").exists()


def test_removing_an_upload_deletes_it_and_its_file_once_nothing_names_it(
    alice_client, alice, django_capture_on_commit_callbacks
):
    row = _uploaded(alice_client, "a.png", files.png())
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post(reverse("attachment_discard", args=[row.id])).status_code == 204
    assert not Attachment.objects.filter(pk=row.pk).exists()
    assert not storages["attachments"].exists(row.path) and not storages["attachments"].exists(row.thumbnail_path)


# --- Versions, deletes ----------------------------------------------------------------------------


def test_an_edited_prompt_keeps_its_files_or_changes_them_and_each_version_has_its_own(alice_client, alice):
    image, pdf = _uploaded(alice_client, "a.png", files.png()), _uploaded(alice_client, "b.pdf", files.pdf(1))
    alice_client.post("/", {"prompt": "original", "attachment": [str(image.id), str(pdf.id)]})
    first = Turn.objects.get(prompt="original")
    Turn.objects.filter(pk=first.pk).update(status="completed")
    # Regenerate as is, and an edit without the editor's list: the files are kept (copied rows, one stored file).
    alice_client.post(reverse("turn_regenerate", args=[first.id]), {"prompt": "edited"})
    edited = Turn.objects.get(prompt="edited")
    assert [row.name for row in edited.attachments.all()] == ["a.png", "b.pdf"]
    assert {row.path for row in edited.attachments.all()} == {image.path, pdf.path}
    assert set(edited.attachments.values_list("pk", flat=True)).isdisjoint({image.pk, pdf.pk})
    # The editor's list: untick the PDF, add a GIF.
    Turn.objects.filter(pk=edited.pk).update(status="completed")
    alice_client.post(
        reverse("turn_regenerate", args=[first.id]),
        {
            "prompt": "changed",
            "attachments_edited": "1",
            "attachment": [str(image.id)],
            "files": [files.upload("c.gif", files.gif())],
        },
    )
    changed = Turn.objects.get(prompt="changed")
    assert [row.name for row in changed.attachments.all()] == ["a.png", "c.gif"]
    assert [row.name for row in first.attachments.all()] == ["a.png", "b.pdf"]  # the first version keeps its own
    editor = alice_client.get(reverse("turn_edit", args=[first.id])).content.decode()
    assert 'name="attachments_edited"' in editor and f'name="attachment" value="{image.id}"' in editor


def test_deleting_a_conversation_deletes_its_files_but_not_ones_another_row_names(
    alice_client, alice, django_capture_on_commit_callbacks
):
    shared_png = files.png(color=(9, 9, 9))
    alice_client.post(
        "/", {"prompt": "one", "files": [files.upload("a.png", shared_png), files.upload("b.pdf", files.pdf(1))]}
    )
    alice_client.post("/", {"prompt": "two", "files": [files.upload("same.png", shared_png)]})
    one = Turn.objects.get(prompt="one")
    paths = dict(one.attachments.values_list("name", "path"))
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("conversation_delete", args=[one.conversation_id]))
    assert not Attachment.objects.filter(turn__conversation_id=one.conversation_id).exists()
    assert not storages["attachments"].exists(paths["b.pdf"])
    assert storages["attachments"].exists(paths["a.png"])  # still the other conversation's


def test_uploads_never_sent_are_swept_after_a_day(alice_client, alice, clock, django_capture_on_commit_callbacks):
    from datetime import UTC, datetime, timedelta

    clock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    row = _uploaded(alice_client, "a.png", files.png())
    sent = _uploaded(alice_client, "b.png", files.png(color=(1, 1, 1)))
    services.conversation_create(owner=alice, prompt="x", attachments=[sent])
    with django_capture_on_commit_callbacks(execute=True):
        assert attachment_services.orphans_delete(now=row.created_at + timedelta(hours=23)) == 0
        assert attachment_services.orphans_delete(now=row.created_at + timedelta(hours=25)) == 1
    assert not storages["attachments"].exists(row.path) and Attachment.objects.filter(pk=sent.pk).exists()
