"""The queue's scheduler (generation/scheduler.py): order, fairness, one indexed pick, concurrency, restarts.

Turns are made waiting with the services (past a per-user limit of 3, or 1); the test database
never commits in the `db` tests, so a started turn stays `queued` and nothing runs.
"""

import random
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.generation import scheduler
from conversations.models import Conversation, Turn, WaitingTurn
from tests import factories
from tests.helpers import deferred_tasks, wait_for

NOTHING = lambda turn_id: None  # noqa: E731 (a start handed nowhere: the test only looks at the rows)


@pytest.fixture
def limit(settings):
    settings.MAX_ACTIVE_TURNS_PER_USER = 3
    settings.MAX_PROMPTS_PER_HOUR = 0
    return settings


def _send(owner, n, prefix="p"):
    return [services.conversation_create(owner=owner, prompt=f"{prefix}{i}") for i in range(n)]


def _end(turn):
    Turn.objects.filter(pk=turn.pk).update(status="completed", completed_at=timezone.now())
    return scheduler.turn_ended(turn=turn, run=NOTHING)


def _running(owner):
    return list(Turn.objects.filter(conversation__owner=owner, status__in=Turn.ACTIVE).order_by("created_at"))


def test_a_freed_slot_starts_the_users_oldest_waiting_prompt(alice, limit):
    running = _send(alice, 3)
    waiting = _send(alice, 4, prefix="w")
    assert {turn.status for turn in waiting} == {"waiting"}
    for done, expected in zip(running, waiting[:3], strict=True):
        assert _end(done) == [str(expected.id)]
    assert [turn.prompt for turn in _running(alice)] == ["w0", "w1", "w2"]
    assert Turn.objects.get(pk=waiting[3].pk).status == "waiting"
    assert not WaitingTurn.objects.filter(turn_id__in=[turn.pk for turn in waiting[:3]]).exists()


def test_one_users_fifty_never_hold_up_another_users_one(alice, bob, limit):
    """Property-ish: slots free in a random order; each start is its owner's oldest waiting prompt, no one
    passes the limit, and bob's one prompt starts at his first free slot, ahead of alice's older fifty."""
    a_running = _send(alice, 3, prefix="a-run")
    a_waiting = _send(alice, 50, prefix="a")
    b_running = _send(bob, 3, prefix="b-run")
    (b_waiting,) = _send(bob, 1, prefix="b")
    assert a_waiting[0].created_at < b_waiting.created_at  # alice's fifty are older
    rng = random.Random(17)
    ending = a_running + b_running
    rng.shuffle(ending)
    started: dict[str, list[str]] = {"alice": [], "bob": []}
    while ending:
        done = ending.pop(rng.randrange(len(ending)))
        owner = done.conversation.owner
        for turn_id in _end(done):
            turn = Turn.objects.get(pk=turn_id)
            started[owner.username].append(turn.prompt)
            ending.append(turn)
        assert len(_running(alice)) <= 3 and len(_running(bob)) <= 3
        if owner == bob and not started["bob"]:
            pytest.fail("bob's freed slot did not start his waiting prompt")
        if len(started["alice"]) >= 12 and started["bob"]:
            break
    assert started["bob"] == ["b0"]
    assert started["alice"] == [f"a{i}" for i in range(len(started["alice"]))]  # oldest first


def test_a_follow_up_starts_when_its_answer_completes_even_before_older_prompts(alice, limit):
    running = _send(alice, 3)
    older = _send(alice, 1, prefix="older")[0]
    follow_up = services.turn_create(conversation=running[0].conversation, prompt="follow-up")
    assert WaitingTurn.objects.get(turn=follow_up).follows_id == running[0].pk
    # While its answer runs it cannot start; the older prompt takes the next free slot.
    assert _end(running[1]) == [str(older.id)]
    assert _end(running[0]) == [str(follow_up.id)]


def test_the_pick_is_one_indexed_query_whatever_the_queue_length(alice, bob, limit):
    def waiting_for(owner, n):
        conversations = Conversation.objects.bulk_create(
            [Conversation(owner=owner, model=factories.PRO) for _ in range(n)]
        )
        now = timezone.now()
        turns = Turn.objects.bulk_create(
            [
                Turn(conversation=c, prompt="q", status="waiting", created_at=now + timedelta(microseconds=i))
                for i, c in enumerate(conversations)
            ]
        )
        WaitingTurn.objects.bulk_create(
            [WaitingTurn(turn=turn, owner=owner, created_at=turn.created_at) for turn in turns]
        )
        return turns

    few = waiting_for(alice, 10)
    with CaptureQueriesContext(connection) as small:
        assert scheduler.next_waiting(alice.pk) == few[0].pk
    many = waiting_for(bob, 10_000)
    with CaptureQueriesContext(connection) as large:
        assert scheduler.next_waiting(bob.pk) == many[0].pk
    assert len(small) == len(large) == 1
    sql = large.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Statistics as a real queue's would say (10,010 rows), not those of the tables before the
            # inserts above: with none, the planner may take any index for a table it believes empty.
            cursor.execute("ANALYZE conversations_waitingturn, conversations_turn")
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}" if connection.vendor == "sqlite" else f"EXPLAIN {sql}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "waiting_owner_created" in plan, plan


def test_the_sweep_starts_what_can_start_and_writes_nothing_otherwise(alice, bob, limit):
    running = _send(alice, 3)
    waiting = _send(alice, 2, prefix="w")
    assert scheduler.turns_start_all(run=NOTHING) == []  # every slot taken
    # A slot freed without the hook (a worker killed, the sweep marked it interrupted).
    Turn.objects.filter(pk=running[0].pk).update(status="failed", error_code="interrupted")
    assert scheduler.turns_start_all(run=NOTHING) == [str(waiting[0].id)]
    assert tasks.turns_recover()["started"] == 0


def test_two_processes_starting_at_once_never_pass_the_limit_nor_start_a_turn_twice(transactional_db, limit):
    user = User.objects.create_user("racer", password="x-pass-1234")
    with deferred_tasks():
        running = _send(user, 3)
        _send(user, 12, prefix="w")
        Turn.objects.filter(pk__in=[turn.pk for turn in running]).update(status="completed")
        barrier = threading.Barrier(6)
        started: list[str] = []

        def start():
            try:
                barrier.wait(timeout=10)
                started.extend(scheduler.turns_start(owner_id=user.pk, run=NOTHING))
            finally:
                connection.close()

        threads = [threading.Thread(target=start) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(started) == 3 and len(set(started)) == 3
    assert Turn.objects.filter(conversation__owner=user, status__in=Turn.ACTIVE).count() == 3
    assert WaitingTurn.objects.filter(owner=user).count() == 9


# --- Real worker processes ---------------------------------------------------------------------


def _overlap(turns) -> int:
    """The most of `turns` being generated at one instant (from their start and end times)."""
    spans = [(turn.started_at, turn.completed_at) for turn in turns]
    return max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)


@pytest.mark.slow
def test_two_worker_processes_run_the_queue_within_the_limit_each_turn_once(worker, fake_api, settings):
    settings.MAX_ACTIVE_TURNS_PER_USER = 2
    fake_api.latency = 3
    user = User.objects.create_user("busy", password="pw-busy-123")
    for _ in range(2):
        worker(MAX_ACTIVE_TURNS_PER_USER=2, AIMLAPI_MODE="sync")
    turns = [services.conversation_create(owner=user, prompt=f"q{i}", client_token=uuid.uuid4()) for i in range(8)]
    assert [turn.status for turn in turns].count("waiting") == 6
    wait_for(lambda: Turn.objects.filter(conversation__owner=user, status="completed").count() == 8, timeout=90)
    done = list(Turn.objects.filter(conversation__owner=user))
    assert all(turn.attempts == 1 for turn in done)
    assert fake_api.post_count == 8  # each sent once
    assert _overlap(done) <= 2
    assert not WaitingTurn.objects.exists()


@pytest.mark.slow
def test_waiting_prompts_start_after_the_worker_restarts(worker, fake_api, settings):
    settings.MAX_ACTIVE_TURNS_PER_USER = 1
    fake_api.latency = 30
    user = User.objects.create_user("patient", password="pw-patient-123")
    first = worker(MAX_ACTIVE_TURNS_PER_USER=1, AIMLAPI_MODE="sync", TURN_LEASE_SECONDS=5)
    running = services.conversation_create(owner=user, prompt="interrupted")
    waiting = services.conversation_create(owner=user, prompt="after the restart")
    assert waiting.status == "waiting"
    wait_for(lambda: fake_api.post_count == 1)
    first.kill()  # no hook runs: the slot frees only when the next worker's sweep takes the turn back
    Turn.objects.filter(pk=running.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    fake_api.latency = 0
    worker(MAX_ACTIVE_TURNS_PER_USER=1, AIMLAPI_MODE="sync", TURN_LEASE_SECONDS=5)
    wait_for(lambda: Turn.objects.get(pk=waiting.pk).status == "completed", timeout=60)
    assert Turn.objects.get(pk=running.pk).error_code == "interrupted"
    assert Turn.objects.get(pk=waiting.pk).output_text.startswith("Echo: after the restart")


def test_the_worker_raises_its_open_files_limit_for_a_full_pool():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = soft - 10
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))  # as a service manager may start it
        tasks._open_files_allow(soft)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
        tasks._open_files_allow(lower)  # never lowered
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
