"""The model's thinking on the page (issue 17): under a running turn, open, updated with the turn's live
fragment; kept with the answer once it ends, collapsed; always text, never markup."""

import pytest
from django.urls import reverse

from conversations.generation.attempts import Attempt
from conversations.models import Turn
from tests import factories

pytestmark = pytest.mark.django_db

SUMMARY = "**Reading the question**\n\nIt asks for a plan <img src=x onerror=alert(1)> & a date.\nTwo lines."


def _running(alice) -> Turn:
    conversation = factories.conversation(owner=alice, title="Plan")
    return factories.turn(conversation, prompt="Plan it", status="in_progress", attempts=1)


def test_a_running_turn_shows_its_thinking_so_far_open_as_it_grows(alice_client, alice):
    turn = _running(alice)
    url = reverse("turn_live", args=[turn.id])
    before = alice_client.get(url).content.decode()
    assert 'class="thinking"' not in before and "may reason for a while" in before  # nothing yet: the hint
    attempt = Attempt(turn)
    attempt.note_thinking(SUMMARY)
    attempt.save_progress("", "resp_1")
    fragment = alice_client.get(url).content.decode()
    assert '<span class="status-label">Thinking…</span>' in fragment  # still thinking: no text yet
    assert '<details class="thinking" open>' in fragment and "Thinking summary so far" in fragment
    assert "<p><strong>Reading the question</strong></p>" in fragment
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; a date.<br>Two lines." in fragment
    assert "<img" not in fragment and "may reason for a while" not in fragment
    # The answer starts: "Writing…", the summary stays above it.
    Attempt(turn).save_progress("Here is the **plan**", "resp_1")
    fragment = alice_client.get(url).content.decode()
    assert '<span class="status-label">Writing…</span>' in fragment
    assert fragment.index('class="thinking"') < fragment.index("message-body markdown partial")


def test_an_ended_turn_keeps_its_thinking_collapsed_and_a_turn_without_shows_none(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="Plan")
    factories.turn(
        conversation, prompt="With", status="completed", output_text="Done.", thinking=SUMMARY, reasoning_tokens=2900,
        input_tokens=10, output_tokens=3000, total_tokens=3010,
    )  # fmt: skip
    factories.turn(conversation, prompt="Without", status="completed", output_text="Also done.")
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert page.count('<details class="thinking">') == 1  # collapsed (no `open`), once
    assert "Thinking summary" in page and "· 2,900 reasoning tokens" in page
    assert "<p><strong>Reading the question</strong></p>" in page and "<img" not in page
    assert page.index('class="thinking"') < page.index("Done.")  # above its answer


def test_the_conversation_page_loads_the_thinking_module(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="Plan")
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'src="/static/js/thinking.js"' in page
