"""An answer's email is written in the transaction that stores the answer (notices.answer_email_prepare, drawn
before it; answer_email_write, in it) and handed to the sender threads as it commits: it does not wait behind
the work after the answer (the next queued prompt started and run, a title) nor a write of its own. Through a
real SMTP server on loopback (tests/mailbox.py), the worker's code in Huey's immediate mode.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection

from accounts.models import EmailNotice
from conversations.chat import services
from conversations.models import AIModel, Conversation, Turn
from conversations.usage import catalog
from tests import factories


@pytest.fixture(autouse=True)
def before_retirement(clock):
    clock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))  # gpt-5-pro (the default) answers until 2026-12-11


@pytest.fixture
def ann(transactional_db):
    return factories.user("ann", email="ann@example.com")


def test_an_answers_email_goes_before_the_queued_prompt_its_end_starts(run_now, fake_api, mailbox, ann, settings):
    """The end of the first answer starts Ann's queued prompt (her running limit is 1), which in immediate mode
    runs to its end inside the first answer's hooks: the first email still goes first."""
    settings.MAX_ACTIVE_TURNS_PER_USER = 1

    def reply(body):
        if body["input"][-1]["content"] == "First":
            try:  # while the first answer runs, a prompt in another conversation is queued behind it
                assert services.conversation_create(owner=ann, prompt="Second").status == Turn.Status.WAITING
            finally:
                connection.close()
        return f"Answer to {body['input'][-1]['content']}"

    fake_api.reply = reply
    first = run_now(services.conversation_create, owner=ann, prompt="First")
    assert first.status == Turn.Status.COMPLETED
    second = Turn.objects.get(prompt="Second")
    assert second.status == Turn.Status.COMPLETED and second.started_at >= first.completed_at
    assert [m["Subject"] for m in mailbox.wait_for(2)] == ["First", "Second"]
    assert EmailNotice.objects.filter(kind="answer_done").count() == 2  # the hook after it wrote none again


def test_with_a_title_model_the_first_answers_email_waits_for_its_title(run_now, fake_api, mailbox, ann, settings):
    """A first answer's title is asked after it is stored: its email keeps the model's title as its subject."""
    title_model = "openai/gpt-5.6-sol-pro"
    catalog.seed(AIModel)
    AIModel.objects.filter(provider_id=title_model).update(enabled=True)
    settings.TITLE_MODEL = title_model
    fake_api.reply = lambda body: "“Merging sorted lists.”" if body["model"] == title_model else "Use heapq.merge."
    turn = run_now(services.conversation_create, owner=ann, prompt="How do I merge two sorted lists?")
    assert Conversation.objects.get(pk=turn.conversation_id).title == "Merging sorted lists"
    assert [m["Subject"] for m in mailbox.wait_for(1)] == ["Merging sorted lists"]
    # A follow-up gets no title: its email is written with its answer.
    run_now(services.turn_create, conversation=turn.conversation, prompt="And three lists?")
    assert [m["Subject"] for m in mailbox.wait_for(2)][1] == "Merging sorted lists"
