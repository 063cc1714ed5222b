"""reliability.md §5 cases not covered elsewhere: 11 (usage once), 18 (CSRF), 23 (log injection)."""

import logging
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.generation import aimlapi, worker
from conversations.generation.attempts import Attempt
from conversations.models import Charge, Conversation, Turn
from tests.helpers import deferred_tasks


def test_sweeper_twice_and_a_late_answer_twice_record_usage_once(transactional_db, alice):
    """Case 11: the sweeper runs twice, the late answer arrives twice: one charge, one answer."""
    with deferred_tasks():
        turn = services.conversation_create(owner=alice, prompt="q")
    past = timezone.now() - timedelta(minutes=5)
    Turn.objects.filter(id=turn.id).update(status="in_progress", attempts=1, mode="sync", lease_expires_at=past)
    claimed = Turn.objects.select_related("conversation").get(id=turn.id)
    assert tasks.turns_recover()["interrupted"] == 1
    assert tasks.turns_recover()["interrupted"] == 0
    answer = aimlapi.Response(
        id="resp_1", status="completed", model="openai/gpt-5-pro", text="late",
        usage=aimlapi.Usage(input_tokens=10, output_tokens=5, total_tokens=15),
    )  # fmt: skip
    worker._finish(Attempt(claimed), answer)
    worker._finish(Attempt(claimed), answer)
    assert Charge.objects.filter(turn=turn).count() == 1
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.output_text == "late"


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def test_csrf_protects_send_delete_logout_and_account_actions(csrf_client, alice):
    """Case 18: without the token every state change is a 403 and changes nothing."""
    turn = services.conversation_create(owner=alice, prompt="keep me")
    Turn.objects.filter(id=turn.id).update(status="completed")
    conversation = turn.conversation
    posts = [
        ("/", {"prompt": "x", "client_token": str(uuid.uuid4())}),
        (conversation.get_absolute_url(), {"prompt": "x"}),
        (f"/c/{conversation.id}/delete/", {}),
        (f"/c/{conversation.id}/rename/", {"title": "pwned"}),
        (f"/t/{turn.id}/retry/", {}),
        ("/logout/", {}),
        ("/account/sign-out-everywhere/", {}),
        ("/account/password/", {"old_password": "pw-alice-123", "new_password1": "N3w-pass-x", "new_password2": "N"}),
    ]  # fmt: skip
    for url, data in posts:
        assert csrf_client.post(url, data).status_code == 403, url
    assert Conversation.objects.get().title == "keep me" and Turn.objects.count() == 1
    assert csrf_client.get("/").status_code == 200  # still signed in
    assert User.objects.get(pk=alice.pk).check_password("pw-alice-123")


def test_log_lines_cannot_be_forged(client, db, caplog):
    """Case 23: control characters from users are escaped; every record is one line."""
    caplog.set_level(logging.DEBUG)
    forged = "a\r\nCRITICAL forged \x1b[31mred"
    client.post("/login/", {"username": forged, "password": "x"})
    client.post("/signup/", {"username": forged, "password1": "a-Long-pass-77", "password2": "a-Long-pass-77"})
    Client().get("/no-such-page/\r\nCRITICAL forged")
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records if not record.exc_info]
    assert lines
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\x1b" not in line, line
