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


def test_a_fourth_running_answer_is_refused_with_the_prompt_kept(alice_client, alice, limits):
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"slow {i}")  # queued (the test db never commits)
    response = alice_client.post("/", {"prompt": "my fourth idea", "client_token": str(uuid.uuid4())})
    assert response.status_code == 429
    page = response.content.decode()
    assert "3 answers being generated" in page
    assert "my fourth idea" in page  # still in the box
    assert Turn.objects.count() == 3
    # In an existing conversation too.
    conversation = Conversation.objects.first()
    Turn.objects.filter(conversation=conversation).update(status="completed")
    services.conversation_create(owner=alice, prompt="slow again")
    response = alice_client.post(
        conversation.get_absolute_url(), {"prompt": "follow-up", "client_token": str(uuid.uuid4())}
    )
    assert response.status_code == 429 and "follow-up" in response.content.decode()


def test_one_users_prompts_do_not_take_another_users_slots(alice, bob, limits):
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"a{i}")
    with pytest.raises(services.UserLimitReached):
        services.conversation_create(owner=alice, prompt="a3")
    for i in range(3):
        services.conversation_create(owner=bob, prompt=f"b{i}")
    assert Turn.objects.filter(conversation__owner=bob).count() == 3


def test_a_finished_answer_frees_a_slot(alice, limits):
    turns = [services.conversation_create(owner=alice, prompt=f"a{i}") for i in range(3)]
    Turn.objects.filter(id=turns[0].id).update(status="completed")
    services.conversation_create(owner=alice, prompt="now fine")


def test_retry_counts_as_a_running_answer(alice, limits):
    first = services.conversation_create(owner=alice, prompt="failed one")
    Turn.objects.filter(id=first.id).update(status="failed")
    for i in range(3):
        services.conversation_create(owner=alice, prompt=f"a{i}")
    with pytest.raises(services.UserLimitReached):
        services.turn_retry(turn=Turn.objects.get(id=first.id))
    assert Turn.objects.get(id=first.id).status == "failed"


def test_prompts_per_hour(alice_client, alice, limits):
    limits.MAX_ACTIVE_TURNS_PER_USER = 100
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
    barrier = threading.Barrier(6)
    outcomes = []

    def send(i):
        try:
            barrier.wait(timeout=10)
            services.conversation_create(owner=user, prompt=f"p{i}", client_token=uuid.uuid4())
            outcomes.append("ok")
        except services.UserLimitReached:
            outcomes.append("limited")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]  # queue only (huey_queue): nothing runs
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 2 and outcomes.count("limited") == 4, outcomes
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
