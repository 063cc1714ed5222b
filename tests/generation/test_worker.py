"""The real Huey consumer in a subprocess: turns complete, and survive a killed worker."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.models import Turn
from tests import factories
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow


def _status(turn):
    return Turn.objects.values_list("status", flat=True).get(id=turn.id)


def _expire_lease(turn):
    """Move the clock instead of waiting: the lease ran out a second ago."""
    Turn.objects.filter(id=turn.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_a_consumer_process_completes_a_turn(worker, alice, fake_api):
    worker()
    turn = services.conversation_create(owner=alice, prompt="Through a real worker")
    wait_for(lambda: _status(turn) == "completed")
    turn.refresh_from_db()
    assert turn.output_text.startswith("Echo: Through a real worker")
    assert turn.total_tokens and turn.response_id
    assert fake_api.post_count == 1


def test_a_killed_worker_leaves_a_retryable_turn_in_sync_mode(worker, alice, fake_api):
    fake_api.latency = 30
    first = worker(AIMLAPI_MODE="sync", TURN_LEASE_SECONDS=5)
    turn = services.conversation_create(owner=alice, prompt="Interrupted")
    wait_for(lambda: fake_api.post_count == 1)
    first.kill()
    assert _status(turn) == "in_progress"
    _expire_lease(turn)  # as if the dead worker's lease ran out
    worker(AIMLAPI_MODE="sync", TURN_LEASE_SECONDS=5)  # a new worker recovers at start-up
    wait_for(lambda: _status(turn) == "failed")
    turn.refresh_from_db()
    assert turn.error_code == "interrupted" and turn.can_retry


def test_a_killed_worker_is_resumed_by_response_id_in_background_mode(worker, alice, fake_api):
    fake_api.latency = 8
    first = worker(AIMLAPI_MODE="background", TURN_LEASE_SECONDS=5, AIMLAPI_POLL_INTERVAL=0.2)
    turn = services.conversation_create(owner=alice, prompt="Resume me")
    wait_for(lambda: Turn.objects.values_list("response_id", flat=True).get(id=turn.id))
    first.kill()
    _expire_lease(turn)
    worker(AIMLAPI_MODE="background", TURN_LEASE_SECONDS=5, AIMLAPI_POLL_INTERVAL=0.2)
    wait_for(lambda: _status(turn) == "completed", timeout=30)
    turn.refresh_from_db()
    assert turn.output_text.startswith("Echo: Resume me")
    assert fake_api.post_count == 1  # resumed by id, never sent again


def _gunicorn(env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "aimlweb.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "-k",
            "gthread",
            "--threads",
            "4",
        ],
        env={**env, "DEBUG": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _answers(port), timeout=20)
    return process


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/login/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_a_restarted_web_server_loses_nothing(worker, fake_api):
    # Hashed with the app's own hasher (tests use a faster one the subprocess does not know).
    User.objects.create(username="carol", password=make_password("pw-carol-123", hasher="pbkdf2_sha256"))
    fake_api.latency = 4
    running = worker()
    port = free_port()
    web = _gunicorn(running.env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        session = requests.Session()
        page = session.get(f"{base}/login/").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        session.post(
            f"{base}/login/", data={"csrfmiddlewaretoken": csrf, "username": "carol", "password": "pw-carol-123"}
        )
        page = session.get(f"{base}/").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        token = re.search(r'name="client_token" value="([^"]+)"', page).group(1)
        response = session.post(
            f"{base}/", data={"csrfmiddlewaretoken": csrf, "prompt": "Survive a restart", "client_token": token}
        )
        conversation_url = response.url
        assert "Starting…" in response.text or "Thinking…" in response.text
        web.terminate()
        web.wait(10)
        web = _gunicorn(running.env, port)
        wait_for(lambda: "badge-completed" in session.get(conversation_url).text, timeout=30)
        assert "Echo: Survive a restart" in session.get(conversation_url).text
        assert fake_api.post_count == 1
    finally:
        web.terminate()
        web.wait(10)


def test_one_consumer_thread_generates_many_answers_at_once(worker, alice, bob, fake_api):
    """The consumer hands turns to its generation pool: answers in flight are not capped by its threads."""
    fake_api.latency = 60
    worker(HUEY_WORKERS=1, AIMLAPI_MODE="sync")
    users = [alice, bob] + [User.objects.create_user(f"u{i}", password="pw-u-123456") for i in range(8)]
    turns = [services.conversation_create(owner=user, prompt=f"At once {n}") for user in users for n in range(3)]
    wait_for(lambda: Turn.objects.filter(status="in_progress").count() == len(turns), timeout=60)
    wait_for(lambda: fake_api.post_count == len(turns), timeout=60)
    for turn in turns:
        services.turn_cancel(turn=turn)


def test_a_queued_turn_whose_task_was_lost_starts_within_a_minute(worker, alice, fake_api):
    # Committed, but its task never reached the queue (killed between commit and enqueue, or a wiped queue).
    conversation = factories.conversation(owner=alice, title="Lost")
    # Queued half a minute ago (the clock is moved, not waited out): the worker's sweep queues it again.
    turn = factories.turn(
        conversation=conversation, prompt="Lost task", updated_at=timezone.now() - timedelta(seconds=31)
    )
    worker()
    wait_for(lambda: _status(turn) == "completed", timeout=60)
    assert fake_api.post_count == 1


def test_a_stopped_worker_hands_its_running_turns_to_the_next_sweep(worker, alice, fake_api):
    fake_api.latency = 60
    first = worker(AIMLAPI_MODE="sync", TURN_LEASE_SECONDS=600)
    turn = services.conversation_create(owner=alice, prompt="Shut down under me")
    wait_for(lambda: fake_api.post_count == 1)
    first.stop()  # SIGTERM: a clean shutdown
    assert first.process.returncode is not None and first.process.returncode != -9  # exited, not killed
    lease = Turn.objects.values_list("lease_expires_at", flat=True).get(id=turn.id)
    assert lease <= timezone.now()  # released at once, not after ten minutes
    assert tasks.turns_recover()["interrupted"] == 1
    turn.refresh_from_db()
    assert turn.status == "failed" and turn.error_code == "interrupted" and turn.can_retry
