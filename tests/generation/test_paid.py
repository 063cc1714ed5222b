"""Nothing paid is ever lost: whatever the provider sends, a finished answer and its usage are stored."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.generation import aimlapi, worker
from conversations.generation.attempts import Attempt
from conversations.models import Charge, Turn
from tests.helpers import client_for, deferred_tasks, wait_for
from tests.hostile_upstream import HostileUpstream, completed, http


def _claimed(owner, prompt="Paid question"):
    """A turn claimed by a worker (in progress, attempt 1), as `turn_run` leaves it before the call."""
    with deferred_tasks():
        turn = services.conversation_create(owner=owner, prompt=prompt)
    now = timezone.now()
    Turn.objects.filter(id=turn.id).update(
        status="in_progress", attempts=1, mode="sync", started_at=now, lease_expires_at=now + timedelta(seconds=90)
    )
    return Turn.objects.select_related("conversation").get(id=turn.id)


def _answer(text="The paid answer", **usage):
    usage = {"input_tokens": 100, "output_tokens": 50, "total_tokens": 150, **usage}
    return aimlapi.Response(
        id="resp_paid", status="completed", model="openai/gpt-5-pro", text=text, usage=aimlapi.Usage(**usage),
        raw={"id": "resp_paid"},
    )  # fmt: skip


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": -5},  # a CHECK constraint refuses it
        {"usd_spent": 1e12},  # too large for the cost column
        {"usd_spent": float("nan")},
        {"output_tokens": 10**15},  # too large for the column (PostgreSQL)
    ],
)
def test_usage_that_cannot_be_stored_still_leaves_the_answer(transactional_db, alice, usage):
    """Even values the client would have refused (a bug, a new code path) never lose the answer."""
    turn = _claimed(alice)
    worker._finish(Attempt(turn), _answer(**usage))
    turn.refresh_from_db()
    assert turn.status == "completed"
    assert turn.output_text == "The paid answer" and "paid answer" in turn.output_html


def test_a_raw_body_that_cannot_be_stored_still_leaves_the_answer(transactional_db, alice):
    turn = _claimed(alice)
    response = _answer()
    response = aimlapi.Response(**{**response.__dict__, "raw": {"bad": float("nan"), "nul": "a\x00b"}})
    worker._finish(Attempt(turn), response)
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.output_text == "The paid answer"
    assert turn.input_tokens == 100 and turn.output_tokens == 50
    assert "could not be stored" in json.dumps(turn.response_json)
    assert Charge.objects.filter(turn=turn).count() == 1


def test_hostile_usage_through_the_whole_path_is_stored(transactional_db, alice, settings):
    """From the wire to the page: absurd usage, a 1e12 cost, NaN, a 3 MB body."""
    settings.AIMLAPI_MAX_STORED_JSON_BYTES = 64 * 1024
    with HostileUpstream() as upstream:
        settings.AIMLAPI_BASE_URL = upstream.base_url
        body = json.dumps(
            completed(
                "Big paid answer " * 200_000,
                usage={"input_tokens": -1, "output_tokens": 2.5, "total_tokens": 10**40},
                meta={"usage": {"usd_spent": 1e12}},
            )
        )
        body = body[:-1] + ', "weird": NaN}'
        upstream.answer(http(200, body))
        turn = services.conversation_create(owner=alice, prompt="Expensive")
    turn.refresh_from_db()
    assert turn.status == "completed", turn.error_message
    assert turn.output_text.startswith("Big paid answer") and len(turn.output_text) == 16 * 200_000
    assert turn.input_tokens is None and turn.output_tokens is None and turn.provider_cost_usd is None
    assert turn.response_json["truncated"] is True
    assert len(json.dumps(turn.response_json)) < 200 * 1024


def test_a_late_answer_after_the_sweeper_gave_up_is_recorded(transactional_db, alice):
    """The worker stalled past its lease; the turn was marked interrupted; then the answer arrived."""
    turn = _claimed(alice)
    Turn.objects.filter(id=turn.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.turns_recover()["interrupted"] == 1
    worker._finish(Attempt(turn), _answer())
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.error_code == ""
    assert turn.output_text == "The paid answer"
    assert turn.input_tokens == 100 and turn.output_tokens == 50
    assert Charge.objects.filter(turn=turn, attempt=1).count() == 1


def test_a_late_answer_after_a_retry_is_kept_in_history(transactional_db, alice):
    """Interrupted, retried (a newer attempt runs), then the first attempt's paid answer arrives."""
    turn = _claimed(alice)
    Turn.objects.filter(id=turn.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    tasks.turns_recover()
    first_attempt = Attempt(Turn.objects.select_related("conversation").get(id=turn.id))
    with deferred_tasks():
        services.turn_retry(turn=Turn.objects.get(id=turn.id))
    Turn.objects.filter(id=turn.id).update(status="in_progress", attempts=2)
    worker._finish(first_attempt, _answer("First attempt's answer"))
    turn.refresh_from_db()
    assert turn.status == "in_progress" and turn.attempts == 2  # the newer attempt is untouched
    late = [entry for entry in turn.history if entry.get("status") == "late_answer"]
    assert late and late[0]["output_text"] == "First attempt's answer" and late[0]["attempt"] == 1
    assert Charge.objects.filter(turn=turn, attempt=1).count() == 1


def test_a_late_answer_after_stop_keeps_the_stop_and_the_usage(transactional_db, alice):
    turn = _claimed(alice)
    services.turn_cancel(turn=turn)
    worker._finish(Attempt(turn), _answer())
    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert turn.output_tokens == 50
    assert Charge.objects.filter(turn=turn).count() == 1


def test_hostile_usage_is_charged_at_the_estimate_and_flagged(transactional_db, alice, settings):
    """Unreadable figures for a paid answer: budgets count its estimate, never $0 (round two, item 7)."""
    with HostileUpstream() as upstream:
        settings.AIMLAPI_BASE_URL = upstream.base_url
        upstream.answer(http(200, completed("Paid", usage={"input_tokens": -1, "output_tokens": 2.5})))
        turn = services.conversation_create(owner=alice, prompt="Expensive")
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.output_tokens is None
    charge = Charge.objects.get(turn=turn)
    assert charge.usage_unknown and charge.cost_usd == turn.estimate_usd > 0
    assert charge.input_tokens == charge.output_tokens == 0
    from conversations.usage import budgets

    assert budgets.spend_this_month(alice) == turn.estimate_usd
    # Flagged in the dashboard, with the charges behind it one click away.
    from django.contrib.auth.models import User

    staff = client_for(User.objects.create_superuser("boss", password="pw-boss-123"))
    page = staff.get("/usage/admin/?period=30d").content.decode()
    assert 'id="unknown-usage"' in page and "1 answer of this period came with usage figures" in page
    assert "usage_unknown__exact=1" in page


def test_a_streamed_answer_taken_over_midway_is_read_to_the_end_and_charged(
    transactional_db, alice, fake_api, settings
):
    """The sweeper gave up on a stalled streaming worker; the stream goes on: the answer is read whole,
    shown, charged, and never relabelled Cancelled (nobody pressed Stop) (round two, item 5)."""
    import threading

    settings.AIMLAPI_MODE = "stream"
    settings.TURN_CANCEL_CHECK_SECONDS = 0.05  # the watcher looks often: it must still leave it alone
    fake_api.latency = 1.5
    fake_api.stream_chunks = 15
    with deferred_tasks():
        turn = services.conversation_create(owner=alice, prompt="A long streamed answer")
    run = threading.Thread(target=worker.turn_run, kwargs={"turn_id": turn.id})
    run.start()
    wait_for(lambda: Turn.objects.filter(id=turn.id).exclude(output_text="").exists())
    Turn.objects.filter(id=turn.id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.turns_recover()["interrupted"] == 1
    run.join(timeout=30)
    turn.refresh_from_db()
    assert turn.status == "completed" and turn.error_code == ""
    assert turn.output_text.startswith("Echo: A long streamed answer") and turn.output_text.endswith("second point")
    charge = Charge.objects.get(turn=turn)
    assert charge.status == "completed" and charge.output_tokens > 0 and not charge.usage_unknown
