"""Queued, not refused: prompts past the running limit wait, follow-ups wait for their answer.

What a user does with a queued prompt (see it, edit it, cancel it, send it), and what starts it:
the scheduler itself is tested in tests/generation/test_scheduler.py.
"""

import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from conversations.chat import services
from conversations.chat import waiting as waiting_writes
from conversations.generation import scheduler, worker
from conversations.models import Attachment, Conversation, Turn, WaitingTurn
from tests import attachment_files as files
from tests import factories
from tests.helpers import deferred_tasks


@pytest.fixture
def limits(settings):
    settings.MAX_ACTIVE_TURNS_PER_USER = 3
    settings.MAX_PROMPTS_PER_HOUR = 20
    return settings


def _fill(owner, n=3):
    """`n` answers running (queued: the test database never commits, so nothing runs)."""
    return [services.conversation_create(owner=owner, prompt=f"running {i}") for i in range(n)]


def _status(turn):
    return Turn.objects.values_list("status", flat=True).get(pk=turn.pk)


# --- Past the running limit -----------------------------------------------------------------


def test_past_the_limit_a_prompt_is_queued_with_its_place(alice_client, alice, limits):
    _fill(alice)
    first = services.conversation_create(owner=alice, prompt="fourth")
    second = services.conversation_create(owner=alice, prompt="fifth")
    assert (first.status, second.status) == ("waiting", "waiting")
    assert WaitingTurn.objects.filter(owner=alice).count() == 2
    page = alice_client.get(second.conversation.get_absolute_url()).content.decode()
    assert "badge-waiting" in page and ">Queued<" in page
    assert "Starts when one of your 3 running answers ends (2nd in your queue)" in page
    assert reverse("turn_cancel", args=[second.id]) in page  # Cancel
    assert reverse("turn_edit", args=[second.id]) in page  # Edit prompt
    assert reverse("turn_live", args=[second.id]) in page  # followed live, to move to running
    # The live fragment says the same.
    fragment = alice_client.get(reverse("turn_live", args=[first.id])).content.decode()
    assert "Starts when one of your 3 running answers ends." in fragment


def test_the_hourly_limit_still_refuses_with_the_time_it_frees(alice_client, alice, limits):
    limits.MAX_PROMPTS_PER_HOUR = 4
    _fill(alice)
    services.conversation_create(owner=alice, prompt="queued one")
    response = alice_client.post("/", {"prompt": "one too many", "client_token": str(uuid.uuid4())})
    assert response.status_code == 429
    page = response.content.decode()
    assert "4 prompts in the last hour" in page and "You can send again at" in page
    assert "one too many" in page  # still in the box
    assert not Turn.objects.filter(prompt="one too many").exists()


def test_a_queued_prompt_is_checked_against_the_budget_at_once(alice_client, alice, limits, settings):
    settings.BUDGET_MONTHLY_USD = Decimal("0.01")
    response = alice_client.post("/", {"prompt": "too dear", "client_token": str(uuid.uuid4())})
    assert response.status_code == 402 and "Not sent" in response.content.decode()
    assert not Turn.objects.filter(prompt="too dear").exists()


def test_a_queued_prompt_is_edited_in_place_until_it_starts(alice_client, alice, limits):
    _fill(alice)
    waiting = services.conversation_create(owner=alice, prompt="draft question")
    editor = alice_client.get(reverse("turn_edit", args=[waiting.id]), HTTP_HX_REQUEST="true").content.decode()
    assert f'action="{reverse("turn_edit", args=[waiting.id])}"' in editor and "Save queued prompt" in editor
    response = alice_client.post(reverse("turn_edit", args=[waiting.id]), {"prompt": "better question"})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.prompt, waiting.status, waiting.conversation.turns.count()) == ("better question", "waiting", 1)
    # Once it started, an edit changes nothing (an edit of a sent prompt is another version: Regenerate).
    Turn.objects.filter(pk=waiting.pk).update(status="queued")
    assert not waiting_writes.turn_waiting_edit(turn=waiting, prompt="too late")
    assert Turn.objects.get(pk=waiting.pk).prompt == "better question"


def test_a_queued_prompt_s_files_are_kept_changed_or_refused_in_its_editor(alice_client, alice, limits):
    _fill(alice)
    alice_client.post("/", {"prompt": "look", "files": [files.upload("a.png", files.png(64, 64))]})
    waiting = Turn.objects.get(prompt="look", status="waiting")
    [image] = waiting.attachments.all()
    held = waiting.estimate_usd
    editor = alice_client.get(reverse("turn_edit", args=[waiting.id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="attachments_edited"' in editor and f'name="attachment" value="{image.id}"' in editor
    # Untick the image, add a twelve-page PDF: the queued prompt has the PDF alone, held at its new cost.
    edit = {"prompt": "read this instead", "attachments_edited": "1"}
    response = alice_client.post(
        reverse("turn_edit", args=[waiting.id]), {**edit, "files": [files.upload("b.pdf", files.pdf(12))]}
    )
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert [row.name for row in waiting.attachments.all()] == ["b.pdf"] and waiting.prompt == "read this instead"
    assert waiting.estimate_usd > held and not Attachment.objects.filter(pk=image.pk).exists()
    # A refused file changes nothing, and says which and why in the editor, the edit still typed.
    [pdf] = waiting.attachments.all()
    response = alice_client.post(
        reverse("turn_edit", args=[waiting.id]),
        {**edit, "prompt": "again", "attachment": [str(pdf.id)], "files": [files.upload("cute.png", files.HTML)]},
    )
    page = response.content.decode()
    assert response.status_code == 400 and "cute.png" in page and "again" in page
    waiting.refresh_from_db()
    assert waiting.prompt == "read this instead" and [row.name for row in waiting.attachments.all()] == ["b.pdf"]
    # Without the editor's list (an older page), the files stay as they are.
    alice_client.post(reverse("turn_edit", args=[waiting.id]), {"prompt": "text only"})
    assert [row.name for row in Turn.objects.get(pk=waiting.pk).attachments.all()] == ["b.pdf"]


def test_a_queued_prompt_is_cancelled_and_can_be_sent_later(alice_client, alice, limits):
    running = _fill(alice)
    waiting = services.conversation_create(owner=alice, prompt="never mind")
    alice_client.post(reverse("turn_cancel", args=[waiting.id]))
    waiting.refresh_from_db()
    assert waiting.status == "cancelled" and waiting.can_retry and "before it was sent" in waiting.error_message
    assert not WaitingTurn.objects.exists()
    # Cancelling it frees no slot and starts nothing: the three still run, nothing else.
    assert Turn.objects.filter(status__in=Turn.ACTIVE).count() == 3
    # Retry queues it again while the slots are full.
    assert services.turn_retry(turn=waiting).status == "waiting"
    # Stopping a running answer starts the oldest queued prompt in the freed slot.
    services.turn_cancel(turn=running[0])
    assert _status(waiting) == "queued"


def test_stopping_an_answer_starts_a_queued_prompt_once_committed(alice, limits, transactional_db, settings):
    with deferred_tasks() as huey:
        running = _fill(alice)
        waiting = services.conversation_create(owner=alice, prompt="next")
        huey.flush()
        services.turn_cancel(turn=running[1])
        assert _status(waiting) == "queued"
        assert huey.pending_count() == 1  # its task, enqueued after the commit


# --- Follow-ups --------------------------------------------------------------------------------


def test_a_follow_up_waits_under_the_running_answer(alice_client, alice, limits):
    answer = services.conversation_create(owner=alice, prompt="long question")
    conversation = answer.conversation
    response = alice_client.post(
        conversation.get_absolute_url(),
        {"prompt": "and then?", "client_token": str(uuid.uuid4()), "parent": str(answer.id)},
    )
    assert response.status_code == 302
    follow_up = Turn.objects.get(prompt="and then?")
    assert follow_up.status == "waiting" and follow_up.parent_id == answer.id
    assert WaitingTurn.objects.get(turn=follow_up).follows_id == answer.id
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert page.index(f'id="turn-{answer.id}"') < page.index(f'id="turn-{follow_up.id}"')  # under the answer
    assert "Sent right after the answer above, which it follows." in page
    assert 'id="send-button" disabled' not in page  # the composer stays usable


def test_sending_again_while_a_follow_up_waits_replaces_its_text(alice_client, alice, limits):
    answer = services.conversation_create(owner=alice, prompt="long question")
    conversation = answer.conversation
    first = services.turn_create(conversation=conversation, prompt="first thought", parent=answer)
    token = uuid.uuid4()
    again = services.turn_create(conversation=conversation, prompt="second thought", parent=first, client_token=token)
    assert again.pk == first.pk
    first.refresh_from_db()
    assert (first.prompt, first.status, first.parent_id) == ("second thought", "waiting", answer.pk)
    assert conversation.turns.count() == 2 and WaitingTurn.objects.count() == 1
    # The same form posted twice lands on it again.
    assert services.turn_create(conversation=conversation, prompt="x", parent=first, client_token=token).pk == first.pk
    # Another version (regenerate) while one waits is refused, saying why.
    Turn.objects.filter(pk=answer.pk).update(status="completed")
    with pytest.raises(services.TurnWaiting):
        services.turn_regenerate(turn=answer)


def test_one_prompt_waits_per_conversation(alice, limits):
    conversation = factories.conversation(alice)
    factories.turn(conversation, "one", status="waiting")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.turn(conversation, "two", status="waiting")


def test_a_follow_up_is_sent_with_the_answer_it_follows(alice, fake_api, transactional_db, limits):
    with deferred_tasks():
        answer = services.conversation_create(owner=alice, prompt="What is a quokka?")
        follow_up = services.turn_create(conversation=answer.conversation, prompt="Where do they live?")
    assert follow_up.status == "waiting"
    worker.turn_run(turn_id=answer.id)  # the answer ends; its follow-up starts (here and now: immediate mode)
    answer.refresh_from_db()
    follow_up.refresh_from_db()
    assert answer.status == "completed" and follow_up.status == "completed"
    sent = fake_api.post_requests[-1]["json"]["input"]
    assert [item["role"] for item in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == answer.output_text  # the model saw the answer it follows
    assert sent[-1]["content"] == "Where do they live?"
    assert fake_api.post_count == 2


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_follow_up_of_a_failed_or_stopped_answer_waits_for_the_user(alice_client, alice, limits, outcome):
    answer = services.conversation_create(owner=alice, prompt="long question")
    follow_up = services.turn_create(conversation=answer.conversation, prompt="and then?")
    if outcome == "cancelled":
        services.turn_cancel(turn=answer)
    else:
        Turn.objects.filter(pk=answer.pk).update(status="failed", error_message="The model failed.")
        scheduler.turns_start_all(run=lambda turn_id: None)
    assert _status(follow_up) == "waiting"  # kept, not sent without the answer it follows
    page = alice_client.get(answer.conversation.get_absolute_url()).content.decode()
    assert "Not sent: the answer above it" in page and "Send now" in page
    # Send now: it goes as it is.
    alice_client.post(reverse("turn_send", args=[follow_up.id]))
    assert _status(follow_up) == "queued"


def test_retrying_the_failed_answer_sends_its_follow_up_after_it(alice, fake_api, transactional_db, limits):
    with deferred_tasks():
        answer = services.conversation_create(owner=alice, prompt="Question")
        follow_up = services.turn_create(conversation=answer.conversation, prompt="Follow-up")
    fake_api.faults = [("status", 400)]
    worker.turn_run(turn_id=answer.id)
    assert _status(answer) == "failed" and _status(follow_up) == "waiting"
    fake_api.faults = []
    services.turn_retry(turn=Turn.objects.get(pk=answer.pk))  # runs at once (immediate mode), then the follow-up
    assert (_status(answer), _status(follow_up)) == ("completed", "completed")
    sent = fake_api.post_requests[-1]["json"]["input"]
    assert sent[-1]["content"] == "Follow-up" and sent[-2]["role"] == "assistant"


# --- Budgets at start -------------------------------------------------------------------------


def test_a_queued_prompt_that_no_longer_fits_the_budget_fails_visibly(alice, limits, settings):
    settings.BUDGET_MONTHLY_USD = Decimal("100")
    settings.MAX_ACTIVE_TURNS_PER_USER = 1
    running = services.conversation_create(owner=alice, prompt="running")
    waiting = services.conversation_create(owner=alice, prompt="queued while it fitted")
    assert waiting.status == "waiting"
    # Meanwhile the month's spend reached the budget.
    factories.charge(alice, when=timezone.now(), cost=Decimal("100"))
    services.turn_cancel(turn=running)  # the slot frees: the start holds it against the budget again
    waiting.refresh_from_db()
    assert waiting.status == "failed" and waiting.error_code == "budget_exceeded"
    assert "Not sent" in waiting.error_message and waiting.can_retry and waiting.prompt == "queued while it fitted"


def test_deleting_a_conversation_drops_its_queued_prompt_without_starting_it(alice, limits):
    _fill(alice, 2)
    answer = services.conversation_create(owner=alice, prompt="third")
    waiting_here = services.turn_create(conversation=answer.conversation, prompt="follow-up here")
    elsewhere = services.conversation_create(owner=alice, prompt="elsewhere")
    assert (waiting_here.status, elsewhere.status) == ("waiting", "waiting")
    services.conversation_delete(conversation=answer.conversation)
    assert not Conversation.objects.filter(pk=answer.conversation_id).exists()
    assert _status(elsewhere) == "queued"  # the freed slot went to the other conversation's prompt
