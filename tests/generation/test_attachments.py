"""Attachments sent (issue 18): content parts of their user message in each endpoint's shape, sent again with
the history, counted by the estimate; the body streams each file's base64 from storage (also on a retry).

Everything goes through the real client and worker code against the fake AI/ML API on loopback."""

import base64
import io
import json
from datetime import UTC, datetime

import pytest

from conversations.attachments import services as attachment_services
from conversations.chat import services
from conversations.generation.aimlapi import files as wire
from conversations.models import AIModel, Attachment, Turn
from conversations.usage import budgets
from tests import attachment_files as made

PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"


@pytest.fixture(autouse=True)
def _before_retirement(clock):
    clock(datetime(2026, 11, 2, 9, tzinfo=UTC))  # gpt-5-pro still answers (retires 2026-12-11)


def _attach(owner, name: str, data: bytes) -> Attachment:
    return attachment_services.attachment_upload(
        owner=owner, name=name, content=io.BytesIO(data), size=len(data), model=None
    )


def test_a_prompt_s_files_are_input_image_and_input_file_parts_on_responses(run_now, alice, fake_api):
    image, pdf = _attach(alice, "shot.png", made.png(300, 200)), _attach(alice, "paper.pdf", made.pdf(2))
    turn = run_now(services.conversation_create, owner=alice, prompt="Read these", attachments=[image, pdf])
    assert turn.status == Turn.Status.COMPLETED
    sent = fake_api.post_requests[0]["json"]["input"][-1]
    assert sent["role"] == "user" and sent["content"][0] == {"type": "input_text", "text": "Read these"}
    image_part, file_part = sent["content"][1:]
    assert image_part["type"] == "input_image" and image_part["image_url"].startswith("data:image/png;base64,")
    assert image_part["detail"] == "auto"
    assert file_part["type"] == "input_file" and file_part["filename"] == "paper.pdf"
    assert file_part["file_data"].startswith("data:application/pdf;base64,")
    got = fake_api.files
    assert [(f["endpoint"], f["kind"], f["content_type"]) for f in got] == [
        ("responses", "image", "image/png"),
        ("responses", "pdf", "application/pdf"),
    ]
    assert [f["sha256"] for f in got] == [image.sha256, pdf.sha256]
    assert got[1]["data"] == made.pdf(2)


def test_a_chat_completions_model_gets_image_url_and_file_parts(run_now, alice, fake_api):
    AIModel.objects.filter(provider_id=SOL).update(enabled=True)
    image, pdf = _attach(alice, "shot.png", made.png()), _attach(alice, "paper.pdf", made.pdf(1))
    turn = run_now(services.conversation_create, owner=alice, prompt="Both", model=SOL, attachments=[image, pdf])
    assert turn.status == Turn.Status.COMPLETED
    assert fake_api.post_count == 0 and len(fake_api.chat_requests) == 1
    content = fake_api.chat_requests[0]["json"]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "file"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,") and content[1]["image_url"]["detail"]
    assert content[2]["file"]["filename"] == "paper.pdf"
    assert [(f["endpoint"], f["kind"], f["sha256"]) for f in fake_api.files] == [
        ("chat", "image", image.sha256),
        ("chat", "pdf", pdf.sha256),
    ]


def test_files_are_sent_again_with_the_history_and_counted_by_the_estimate(run_now, alice, fake_api):
    image = _attach(alice, "shot.png", made.png(1600, 1200))
    first = run_now(services.conversation_create, owner=alice, prompt="What is it?", attachments=[image])
    second = run_now(services.turn_create, conversation=first.conversation, prompt="And the colour?")
    assert second.status == Turn.Status.COMPLETED
    body = fake_api.post_requests[1]["json"]["input"]
    assert [item["role"] for item in body] == ["user", "assistant", "user"]
    assert body[0]["content"][1]["type"] == "input_image" and body[2]["content"] == "And the colour?"
    assert [(f["message"], f["sha256"]) for f in fake_api.files] == [(0, image.sha256), (0, image.sha256)]
    # The estimate of a first turn with the image: its text plus the image's tiles (1600x1200 -> 1024x768: 2x2).
    row = first.attachments.get()
    assert row.tokens == 85 + 170 * 4
    Turn.objects.filter(pk=first.pk).update(input_tokens=None)
    assert budgets.estimate(first).input_tokens >= row.tokens


def test_a_pdf_is_counted_as_an_image_per_page_plus_its_text(alice):
    pdf = _attach(alice, "ten.pdf", made.pdf(10))
    assert pdf.pages == 10 and pdf.tokens == 10 * (85 + 4 * 170)


def test_the_body_streams_each_file_with_a_known_length_and_retries_send_it_whole(run_now, alice, fake_api):
    pdf = _attach(alice, "paper.pdf", made.pdf(3))
    fake_api.faults = [("status", 503)]
    turn = run_now(services.conversation_create, owner=alice, prompt='say "@@file-x@@" as is', attachments=[pdf])
    assert turn.status == Turn.Status.COMPLETED and fake_api.post_count == 2
    for request in fake_api.post_requests:
        assert int(request["headers"]["content-length"]) == len(request["body"].encode())
        content = request["json"]["input"][-1]["content"]
        assert content[0]["text"] == 'say "@@file-x@@" as is'
        assert base64.b64decode(content[1]["file_data"].split(",", 1)[1]) == made.pdf(3)  # whole, both times


def test_encode_writes_what_json_would_with_the_base64_in_place():
    data = bytes(range(256)) * 1000 + b"tail"  # not a multiple of 3, over one read
    part = wire.FilePart("pdf", "a.pdf", "application/pdf", len(data), lambda: io.BytesIO(data))
    body = {"model": "m", "input": [{"role": "user", "content": wire.responses_content('"@@file-', [part])}]}
    encoded = wire.encode(body)
    assert isinstance(encoded, wire.StreamedBody)
    raw = b"".join(encoded)
    assert len(raw) == len(encoded) and b"".join(encoded) == raw  # iterable again (a retry), same length
    sent = json.loads(raw)["input"][0]["content"]
    assert sent[0]["text"] == '"@@file-'
    assert base64.b64decode(sent[1]["file_data"].split(",", 1)[1]) == data
    assert wire.encode({"model": "m", "input": "x"}) == b'{"model": "m", "input": "x"}'


def test_a_conversation_moved_to_a_model_without_images_sends_its_text_only(run_now, alice, fake_api):
    image, pdf = _attach(alice, "shot.png", made.png()), _attach(alice, "paper.pdf", made.pdf(1))
    first = run_now(services.conversation_create, owner=alice, prompt="Both", attachments=[image, pdf])
    AIModel.objects.filter(provider_id=PRO).update(accepts_images=False)
    run_now(services.turn_create, conversation=first.conversation, prompt="Later")
    earlier = fake_api.post_requests[1]["json"]["input"][0]["content"]
    assert [part["type"] for part in earlier] == ["input_text", "input_file"]
