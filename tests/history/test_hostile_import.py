"""Hostile import files (issue 15 item 1): refused at once and in bounded memory, or imported whole."""

import io
import json
import time
import tracemalloc
import uuid

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations.history import services
from conversations.history.errors import ImportRefused
from conversations.models import Conversation, Turn
from tests.history.test_transfer import as_file, counts, envelope, upload, valid_conversation

pytestmark = pytest.mark.django_db

HEAD = b'{"format": "aimlweb-export", "version": 2, "conversations": ['


def _import(owner, content: bytes):
    """The import service on `content`: its plan, or the refusal's message."""
    try:
        return services.conversations_import(owner=owner, file=io.BytesIO(content))
    except ImportRefused as refused:
        return refused.message


def _peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_million_open_brackets_are_refused_at_once(alice_client, alice):
    """1 MB of `[` blocked a web process for ~60 s (the parser's cost grew with the square of the depth)."""
    content = HEAD + b"[" * 1_000_000
    before = counts()
    started = time.monotonic()
    response = upload(alice_client, content)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert "Nothing was imported: Conversation 1 is not a JSON object." in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize("where", ["exported_at", "title", "turns"])
def test_deep_nesting_anywhere_is_refused_as_it_is_read(alice, where):
    deep = "[" * 200_000
    content = {
        "exported_at": b'{"format": "aimlweb-export", "version": 2, "exported_at": ' + deep.encode(),
        "title": HEAD + b'{"title": ' + deep.encode(),
        "turns": HEAD + b'{"turns": [{"earlier_attempts": [{"x": ' + deep.encode(),
    }[where]
    started = time.monotonic()
    message = _import(alice, content)
    assert time.monotonic() - started < 1.0
    assert any(reason in message for reason in ("more than 7 deep", "list or object", "are plain values")), message


def test_many_small_objects_do_not_take_many_times_the_file_in_memory(alice):
    """4 MB of `[[{},{},…]]` raised memory by 95 MB (about 24 times the file)."""
    content = HEAD + b"[[" + b",".join([b"{}"] * (4 * 1024 * 1024 // 3)) + b"]]]}"
    peak = _peak_bytes(lambda: _import(alice, content))
    assert peak < len(content), f"{peak / 1e6:.1f} MB for a {len(content) / 1e6:.1f} MB file"


def test_earlier_attempts_are_capped_and_a_conversation_too(alice, settings):
    """The same small objects where the format allows objects: bounded by the caps, whatever the file."""
    settings.IMPORT_MAX_CONVERSATION_MB = 4
    turn = valid_conversation()["turns"][0]
    turns = [{**turn, "id": str(uuid.uuid4()), "earlier_attempts": [{}] * 100} for _ in range(6_000)]
    content = as_file(envelope({**valid_conversation(), "turns": turns}))
    before = counts()
    holder = {}
    peak = _peak_bytes(lambda: holder.update(message=_import(alice, content)))
    assert "is larger than 4 MB, the most one conversation may be (IMPORT_MAX_CONVERSATION_MB)" in holder["message"]
    assert peak < 4 * 4 * 1024 * 1024, f"{peak / 1e6:.1f} MB"
    assert counts() == before


# --- any file: imported whole, or refused with a message and nothing written -----------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@st.composite
def hostile_files(draw) -> bytes:
    """Valid exports, then broken: a field replaced or removed, bytes cut or added, nesting, noise."""
    conversations = [valid_conversation(title=f"c{i}") for i in range(draw(st.integers(0, 3)))]
    data = envelope(*conversations)
    kind = draw(st.sampled_from(["valid", "field", "missing", "cut", "noise", "nesting", "value", "envelope"]))
    if kind in ("field", "missing") and conversations:
        target = draw(st.sampled_from([conversations[0], conversations[0]["turns"][0]]))
        name = draw(st.sampled_from(sorted(target)))
        if kind == "field":
            target[name] = draw(JSON_VALUES)
        else:
            del target[name]
    elif kind == "envelope":
        data[draw(st.sampled_from(["format", "version", "exported_at", "conversations"]))] = draw(JSON_VALUES)
    elif kind == "value":
        return json.dumps(draw(JSON_VALUES)).encode()
    content = json.dumps(data).encode()
    if kind == "cut":
        content = content[: draw(st.integers(0, len(content)))]
    elif kind == "noise":
        at = draw(st.integers(0, len(content)))
        content = content[:at] + draw(st.binary(min_size=1, max_size=20)) + content[at:]
    elif kind == "nesting":
        at = draw(st.integers(0, len(content)))
        content = content[:at] + b"[" * draw(st.integers(1, 5000)) + content[at:]
    return content


@hypothesis_settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=hostile_files())
@example(content=HEAD + b"[" * 100_000)
@example(content=HEAD + b"[[" + b"{}," * 10_000 + b"{}]]]}")
# Found by this test: nesting inside a key's name, quoted whole in the message (500 characters of "[").
@example(content=HEAD + b'{"title": "c0", "' + b"[" * 400 + b'turns": [{}]}]}')
def test_any_file_is_imported_whole_or_refused_with_a_message(alice, content):
    before = counts()
    outcome = _import(alice, content)
    if isinstance(outcome, str):
        assert outcome.strip() and len(outcome) < 500
        assert counts() == before  # nothing half-written
    else:
        conversations, turns = before[0] + outcome.conversations - outcome.skipped, before[1] + outcome.turns
        assert counts()[:2] == (conversations, turns)
        assert Conversation.objects.filter(owner=alice).count() == conversations
        assert not Turn.objects.filter(conversation__owner=alice, imported=False).exists()
