"""Turn lifecycle across the three upstream modes: progress, cancel, resume, faults."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.generation import worker
from conversations.models import Turn
from tests.helpers import deferred_tasks, wait_for


@pytest.fixture(autouse=True)
def quick(settings, transactional_db):
    settings.TURN_CANCEL_CHECK_SECONDS = 0.05
    settings.AIMLAPI_POLL_INTERVAL = 0.05


def _queued_turn(owner, prompt="Long question"):
    # Created without running (the task is dropped), so the test drives the worker itself.
    with deferred_tasks():
        return services.conversation_create(owner=owner, prompt=prompt)


def _run_in_thread(turn):
    def target():
        try:
            worker.turn_run(turn_id=turn.id)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _fresh(turn):
    return Turn.objects.get(id=turn.id)


def test_stream_mode_saves_partial_text_then_the_answer(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "stream"
    fake_api.latency = 2
    fake_api.stream_chunks = 8
    turn = _queued_turn(alice)
    thread = _run_in_thread(turn)
    partial = wait_for(lambda: _fresh(turn).output_text, timeout=5)
    assert _fresh(turn).status == "in_progress"
    thread.join(10)
    done = _fresh(turn)
    assert done.status == "completed"
    assert len(partial) < len(done.output_text)
    assert done.total_tokens and done.response_id and done.mode == "stream"


def test_stream_mode_takes_text_from_deltas_when_final_output_is_empty(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "stream"
    fake_api.stream_empty_final_output = True
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    assert _fresh(turn).output_text.startswith("Echo: Long question")


def test_stream_cut_keeps_what_arrived(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "stream"
    fake_api.faults = [("stream_cut",)]
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    turn = _fresh(turn)
    assert turn.status == "failed" and turn.error_code == "stream_cut"
    assert turn.output_text and "Retry" in turn.error_message
    assert fake_api.post_count == 1


def test_stop_closes_the_stream_and_keeps_partial_text(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "stream"
    fake_api.latency = 4
    turn = _queued_turn(alice)
    started = time.monotonic()
    thread = _run_in_thread(turn)
    wait_for(lambda: _fresh(turn).output_text, timeout=5)
    assert services.turn_cancel(turn=_fresh(turn))
    assert _fresh(turn).status == "cancelled"  # at once, before the worker notices
    thread.join(10)
    assert time.monotonic() - started < 3.5  # the worker stopped reading the stream
    turn = _fresh(turn)
    assert turn.status == "cancelled" and turn.output_text


def test_stop_cuts_a_sync_call_at_once(alice, fake_api, settings):
    fake_api.latency = 10
    turn = _queued_turn(alice)
    started = time.monotonic()
    thread = _run_in_thread(turn)
    wait_for(lambda: fake_api.post_count == 1)
    services.turn_cancel(turn=_fresh(turn))
    thread.join(5)
    assert not thread.is_alive()  # the worker thread is free again
    assert time.monotonic() - started < 3
    turn = _fresh(turn)
    assert turn.status == "cancelled" and turn.error_message == "Stopped by the user."


def test_background_mode_stores_the_id_at_once_and_polls(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "background"
    fake_api.latency = 1
    turn = _queued_turn(alice)
    thread = _run_in_thread(turn)
    response_id = wait_for(lambda: _fresh(turn).response_id, timeout=3)
    assert _fresh(turn).status == "in_progress"
    thread.join(10)
    turn = _fresh(turn)
    assert turn.status == "completed" and turn.response_id == response_id
    assert turn.output_text.startswith("Echo:") and turn.total_tokens
    assert fake_api.post_count == 1
    assert any(r["method"] == "GET" for r in fake_api.requests)


def test_stop_in_background_mode_cancels_upstream(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "background"
    fake_api.latency = 5
    turn = _queued_turn(alice)
    thread = _run_in_thread(turn)
    response_id = wait_for(lambda: _fresh(turn).response_id, timeout=3)
    services.turn_cancel(turn=_fresh(turn))
    thread.join(5)
    assert not thread.is_alive()
    assert response_id in fake_api.cancel_calls
    assert _fresh(turn).status == "cancelled"


def test_a_background_turn_resumes_by_its_id_after_a_worker_died(alice, fake_api, settings):
    settings.AIMLAPI_MODE = "background"
    fake_api.latency = 0.5
    turn = _queued_turn(alice)
    # What a worker leaves behind when it is killed after storing the response id.
    from conversations.generation import aimlapi

    created = aimlapi.create_response(
        aimlapi.build_body(model="openai/gpt-5-pro", input="Long question"), background=True
    )
    Turn.objects.filter(id=turn.id).update(
        status="in_progress",
        attempts=1,
        mode="background",
        response_id=created.id,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    counts = tasks.turns_recover()  # immediate mode: the resume task runs now
    assert counts["resumed"] == 1
    turn = _fresh(turn)
    assert turn.status == "completed" and turn.response_id == created.id and turn.output_text
    assert fake_api.post_count == 1  # the prompt was not sent again


def test_a_live_lease_is_left_alone(alice):
    turn = _queued_turn(alice)
    Turn.objects.filter(id=turn.id).update(
        status="in_progress", attempts=1, mode="sync", lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert tasks.turns_recover() == {"resumed": 0, "interrupted": 0, "requeued": 0, "started": 0}
    assert _fresh(turn).status == "in_progress"


def test_a_lost_queued_task_is_requeued(alice, fake_api):
    turn = _queued_turn(alice)
    Turn.objects.filter(id=turn.id).update(updated_at=timezone.now() - timedelta(hours=1))
    assert tasks.turns_recover()["requeued"] == 1
    assert _fresh(turn).status == "completed"


def test_a_duplicate_task_makes_one_upstream_call(alice, fake_api):
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    worker.turn_run(turn_id=turn.id)
    assert fake_api.post_count == 1


def test_the_worker_heartbeat_extends_the_lease(alice, fake_api, settings):
    settings.TURN_LEASE_SECONDS = 0.3
    fake_api.latency = 1.2
    turn = _queued_turn(alice)
    thread = _run_in_thread(turn)
    wait_for(lambda: _fresh(turn).status == "in_progress")
    first = _fresh(turn).lease_expires_at
    wait_for(lambda: _fresh(turn).lease_expires_at > first, timeout=5)  # renewed while the answer runs
    assert tasks.turns_recover()["interrupted"] == 0
    thread.join(5)
    assert _fresh(turn).status == "completed"


def test_read_timeout_fails_once_without_resending(alice, fake_api, settings):
    settings.AIMLAPI_READ_TIMEOUT = 0.3
    fake_api.faults = [("slow", 2)]
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    turn = _fresh(turn)
    assert turn.status == "failed" and turn.error_code == "timeout"
    assert "not sent again" in turn.error_message
    assert fake_api.post_count == 1


def test_non_json_body_fails_with_a_message(alice, fake_api):
    fake_api.faults = [("non_json",)]
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    turn = _fresh(turn)
    assert turn.status == "failed" and "not JSON" in turn.error_message


def test_rate_limit_then_success_records_usage_once(alice, fake_api):
    fake_api.faults = [("429", 0), ("status", 503)]
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    turn = _fresh(turn)
    assert turn.status == "completed" and turn.attempts == 1
    assert fake_api.post_count == 3


def test_quota_429_is_not_retried(alice, fake_api):
    fake_api.faults = [("429_quota",)]
    turn = _queued_turn(alice)
    worker.turn_run(turn_id=turn.id)
    turn = _fresh(turn)
    assert turn.status == "failed" and turn.error_code == "quota_exceeded"
    assert fake_api.post_count == 1


def test_two_tabs_posting_the_same_form_make_one_call(alice, fake_api):
    import uuid

    token = uuid.uuid4()
    results = []

    def post():
        try:
            results.append(services.conversation_create(owner=alice, prompt="twice", client_token=token).id)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(results)) == 1 and len(results) == 4
    assert Turn.objects.count() == 1
    assert fake_api.post_count == 1


def test_one_query_checks_every_running_attempt(alice, django_assert_num_queries):
    from conversations.generation.attempts import Attempt, _Watcher

    turns = [_queued_turn(alice, prompt=f"p{i}") for i in range(5)]
    Turn.objects.update(status="in_progress", attempts=1)
    attempts = [Attempt(_fresh(turn)) for turn in turns]
    services.turn_cancel(turn=turns[0])
    watcher = _Watcher()
    with django_assert_num_queries(2):  # one read for all five, one lease renewal
        watcher.check(attempts)
    assert attempts[0].should_stop() and attempts[0].abort.aborted
    assert not any(attempt.should_stop() for attempt in attempts[1:])
