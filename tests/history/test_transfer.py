"""Export (Markdown, JSON, everything streamed) and import of conversations (conversations/history/)."""

import html
import io
import json
import re
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient
from django.utils import timezone

from conversations.chat import selectors, services
from conversations.history import export_format, import_checks, import_reader
from conversations.history.errors import ImportRefused
from conversations.models import Charge, Conversation, DailyUsage, Turn
from tests import factories
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# The model's reasoning summary on the first turn (export format version 3).
THINKING = "**Weighing the steps**\n\nFive steps, or three? Three <b>fit</b> a page."


def rich_conversation(owner, title="Quarterly plan", at=T0) -> Conversation:
    """A conversation with every kind of turn: retried, two versions, failed, cancelled, with usage and prices."""
    conversation = factories.conversation(
        owner=owner,
        title=title,
        model="openai/gpt-5-pro",
        instructions="Answer in British English.",
        max_output_tokens=4000,
        created_at=at,
        updated_at=at + timedelta(minutes=30),
        pinned_at=at + timedelta(minutes=5),
    )
    usage = {
        "input_tokens": 1200,
        "cached_tokens": 200,
        "output_tokens": 3400,
        "reasoning_tokens": 2900,
        "total_tokens": 4600,
        "input_price": Decimal("20.631"),
        "cached_input_price": None,
        "output_price": Decimal("165.048"),
        "cost_usd": Decimal("0.585920"),
        "provider_cost_usd": Decimal("0.590000"),
    }
    factories.turn(
        conversation=conversation,
        prompt="Draft the plan.\nKeep it short.",
        status=Turn.Status.COMPLETED,
        attempts=2,
        mode="stream",
        response_id="resp_first",
        model="openai/gpt-5-pro-2025-10-06",
        output_text="# Plan\n\n| step | owner |\n|---|---|\n| 1 | Ann |\n\n```python\nprint('hi')\n```",
        output_html="<p>stale</p>",
        thinking=THINKING,
        history=[
            {
                "attempt": 1,
                "status": "failed",
                "error_code": "server_error",
                "error_message": "The provider failed (502). Press Retry to try again.",
                "response_id": "",
                "output_tokens": None,
                "input_tokens": None,
                "cost_usd": None,
                "started_at": (at + timedelta(seconds=1)).isoformat(),
                "completed_at": (at + timedelta(seconds=3)).isoformat(),
            }
        ],
        created_at=at + timedelta(seconds=1),
        parent=None,
        started_at=at + timedelta(seconds=4),
        completed_at=at + timedelta(minutes=2),
        updated_at=at + timedelta(minutes=2),
        **usage,
    )
    # The prompt edited: another version of the first turn, the one the cancelled turn follows.
    factories.turn(
        conversation=conversation,
        parent=None,
        prompt="Draft the plan, in five steps.",
        status=Turn.Status.FAILED,
        attempts=1,
        mode="sync",
        error_code="interrupted",
        error_message="The answer was interrupted because the worker stopped. Press Retry to send it again.",
        output_text="Partial **answer**",
        created_at=at + timedelta(minutes=3),
        started_at=at + timedelta(minutes=3),
        completed_at=at + timedelta(minutes=4),
        updated_at=at + timedelta(minutes=4),
    )
    factories.turn(
        conversation=conversation,
        prompt="Never mind.",
        status=Turn.Status.CANCELLED,
        attempts=1,
        error_code="cancelled",
        error_message="Stopped by the user.",
        created_at=at + timedelta(minutes=5),
        updated_at=at + timedelta(minutes=5),
    )
    return conversation


def export_all(client) -> bytes:
    response = client.get("/transfer/export.json")
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content)


def upload(client, content: bytes, name="export.json"):
    return client.post("/transfer/import/", {"file": SimpleUploadedFile(name, content, "application/json")})


def comparable(export: dict) -> list[dict]:
    """The conversations of an export without what an import renews (ids, origin, export time)."""
    conversations = []
    for conversation in export["conversations"]:
        positions = {turn["id"]: index for index, turn in enumerate(conversation["turns"])}
        turns = [{**turn, "id": None, "parent": positions.get(turn["parent"])} for turn in conversation["turns"]]
        current = positions.get(conversation["current_turn"])
        conversations.append({**conversation, "id": None, "origin_id": None, "current_turn": current, "turns": turns})
    return conversations


def counts() -> tuple[int, int, int, int]:
    return Conversation.objects.count(), Turn.objects.count(), Charge.objects.count(), DailyUsage.objects.count()


def envelope(*conversations, **overrides) -> dict:
    return {"format": "aimlweb-export", "version": 2, "exported_at": "2026-11-25T10:00:00Z", **overrides,
            "conversations": list(conversations)}  # fmt: skip


def valid_conversation(**overrides) -> dict:
    turn = {
        "id": str(uuid.uuid4()),
        "prompt": "What is 2 + 2?",
        "answer": "**4**",
        "status": "completed",
        "model": "openai/gpt-5-pro",
        "response_id": "resp_1",
        "mode": "sync",
        "attempts": 1,
        "input_tokens": 10,
        "cached_tokens": 0,
        "output_tokens": 20,
        "reasoning_tokens": 12,
        "total_tokens": 30,
        "input_price": "20.631",
        "cached_input_price": None,
        "output_price": "165.048",
        "cost_usd": "0.003507",
        "provider_cost_usd": None,
        "error_code": "",
        "error_message": "",
        "earlier_attempts": [],
        "parent": None,
        "created_at": "2026-11-25T09:00:00Z",
        "started_at": "2026-11-25T09:00:01Z",
        "completed_at": "2026-11-25T09:01:00Z",
        "updated_at": "2026-11-25T09:01:00Z",
    }
    turn.update(overrides.pop("turn", {}))
    conversation = {
        "id": str(uuid.uuid4()),
        "origin_id": None,
        "title": "Arithmetic",
        "model": "openai/gpt-5-pro",
        "instructions": "",
        "max_output_tokens": None,
        "reasoning_effort": "",
        "created_at": "2026-11-25T09:00:00Z",
        "updated_at": "2026-11-25T09:01:00Z",
        "pinned_at": None,
        "archived_at": None,
        "current_turn": None,
        "turns": [turn],
    }
    conversation.update(overrides)
    return conversation


def version_1(conversation: dict) -> dict:
    """A conversation as export format version 1 wrote it: `superseded_by` instead of `parent`."""
    turns = [
        {("superseded_by" if name == "parent" else name): value for name, value in turn.items()}
        for turn in conversation["turns"]
    ]
    return {name: value for name, value in conversation.items() if name != "current_turn"} | {"turns": turns}


def as_file(data) -> bytes:
    return json.dumps(data).encode()


# --- Export ----------------------------------------------------------------------------------


def test_json_export_of_one_conversation_has_every_field(alice_client, alice):
    conversation = rich_conversation(alice)
    response = alice_client.get(f"/c/{conversation.id}/export.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="quarterly-plan.json"'
    data = json.loads(response.content)
    assert (data["format"], data["version"]) == ("aimlweb-export", 4)
    [exported] = data["conversations"]
    assert exported["id"] == str(conversation.id)
    assert exported["instructions"] == "Answer in British English."
    assert exported["pinned_at"] == "2026-11-20T09:35:00Z"
    first, newer, cancelled = exported["turns"]
    assert list(first) == list(export_format.TURN_FIELDS)
    assert first["answer"].startswith("# Plan")
    assert first["thinking"] == THINKING and newer["thinking"] == ""
    assert first["status"] == "completed"
    assert (first["input_tokens"], first["cached_tokens"], first["output_tokens"]) == (1200, 200, 3400)
    assert (first["reasoning_tokens"], first["total_tokens"]) == (2900, 4600)
    assert (first["input_price"], first["cached_input_price"], first["output_price"]) == (
        "20.631000",
        None,
        "165.048000",
    )
    assert (first["cost_usd"], first["provider_cost_usd"]) == ("0.585920", "0.590000")
    assert (first["response_id"], first["model"], first["attempts"]) == ("resp_first", "openai/gpt-5-pro-2025-10-06", 2)
    assert first["earlier_attempts"][0]["error_code"] == "server_error"
    # Two versions of the first prompt (no parent); the cancelled turn follows the second.
    assert (first["parent"], newer["parent"], cancelled["parent"]) == (None, None, newer["id"])
    assert exported["current_turn"] is None  # the newest turn's path is on screen
    assert list(exported) == list(export_format.CONVERSATION_FIELDS)
    assert (first["created_at"], first["completed_at"]) == ("2026-11-20T09:30:01Z", "2026-11-20T09:32:00Z")
    assert newer["error_code"] == "interrupted" and newer["answer"] == "Partial **answer**"
    assert cancelled["status"] == "cancelled"
    assert "output_html" not in first and "response_json" not in first


def test_markdown_export_is_a_readable_transcript_with_the_figures(alice_client, alice):
    conversation = rich_conversation(alice, title="Plan für Q4")
    response = alice_client.get(f"/c/{conversation.id}/export.md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="plan-fur-q4.md"'
    text = response.content.decode()
    assert text.startswith("# Plan für Q4\n")
    assert "> Draft the plan.\n> Keep it short." in text
    assert "| step | owner |" in text  # the answer's own Markdown, as is
    assert "### Answer (completed)" in text and "### Answer (cancelled)" in text
    # The model's thinking, quoted under its own heading before the answer; only where there is one.
    assert "### Thinking (summary)\n\n> **Weighing the steps**\n>\n> Five steps, or three?" in text
    assert text.count("### Thinking (summary)") == 1
    assert text.index("### Thinking (summary)") < text.index("### Answer (completed)")
    assert "Tokens: 1200 in (200 cached), 3400 out (2900 reasoning), 4600 total" in text
    assert "Cost: $0.58592 (provider's figure: $0.59)" in text
    assert "input 20.631000, cached input –, output 165.048000" in text
    assert "response id: resp_first" in text and "openai/gpt-5-pro-2025-10-06" in text
    assert "Earlier attempt: attempt: 1, status: failed, error_code: server_error" in text
    assert "*Version 1 of 2 at this place (an edit or a regeneration; the other is turn 2).*" in text
    assert "*Version 2 of 2 at this place (an edit or a regeneration; the other is turn 1).*" in text
    assert "**interrupted:** The answer was interrupted" in text
    assert "## Instructions (system prompt)" in text


def test_export_all_streams_every_conversation_with_its_own_turns(alice, bob, django_assert_max_num_queries):
    # More than two batches of 200, some without turns, and another user's conversation that must not appear.
    conversations = Conversation.objects.bulk_create(
        Conversation(owner=alice, title=f"c{i}", model="openai/gpt-5-pro", created_at=T0 + timedelta(seconds=i))
        for i in range(450)
    )
    Turn.objects.bulk_create(
        Turn(
            conversation=conversation,
            prompt=f"{conversation.title} p{k}",
            status="completed",
            output_text=f"{conversation.title} a{k}",
            created_at=T0 + timedelta(seconds=index, milliseconds=k),
        )
        for index, conversation in enumerate(conversations)
        for k in range(index % 3)
    )
    rich_conversation(bob, title="bob's")
    client = client_for(alice)
    with django_assert_max_num_queries(14):  # two per batch of conversations, whatever their number
        body = export_all(client)
    data = json.loads(body)
    assert [c["title"] for c in data["conversations"]] == [f"c{i}" for i in range(450)]
    for index, exported in enumerate(data["conversations"]):
        assert [t["prompt"] for t in exported["turns"]] == [f"c{index} p{k}" for k in range(index % 3)]
    assert body.count(b"\n") == 452  # the head, one conversation per line, the tail


def test_export_all_streams_under_asgi_too(alice):
    # Under ASGI Django collects a sync iterator into a list first (with a warning): the whole export in memory.
    rich_conversation(alice)
    rich_conversation(alice, title="Second", at=T0 + timedelta(days=1))
    client = AsyncClient()
    client.force_login(alice)

    async def download():
        response = await client.get("/transfer/export.json")
        return response, b"".join([chunk async for chunk in response.streaming_content])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response, body = async_to_sync(download)()
    assert response.status_code == 200 and response.is_async
    assert [c["title"] for c in json.loads(body)["conversations"]] == ["Quarterly plan", "Second"]


def test_export_of_nothing_is_a_valid_empty_file(alice):
    data = json.loads(export_all(client_for(alice)))
    assert data["conversations"] == [] and data["version"] == 4


# --- Import ----------------------------------------------------------------------------------


def test_round_trip_export_then_import_equals(alice, bob):
    rich_conversation(alice)
    rich_conversation(alice, title="Second", at=T0 + timedelta(days=1))
    original = export_all(client_for(alice))
    bob_client = client_for(bob)
    response = upload(bob_client, original)
    assert response.status_code == 302 and response["Location"] == "/transfer/"
    assert Conversation.objects.filter(owner=bob).count() == 2
    again = export_all(bob_client)
    assert comparable(json.loads(again)) == comparable(json.loads(original))
    # The new copies are bob's, remember where they came from, and point at their own new turns.
    for conversation in Conversation.objects.filter(owner=bob):
        assert conversation.origin_id in set(Conversation.objects.filter(owner=alice).values_list("id", flat=True))
        assert not conversation.turns.filter(id__in=Turn.objects.filter(conversation__owner=alice)).exists()
        follows = conversation.turns.get(parent__isnull=False)
        assert follows.parent.conversation_id == conversation.id and follows.parent.prompt.endswith("five steps.")


def test_the_thinking_round_trips_and_a_version_2_file_has_none(alice, bob):
    rich_conversation(alice)
    upload(client_for(bob), export_all(client_for(alice)))
    imported = Turn.objects.get(conversation__owner=bob, response_id="resp_first")
    assert imported.thinking == THINKING
    # Version 2 had no `thinking`: its turns come in without one, and a version 3 file must have it.
    upload(client_for(bob), as_file(envelope(valid_conversation(title="Older file"))))
    assert Turn.objects.get(conversation__title="Older file").thinking == ""
    response = upload(client_for(bob), as_file(envelope(valid_conversation(title="Cut"), version=3)))
    assert "lacks field(s) 'thinking'" in html.unescape(response.content.decode())
    assert not Conversation.objects.filter(title="Cut").exists()


def test_imported_thinking_is_shown_as_text_never_as_markup(alice_client, alice):
    thinking = '**Plan** <script>alert(1)</script> <img src="https://evil.example/x"> [x](javascript:alert(1))'
    conversation = valid_conversation()
    conversation["turns"][0]["thinking"] = thinking
    upload(alice_client, as_file(envelope(conversation, version=3)))
    turn = Turn.objects.get(conversation__owner=alice)
    assert turn.thinking == thinking  # kept as the model wrote it
    page = alice_client.get(turn.conversation.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in page and "<img" not in page
    assert "<strong>Plan</strong> &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_imported_answers_are_rendered_here(alice, bob):
    rich_conversation(alice)
    upload(client_for(bob), export_all(client_for(alice)))
    imported = Turn.objects.get(conversation__owner=bob, response_id="resp_first")
    assert "<table>" in imported.output_html and "stale" not in imported.output_html
    assert 'class="code highlight"' in imported.output_html


def test_hostile_answer_is_sanitised_not_trusted(alice_client, alice):
    answer = '<script>alert(1)</script> <img src="https://evil.example/?q=secret"> [x](javascript:alert(1)) **ok**'
    upload(alice_client, as_file(envelope(valid_conversation(turn={"answer": answer}))))
    turn = Turn.objects.get(conversation__owner=alice)
    assert "<script" not in turn.output_html and "<img" not in turn.output_html
    assert 'href="javascript:' not in turn.output_html and "<strong>ok</strong>" in turn.output_html
    page = alice_client.get(turn.conversation.get_absolute_url())
    assert b"<script>alert(1)</script>" not in page.content


def test_importing_twice_creates_nothing_new(alice, bob):
    rich_conversation(alice)
    rich_conversation(alice, title="Second", at=T0 + timedelta(days=1))
    export = export_all(client_for(alice))
    bob_client = client_for(bob)
    upload(bob_client, export)
    before = counts()
    response = upload(bob_client, export)
    assert response.status_code == 302
    assert counts() == before
    page = bob_client.get("/transfer/")
    assert "Imported 0 conversations (0 turns). 2 conversations were already here, so they were left unchanged." in (
        page.content.decode()
    )
    # One conversation exported on its own is the same conversation: also already here.
    one = Conversation.objects.filter(owner=alice).first()
    upload(bob_client, client_for(alice).get(f"/c/{one.id}/export.json").content)
    assert counts() == before


def test_importing_own_export_restores_only_what_was_deleted(alice, alice_client):
    keep = rich_conversation(alice)
    gone = rich_conversation(alice, title="Deleted later", at=T0 + timedelta(days=1))
    export = export_all(alice_client)
    gone_id = gone.id
    services.conversation_delete(conversation=gone)
    upload(alice_client, export)
    assert sorted(Conversation.objects.filter(owner=alice).values_list("title", flat=True)) == [
        "Deleted later",
        "Quarterly plan",
    ]
    assert Conversation.objects.get(title="Deleted later").origin_id == gone_id
    assert keep.turns.count() == 3


def test_import_sends_nothing_charges_nothing_and_finishes_running_turns(alice_client, alice, fake_api, huey_queue):
    queued = {"status": "queued", "answer": "", "completed_at": None, "input_tokens": None, "output_tokens": None}
    running = {"id": str(uuid.uuid4()), "status": "in_progress", "answer": "Half an ans"}
    conversation = valid_conversation()
    conversation["turns"] += [
        {**conversation["turns"][0], "id": str(uuid.uuid4()), **queued},
        {**conversation["turns"][0], **running},
    ]
    response = upload(alice_client, as_file(envelope(conversation)))
    assert response.status_code == 302
    turns = list(Turn.objects.filter(conversation__owner=alice).order_by("created_at", "status"))
    assert len(turns) == 3
    assert not any(turn.is_active for turn in turns)
    interrupted = [turn for turn in turns if turn.error_code == "interrupted"]
    assert len(interrupted) == 2 and all(turn.status == "failed" for turn in interrupted)
    assert {turn.output_text for turn in interrupted} == {"", "Half an ans"}
    assert fake_api.post_count == 0
    # Nothing is generated: the one task queued renders the imported answers (test_import_render.py).
    assert [task.name for task in huey_queue.pending()] == ["imported_answers_render_task"]
    assert Charge.objects.count() == 0 and DailyUsage.objects.count() == 0
    assert Turn.objects.get(status="completed").cost_usd == Decimal("0.003507")  # kept as history, not charged
    page = alice_client.get("/transfer/").content.decode()
    assert "2 answers still being written when exported came in as interrupted." in page


def test_unknown_model_becomes_the_default_one(alice_client, alice):
    upload(alice_client, as_file(envelope(valid_conversation(model="acme/unknown-model"))))
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.model == "openai/gpt-5-pro"
    assert conversation.turns.get().model == "openai/gpt-5-pro"  # what answered stays recorded


def test_import_page_shows_the_form_and_limits(alice_client):
    response = alice_client.get("/transfer/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page and "up to 100 MB" in page
    assert 'href="/transfer/export.json"' in page


def test_import_without_a_file_says_so(alice_client):
    response = alice_client.post("/transfer/import/", {})
    assert response.status_code == 400
    assert "Choose an export file (.json) to import." in response.content.decode()


def test_a_file_above_the_limit_is_refused_with_the_limit(alice_client, settings):
    settings.IMPORT_MAX_BYTES = 2 * 1024 * 1024
    content = as_file(envelope(valid_conversation(turn={"answer": "x" * (3 * 1024 * 1024)})))
    response = upload(alice_client, content)
    assert response.status_code == 413
    assert "This file is larger than 2 MB" in response.content.decode()
    assert counts() == (0, 0, 0, 0)


def test_a_large_file_is_imported_through_a_temporary_file(alice_client, alice, settings):
    # Beyond FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), and DATA_UPLOAD_MAX_MEMORY_SIZE does not apply to files.
    conversations = [valid_conversation(title=f"big {i}", turn={"answer": "word " * 20_000}) for i in range(100)]
    content = as_file(envelope(*conversations))
    assert len(content) > 3 * settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = upload(alice_client, content)
    assert response.status_code == 302
    assert Conversation.objects.filter(owner=alice).count() == 100


def _turn_with(**changes):
    return as_file(envelope(valid_conversation(turn=changes)))


MALFORMED = {
    "empty file": (b"", "not a valid JSON file: it ends too early, as if cut short"),
    "not JSON": (b"Dear diary,", "not a valid JSON file: it has something that is not an export's text in it"),
    "cut short": (as_file(envelope(valid_conversation()))[:-40], "it ends too early, as if cut short"),
    "trailing data": (as_file(envelope(valid_conversation())) + b" {}", "something more follows the end of the export"),
    "not UTF-8": (b'{"format": "aimlweb-export\xff"}', "part of its text is not UTF-8"),
    "a list": (b"[]", "not an aimlweb export (it is not a JSON object)"),
    "another format": (as_file(envelope(format="chatgpt-export")), "its 'format' is not \"aimlweb-export\""),
    "no format": (b'{"version": 1, "conversations": []}', "its 'format' is not"),
    "newer version": (as_file(envelope(version=5)), "This export is version 5; this app reads version 4 and older"),
    "version as text": (as_file(envelope(version="1")), "'version' must be a whole number"),
    "version after the data": (
        b'{"format": "aimlweb-export", "conversations": [], "version": 1}',
        "'version' must be a whole number",
    ),
    "no conversations": (b'{"format": "aimlweb-export", "version": 1}', "no 'conversations' list"),
    "conversations not a list": (as_file(envelope() | {"conversations": {}}), "'conversations' must be a list"),
    "unknown top-level field": (as_file(envelope(owner="eve")), "unknown field 'owner'"),
    "conversation not an object": (as_file(envelope("hello")), "Conversation 1 is not a JSON object"),
    "unknown conversation field": (
        as_file(envelope(valid_conversation(shared_with="everyone"))),
        "Conversation 1 has unknown field(s) 'shared_with'",
    ),
    "missing turn field": (
        as_file(envelope({**valid_conversation(), "turns": [{"prompt": "hi"}]})),
        "turn 1 lacks field(s) 'id', 'answer'",
    ),
    "HTML smuggled in": (_turn_with(answer_html="<script>x</script>"), "unknown field(s) 'answer_html'"),
    "empty prompt": (_turn_with(prompt="  "), "field 'prompt' is empty"),
    "prompt too long": (_turn_with(prompt="x" * 100_001), "field 'prompt' is longer than 100,000 characters"),
    "title too long": (as_file(envelope(valid_conversation(title="t" * 201))), "'title' is longer than 200"),
    "answer too long": (_turn_with(answer="x" * 2_000_001), "a text of more than 2,000,000 characters"),
    "NUL in a prompt": (_turn_with(prompt="a\u0000b"), "field 'prompt' contains a NUL character"),
    "NUL in an earlier attempt": (
        _turn_with(earlier_attempts=[{"error_message": "x\u0000"}]),
        "earlier attempt 1 field 'error_message' contains a NUL character",
    ),
    "nested earlier attempt": (
        _turn_with(earlier_attempts=[{"raw": {"a": 1}}]),
        "nests lists or objects more than 7 deep; an aimlweb export never does",
    ),
    "a list where text goes": (
        as_file(envelope(valid_conversation(title=[{}] * 1000))),
        "Conversation 1 holds a list or object in 'title', where the format has a plain value",
    ),
    "an object in a turn's field": (
        _turn_with(model={"name": "x"}),
        "Conversation 1 holds a list or object in 'model', where the format has a plain value",
    ),
    "too many earlier attempts": (
        _turn_with(earlier_attempts=[{}] * 101),
        "Conversation 1 has more than 100 earlier attempts of a turn (the most IMPORT_MAX_ATTEMPTS allows)",
    ),
    "a list as the export time": (
        as_file(envelope(exported_at=[[]])),
        "its 'format', 'version' and 'exported_at' are plain values",
    ),
    "unknown status": (_turn_with(status="done"), "field 'status' must be one of"),
    "negative tokens": (_turn_with(input_tokens=-5), "field 'input_tokens' must be a whole number from 0"),
    "fractional tokens": (_turn_with(output_tokens=2.5), "field 'output_tokens' must be a whole number"),
    "tokens as text": (_turn_with(total_tokens="30"), "field 'total_tokens' must be a whole number"),
    "cost not a number": (_turn_with(cost_usd="cheap"), "field 'cost_usd' must be a decimal number"),
    "cost too precise": (_turn_with(cost_usd="0.0000001"), "field 'cost_usd' has more than 6 decimal places"),
    "cost too large": (_turn_with(cost_usd="1000000"), "field 'cost_usd' must be a decimal number from 0"),
    "negative price": (_turn_with(input_price="-1"), "field 'input_price' must be a decimal number from 0"),
    "time without offset": (_turn_with(created_at="2026-11-25T09:00:00"), "must be a date and time with its offset"),
    "time not a time": (_turn_with(updated_at="yesterday"), "field 'updated_at' must be a date and time"),
    # Issue 15 item 6: both were an OverflowError (a 500) on SQLite, which stores times in UTC.
    "time before year 1 in UTC": (
        _turn_with(created_at="0001-01-01T00:00:00+05:00"),
        "turn 1 field 'created_at' must be a date and time from year 1 to 9999 in UTC",
    ),
    "time after year 9999 in UTC": (
        as_file(envelope(valid_conversation(updated_at="9999-12-31T23:59:59-05:00"))),
        "Conversation 1 field 'updated_at' must be a date and time from year 1 to 9999 in UTC",
    ),
    "a completion time before year 1 in UTC": (
        _turn_with(completed_at="0001-01-01T00:30:00+01:00"),
        "field 'completed_at' must be a date and time from year 1 to 9999 in UTC",
    ),
    "bad id": (_turn_with(id="turn-1"), "field 'id' must be an id (a UUID"),
    "following a stranger": (
        _turn_with(parent=str(uuid.uuid4())),
        "turn 1 follows a turn that is not in this conversation",
    ),
    "following itself": (
        _turn_with(id="0b8f6e2a-1f0e-4c3b-9b0e-6a1f2d3c4b5a", parent="0b8f6e2a-1f0e-4c3b-9b0e-6a1f2d3c4b5a"),
        "turn 1 follows a turn that is not in this conversation",
    ),
    "a loop of turns": (
        as_file(
            envelope(
                {
                    **valid_conversation(),
                    "turns": [
                        valid_conversation(
                            turn={
                                "id": "00000000-0000-4000-8000-000000000001",
                                "parent": "00000000-0000-4000-8000-000000000002",
                            }
                        )["turns"][0],
                        valid_conversation(
                            turn={
                                "id": "00000000-0000-4000-8000-000000000002",
                                "parent": "00000000-0000-4000-8000-000000000001",
                            }
                        )["turns"][0],
                    ],
                }
            )
        ),
        "turn 1 is in a loop of turns that follow each other",
    ),  # fmt: skip
    "a current turn of another conversation": (
        as_file(envelope(valid_conversation(current_turn=str(uuid.uuid4())))),
        "field 'current_turn' is not one of its turns",
    ),
    "version 1 with a parent": (
        as_file(envelope(valid_conversation(), version=1)),
        "has unknown field(s) 'current_turn'",
    ),
    "version 1 superseded by a stranger": (
        as_file(envelope(version_1(valid_conversation(turn={"parent": str(uuid.uuid4())})), version=1)),
        "superseded by a turn that is not in this conversation",
    ),
    "same conversation twice": (
        as_file(envelope(*[valid_conversation(id="0b8f6e2a-1f0e-4c3b-9b0e-6a1f2d3c4b5a")] * 2)),
        "Conversation 2 appears twice in the file",
    ),
    "same turn twice": (
        as_file(envelope({**valid_conversation(), "turns": [valid_conversation()["turns"][0]] * 2})),
        "has two turns with the same id",
    ),
    "too many turns": (
        as_file(envelope({**valid_conversation(), "turns": [0] * 10_001})),
        "Conversation 1 has more than 10,000 turns (the most IMPORT_MAX_TURNS allows)",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_is_refused_with_the_reason_and_changes_nothing(alice_client, alice, case):
    rich_conversation(alice)  # something that must stay exactly as it is
    before = counts()
    content, reason = MALFORMED[case]
    response = upload(alice_client, content)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported:" in page
    assert reason in html.unescape(page)
    # In plain words: none of the parser's own jargon.
    for jargon in ("lexical error", "parse error", "json text", "premature EOF", "trailing garbage", "right here"):
        assert jargon not in page
    assert counts() == before


def test_a_broken_conversation_after_good_ones_imports_none_of_them(alice_client):
    good = [valid_conversation(title=f"good {i}") for i in range(3)]
    bad = valid_conversation(turn={"status": "finished"})
    response = upload(alice_client, as_file(envelope(*good, bad)))
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "Conversation 4 (“Arithmetic”), turn 1 field 'status' must be one of" in page
    assert counts() == (0, 0, 0, 0)


def test_lone_surrogates_never_reach_the_database(alice_client, alice):
    # The pinned ijson parses with yajl, which turns an escaped lone surrogate into "?"; another
    # backend would pass it through, and check_text refuses it then.
    with pytest.raises(ImportRefused, match="contains an invalid character"):
        import_checks.check_text("a\ud800b", "Conversation 1 field 'title'")
    response = upload(alice_client, as_file(envelope(valid_conversation(title="a\ud800b \U0001f600"))))
    assert response.status_code == 302
    assert Conversation.objects.get(owner=alice).title == "a?b \U0001f600"


def test_the_reader_streams_conversation_by_conversation():
    # A broken conversation is reported only once the ones before it were handed over.
    file = io.BytesIO(as_file(envelope(valid_conversation(title="first"), {"turns": "broken"})))
    conversations = import_reader.read(file)
    assert next(conversations)["title"] == "first"
    with pytest.raises(ImportRefused, match="Conversation 2"):
        next(conversations)


def test_import_keeps_the_file_times_and_organisation(alice_client, alice):
    data = valid_conversation(pinned_at="2026-11-25T09:05:00+01:00", archived_at="2026-11-25T10:00:00Z")
    upload(alice_client, as_file(envelope(data)))
    conversation = Conversation.objects.get(owner=alice)
    assert conversation.created_at == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert conversation.pinned_at == datetime(2026, 11, 25, 8, 5, tzinfo=UTC)
    assert conversation.archived_at is not None
    turn = conversation.turns.get()
    assert turn.completed_at == datetime(2026, 11, 25, 9, 1, tzinfo=UTC)
    assert turn.client_token is None and turn.lease_expires_at is None
    assert conversation.updated_at < timezone.now() - timedelta(hours=1)


# --- Versions (format version 2: each turn's parent; version 1 files still import) ----------------


def test_every_version_round_trips_with_its_parent_and_the_version_on_screen(alice, bob):
    conversation = rich_conversation(alice)
    first = conversation.turns.get(prompt__startswith="Draft the plan.\n")
    after_first = factories.turn(
        conversation=conversation, prompt="Follow-up of v1", parent=first, status="completed", output_text="ok"
    )
    services.turn_show(turn=first)  # the first version is on screen
    upload(client_for(bob), export_all(client_for(alice)))
    copy = Conversation.objects.get(owner=bob)
    tree = {turn.prompt: (turn.parent.prompt if turn.parent else None) for turn in copy.turns.all()}
    assert tree == {
        "Draft the plan.\nKeep it short.": None,
        "Draft the plan, in five steps.": None,
        "Never mind.": "Draft the plan, in five steps.",
        "Follow-up of v1": "Draft the plan.\nKeep it short.",
    }
    assert copy.current_turn.prompt == after_first.prompt
    page = client_for(bob).get(copy.get_absolute_url()).content.decode()
    assert "Follow-up of v1" in page and "Never mind." not in page and 'aria-label="Version 1 of 2"' in page


def test_a_version_1_file_imports_its_superseded_turns_as_versions(alice_client, alice):
    # Version 1: an edit of the first turn was added at the end, superseding it and the turn after it.
    ids = [str(uuid.uuid4()) for _ in range(4)]
    a, b, a2, c = (
        valid_conversation(turn={"id": ids[i], "prompt": prompt, "created_at": f"2026-11-25T09:0{i}:00Z",
                                 "superseded_by": by})["turns"][0]
        for i, (prompt, by) in enumerate([("Ant", ids[2]), ("Bee", ids[2]), ("Ant, edited", None), ("Cat", None)])
    )  # fmt: skip
    old = {name: value for name, value in valid_conversation().items() if name != "current_turn"}
    for turn in (a, b, a2, c):
        del turn["parent"]
    response = upload(alice_client, as_file(envelope({**old, "turns": [a, b, a2, c]}, version=1)))
    assert response.status_code == 302
    tree = {turn.prompt: (turn.parent.prompt if turn.parent else None) for turn in Turn.objects.all()}
    assert tree == {"Ant": None, "Bee": "Ant", "Ant, edited": None, "Cat": "Ant, edited"}
    page = alice_client.get(Conversation.objects.get().get_absolute_url()).content.decode()
    assert "Ant, edited" in page and "Cat" in page and 'aria-label="Version 2 of 2"' in page
    assert not re.search(r"\bBee\b", page)  # a word, not inside the page's random CSRF token


def test_imported_costs_are_history_not_spend_anywhere(alice, alice_client, bob):
    """Issue 15 item 8: one import showed $1,000,000.17 in the admin turn list's sums."""
    boss = client_for(bob.__class__.objects.create_superuser("boss", password="pw-boss-12345"))
    mine = factories.conversation(owner=alice, title="Here")
    spent = Decimal("0.250000")
    factories.turn(conversation=mine, prompt="Answered here", status="completed", cost_usd=spent, total_tokens=5)
    data = valid_conversation(turn={"cost_usd": "999999.170000", "provider_cost_usd": "999999.17", "total_tokens": 7})
    assert upload(alice_client, as_file(envelope(data))).status_code == 302
    imported = Turn.objects.get(conversation__origin_id=data["id"])
    assert imported.imported and not Turn.objects.get(conversation=mine).imported
    assert imported.cost_usd == Decimal("999999.17")  # kept as history: exported again as it came

    sums = boss.get("/admin/conversations/turn/").context["usage_sums"]
    assert sums.charges == 2  # both listed
    assert sums.cost_usd == spent and sums.provider_cost_usd < 1
    listed = {c.pk: c._cost for c in boss.get("/admin/conversations/conversation/").context["cl"].result_list}
    assert listed[imported.conversation_id] in (None, 0) and listed[mine.pk] == spent
    assert (selectors.conversation_usage(conversation=imported.conversation)["cost_usd"] or 0) == 0
