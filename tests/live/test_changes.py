"""What one watcher read finds (live/reads.py read_changes), whatever the number of running turns it asks about."""

import uuid
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.live import reads
from conversations.models import Conversation, Turn
from tests import factories

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def turn(owner, status: str, updated: datetime) -> Turn:
    conversation = factories.conversation(owner=owner, title=f"{status} at {updated:%H:%M:%S}")
    made = factories.turn(conversation=conversation, prompt="Why?", status=status)
    Turn.objects.filter(pk=made.pk).update(updated_at=updated)
    return made


def test_a_read_finds_the_changed_the_ended_and_the_new_turns_among_many(alice, bob, clock):
    clock(NOW)
    since = NOW - timedelta(seconds=10)
    quiet = turn(alice, "in_progress", since - timedelta(minutes=3))  # known, unchanged
    # Known, ended with a stamp older than the window (a late commit, another machine's clock): found by status.
    ended = turn(alice, "completed", since - timedelta(minutes=1))
    moved = turn(alice, "in_progress", since + timedelta(seconds=5))  # known, changed in the window
    started = turn(alice, "queued", since - timedelta(minutes=2))  # unknown yet (another device)
    others = turn(bob, "in_progress", since + timedelta(seconds=5))  # not a connected user's
    # 1,500 more known running turns (gone since), as a process with that many open pages asks about.
    known = [quiet.pk, ended.pk, moved.pk] + [uuid.uuid4() for _ in range(1_500)]
    plan = reads.Plan(turn_ids=known, user_ids=[alice.pk], since=since)

    with CaptureQueriesContext(connection) as queries:
        found = reads.read_changes(plan)

    assert {row[0] for row in found.turns} == {ended.pk, moved.pk, started.pk}
    assert others.pk not in {row[0] for row in found.turns}
    sql = queries.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":  # the ids as one array parameter, not one parameter each
        assert "= ANY(" in sql


def test_a_page_connecting_catches_up_in_two_reads(alice, bob, clock):
    """A page connects after every send: the user's open turns with the page's own, then the rows changed."""
    clock(NOW)
    since = NOW - timedelta(seconds=10)
    shown = turn(alice, "completed", since - timedelta(minutes=5))  # the page's, ended before it connected
    running = turn(alice, "in_progress", since - timedelta(minutes=3))  # another tab's
    waiting = turn(alice, "waiting", since - timedelta(minutes=2))
    old = turn(alice, "completed", since - timedelta(minutes=9))  # neither open nor the page's
    theirs = turn(bob, "in_progress", since)  # another user's id, posted by a forged page
    Conversation.objects.update(updated_at=since - timedelta(minutes=1))  # no row changed since, but:
    factories.conversation(owner=alice, title="Renamed just now", updated_at=since + timedelta(seconds=2))
    factories.conversation(owner=bob, title="Bob's", updated_at=since + timedelta(seconds=2))

    with CaptureQueriesContext(connection) as queries:
        found_running, turns, rows = reads.read_catch_up(user_id=alice.pk, turn_ids=[shown.pk, theirs.pk], since=since)

    assert len(queries) == 2
    assert found_running == {running.pk: running.conversation_id, waiting.pk: waiting.conversation_id}
    assert [row[:3] for row in turns] == [(shown.pk, shown.conversation_id, "completed")]
    assert [row["title"] for row in rows] == ["Renamed just now"] and old.pk not in found_running
