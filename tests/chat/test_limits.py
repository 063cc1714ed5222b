"""Per-user limits, held in the database: answers running at once, prompts per hour; bounded instructions."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from conversations.chat import services
from conversations.models import Conversation, Turn
from tests.helpers import form_token


@pytest.fixture
def limits(settings):
    settings.MAX_ACTIVE_TURNS_PER_USER = 3
    settings.MAX_PROMPTS_PER_HOUR = 5
    return settings


def test_the_defaults(settings):
    from aimlweb import settings as real

    assert real.env_number("NOT_SET_ANYWHERE", 3) == 3
    import os

    assert os.environ["MAX_ACTIVE_TURNS_PER_USER"] == "1000"  # tests/settings.py; the app's default:
    source = open(real.__file__).read()
    assert 'env_number("MAX_ACTIVE_TURNS_PER_USER", 3' in source


def test_a_fourth_running_answer_waits_instead_of_being_refused(alice_client, alice, limits):
    limits.MAX_PROMPTS_PER_HOUR = 0
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"slow {i}")  # queued (the test db never commits)
    response = alice_client.post("/", {"prompt": "my fourth idea", "client_token": str(uuid.uuid4())})
    assert response.status_code == 302
    fourth = Turn.objects.get(prompt="my fourth idea")
    assert fourth.status == "waiting"
    page = alice_client.get(response.url).content.decode()
    assert "Starts when one of your 3 running answers ends" in page
    # In an existing conversation too.
    conversation = Conversation.objects.filter(turns__prompt="slow 0").get()
    Turn.objects.filter(conversation=conversation).update(status="completed")
    services.conversation_create(owner=alice, prompt="slow again")
    response = alice_client.post(
        conversation.get_absolute_url(), {"prompt": "follow-up", "client_token": str(uuid.uuid4())}
    )
    assert response.status_code == 302
    assert Turn.objects.get(prompt="follow-up").status == "waiting"
    assert Turn.objects.filter(conversation__owner=alice, status__in=Turn.ACTIVE).count() == 3


def test_one_users_prompts_do_not_take_another_users_slots(alice, bob, limits):
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"a{i}")
    assert services.conversation_create(owner=alice, prompt="a3").status == "waiting"
    for i in range(3):
        assert services.conversation_create(owner=bob, prompt=f"b{i}").status == "queued"
    assert Turn.objects.filter(conversation__owner=bob, status="queued").count() == 3


def test_a_finished_answer_frees_a_slot(alice, limits):
    turns = [services.conversation_create(owner=alice, prompt=f"a{i}") for i in range(3)]
    Turn.objects.filter(id=turns[0].id).update(status="completed")
    assert services.conversation_create(owner=alice, prompt="now fine").status == "queued"


def test_retry_counts_as_a_running_answer(alice, limits):
    first = services.conversation_create(owner=alice, prompt="failed one")
    Turn.objects.filter(id=first.id).update(status="failed")
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"a{i}")
    retried = services.turn_retry(turn=Turn.objects.get(id=first.id))
    assert retried.status == "waiting"  # past the running limit it waits too
    assert Turn.objects.filter(conversation__owner=alice, status__in=Turn.ACTIVE).count() == 3


def test_prompts_per_hour(alice_client, alice, limits):
    # Waiting prompts count too: only the running limit queues, the hourly one refuses.
    for i in range(5):
        services.conversation_create(owner=alice, prompt=f"p{i}")
    response = alice_client.post("/", {"prompt": "one too many", "client_token": str(uuid.uuid4())})
    assert response.status_code == 429
    assert "5 prompts in the last hour" in response.content.decode()
    assert "one too many" in response.content.decode()
    # An hour later (moving the clock back instead of waiting), the oldest no longer counts.
    oldest = Turn.objects.order_by("created_at").first()
    Turn.objects.filter(id=oldest.id).update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    services.conversation_create(owner=alice, prompt="fine again")


def test_the_limit_holds_across_processes(transactional_db, limits, settings, huey_queue):
    """Several web processes (threads with their own connections here) send at once: never over the limit."""
    from django.db import connection

    user = User.objects.create_user("racer", password="x-pass-1234")
    limits.MAX_ACTIVE_TURNS_PER_USER = 2
    limits.MAX_PROMPTS_PER_HOUR = 0
    barrier = threading.Barrier(6)
    outcomes = []

    def send(i):
        try:
            barrier.wait(timeout=10)
            turn = services.conversation_create(owner=user, prompt=f"p{i}", client_token=uuid.uuid4())
            outcomes.append("ok" if turn.status == "queued" else turn.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]  # queue only (huey_queue): nothing runs
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 2 and outcomes.count("waiting") == 4, outcomes
    assert Turn.objects.filter(conversation__owner=user, status__in=Turn.ACTIVE).count() == 2


def test_instructions_have_a_length_limit(alice_client, alice, settings):
    settings.MAX_INSTRUCTIONS_CHARS = 50
    turn = services.conversation_create(owner=alice, prompt="hi")
    Turn.objects.update(status="completed")
    conversation = turn.conversation
    response = alice_client.post(
        f"/c/{conversation.id}/settings/",
        {"title": "t", "model": conversation.model, "instructions": "x" * 51, "max_output_tokens": ""},
        follow=True,
    )
    assert "at most 50 characters" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.instructions == ""


def test_another_users_form_token_is_no_500(client, alice, bob):
    """POST / with a form token that another user's turn already used."""
    taken = services.conversation_create(owner=alice, prompt="alice's", client_token=uuid.uuid4())
    client.force_login(bob)
    response = client.post("/", {"prompt": "bob's prompt", "client_token": str(taken.client_token)})
    assert response.status_code == 409
    page = response.content.decode()
    assert "bob&#x27;s prompt" in page or "bob's prompt" in page
    new_token = form_token(response)
    assert new_token != str(taken.client_token)
    # Sending again with the fresh token works; alice's turn is untouched.
    assert client.post("/", {"prompt": "bob's prompt", "client_token": new_token}).status_code == 302
    taken.refresh_from_db()
    assert taken.conversation.owner == alice and taken.prompt == "alice's"
    # In a conversation too.
    conversation = Conversation.objects.get(owner=bob)
    Turn.objects.filter(conversation=conversation).update(status="completed")
    response = client.post(
        conversation.get_absolute_url(), {"prompt": "again", "client_token": str(taken.client_token)}
    )
    assert response.status_code == 409
    assert Client().get("/").status_code == 302
