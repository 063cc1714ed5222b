"""Pushed live updates (conversations/live/stream.py): the watcher and the /events/ stream.

The watcher reads in a thread of its own with its own database connection, as in production,
so these tests use `transactional_db` (data committed, visible to that thread). Each test runs
its coroutine in a fresh event loop (asyncio.run), which gets a watcher of its own.
"""

import asyncio
import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import AsyncClient
from django.utils import timezone

from conversations.live import changes as live
from conversations.live import reads
from conversations.models import Conversation, Turn
from tests import factories
from tests.helpers import client_for, until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def watcher_closed(async_connections_closed):
    """Each test's watcher gives its connection back (PostgreSQL cannot drop a database in use), and so does
    the thread where asyncio.run's sync_to_async calls ran (the views' session reads)."""
    yield
    if live._watcher is not None:
        live._watcher.close(wait=True)
        live._watcher = None


async def in_thread(function, *args):
    """Run database writes off the event loop, as another process would, closing its connection."""

    def run():
        try:
            return function(*args)
        finally:
            reads.release_connections()

    return await asyncio.to_thread(run)


def running_turn(owner, title="Running", status=Turn.Status.IN_PROGRESS) -> Turn:
    conversation = factories.conversation(owner=owner, title=title, model="m")
    return factories.turn(conversation=conversation, prompt="Why?", status=status)


def finish(turn: Turn, status=Turn.Status.COMPLETED, when=None) -> None:
    """What a worker does when an answer arrives (the turn, then its conversation)."""
    when = when or timezone.now()
    with transaction.atomic():
        Turn.objects.filter(pk=turn.pk).update(
            status=status, output_text="Because.", completed_at=when, updated_at=when
        )
        Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=when)


def drain(subscriber: live.Subscriber) -> list[tuple[str, dict]]:
    events = []
    while not subscriber.queue.empty():
        message = subscriber.queue.get_nowait()
        if isinstance(message, live.TurnEvent):  # its fragment is drawn by the stream
            events.append(("turn", message.data))
            continue
        for block in message.strip().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def settle(watcher: live.Watcher, subscriber: live.Subscriber) -> None:
    """Drop the catch-up and the first check's repeats (both look a few seconds back)."""
    await watcher.check()
    drain(subscriber)


def page(user, *turns: Turn) -> live.Subscriber:
    return live.Subscriber(user_id=user.pk, turns={t.pk: reads.stamp(t.updated_at) for t in turns})


def count_watcher_queries(watcher: live.Watcher):
    """Count the SQL statements run in the watcher's own thread (its own connection)."""
    counted = []

    def install():
        connection.execute_wrappers.append(lambda execute, sql, *args: counted.append(sql) or execute(sql, *args))

    return install, counted


def test_one_check_runs_the_same_queries_for_one_page_or_sixty(alice, bob, settings):
    settings.LIVE_EVENTS_INTERVAL_MS = 600_000  # only the checks below run
    users = [alice, bob]
    turns = [running_turn(users[i % 2], f"Conversation {i}") for i in range(30)]

    async def queries_per_check(pages: list[live.Subscriber]) -> int:
        watcher = live.watcher()
        install, counted = count_watcher_queries(watcher)
        await watcher._read(install)
        for subscriber in pages:
            await watcher.subscribe(subscriber, since=timezone.now())
        counted.clear()
        # Something changed for every page: a turn of each ends, so every read returns rows.
        await in_thread(lambda: [finish(t) for t in turns[:4]])
        await watcher.check()
        for subscriber in pages:
            watcher.unsubscribe(subscriber)
        return len(counted)

    one = asyncio.run(queries_per_check([page(alice, turns[0])]))
    # Sixty pages: two tabs per running conversation, of both users.
    for turn in turns[:4]:
        Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.IN_PROGRESS)
    many = asyncio.run(queries_per_check([page(t.conversation.owner, t) for t in turns for _ in range(2)]))
    assert one == many
    assert many <= 2


def test_a_page_is_told_when_its_turn_changes_and_when_it_ends(alice):
    turn = running_turn(alice)

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice, turn)
        await watcher.subscribe(subscriber, since=timezone.now())
        await watcher.check()
        # Nothing changed since the page was drawn: no turn event (its sidebar row may be
        # repeated: the catch-up looks back a few seconds more, in case of a late commit).
        assert [kind for kind, _ in drain(subscriber)] in ([], ["conversation"], ["conversation"] * 2)

        # Streamed text arrives: the turn changed.
        later = timezone.now() + timedelta(milliseconds=5)
        await in_thread(lambda: Turn.objects.filter(pk=turn.pk).update(output_text="Beca", updated_at=later))
        await watcher.check()
        events = drain(subscriber)
        assert events == [
            ("turn", {"id": str(turn.pk), "v": reads.stamp(later), "status": "in_progress",
                      "conversation": str(turn.conversation_id)})
        ]  # fmt: skip
        await watcher.check()
        assert drain(subscriber) == []  # told once, not at every check of the overlap window

        await in_thread(finish, turn)
        await watcher.check()
        kinds = [(kind, data.get("status", data.get("running"))) for kind, data in drain(subscriber)]
        assert ("turn", "completed") in kinds
        assert ("conversation", False) in kinds  # its sidebar row: no longer working
        await watcher.check()
        assert drain(subscriber) == []
        watcher.unsubscribe(subscriber)

    asyncio.run(scenario())


def test_the_sidebar_hears_of_every_conversation_of_the_user(alice):
    """An answer that ends in another conversation (another tab, another device) reaches the page."""
    shown = running_turn(alice, "Open here")
    elsewhere = running_turn(alice, "Open on the phone")

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice, shown)
        await watcher.subscribe(subscriber, since=timezone.now())
        await settle(watcher, subscriber)
        await in_thread(finish, elsewhere)
        await watcher.check()
        events = drain(subscriber)
        assert [kind for kind, _ in events] == ["conversation"]
        row = events[0][1]
        assert row["id"] == str(elsewhere.conversation_id)
        assert row["running"] is False and row["title"] == "Open on the phone"
        assert row["url"] == f"/c/{elsewhere.conversation_id}/"
        assert f'data-id="{elsewhere.conversation_id}"' in row["html"]
        assert "badge-working" not in row["html"]
        assert "owner" not in row and "running_turn" not in row

        # A new prompt on the phone: the row says working, then done.
        later = timezone.now()
        new = await in_thread(
            lambda: factories.turn(conversation=elsewhere.conversation, prompt="And?", updated_at=later)
        )
        await in_thread(lambda: Conversation.objects.filter(pk=elsewhere.conversation_id).update(updated_at=later))
        await watcher.check()
        (kind, row), *_ = drain(subscriber)
        assert row["running"] is True and "badge-working" in row["html"]
        # It ends without touching its conversation (as Stop does): found by its status.
        await in_thread(
            lambda: Turn.objects.filter(pk=new.pk).update(status=Turn.Status.CANCELLED, updated_at=timezone.now())
        )
        await watcher.check()
        assert [(k, r["running"]) for k, r in drain(subscriber)] == [("conversation", False)]
        watcher.unsubscribe(subscriber)

    asyncio.run(scenario())


def test_a_retry_elsewhere_shows_as_working_though_its_conversation_is_not_touched(alice):
    """Retry puts an ended turn back in the queue without updating its conversation."""
    turn = running_turn(alice, "Failed once")
    finish(turn, status=Turn.Status.FAILED, when=timezone.now() - timedelta(minutes=5))

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice)
        await watcher.subscribe(subscriber, since=timezone.now())
        await settle(watcher, subscriber)
        await in_thread(
            lambda: Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.QUEUED, updated_at=timezone.now())
        )
        await watcher.check()
        assert [(k, r["title"], r["running"]) for k, r in drain(subscriber)] == [("conversation", "Failed once", True)]
        await in_thread(finish, turn)
        await watcher.check()
        assert [(k, r["running"]) for k, r in drain(subscriber)] == [("conversation", False)]
        watcher.unsubscribe(subscriber)

    asyncio.run(scenario())


def test_another_users_turns_and_conversations_never_reach_a_page(alice, bob):
    alices = running_turn(alice, "Alice's secret plan")

    async def scenario():
        watcher = live.watcher()
        # Bob's page even names Alice's turn (a forged URL).
        snoop = live.Subscriber(user_id=bob.pk, turns={alices.pk: 0})
        await watcher.subscribe(snoop, since=timezone.now() - timedelta(hours=1))
        await in_thread(finish, alices)
        await watcher.check()
        await asyncio.sleep(0)
        assert drain(snoop) == []
        watcher.unsubscribe(snoop)

    asyncio.run(scenario())


def test_a_change_committed_after_its_timestamp_is_still_seen(alice):
    """Another process stamped the change, then committed it after the watcher's check."""
    turn = running_turn(alice, "Slow commit")

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice)  # the home page: no turn of its own, only the sidebar
        await watcher.subscribe(subscriber, since=timezone.now())
        await settle(watcher, subscriber)
        stamped = timezone.now()
        await watcher.check()  # runs before the commit below
        await in_thread(
            lambda: Conversation.objects.filter(pk=turn.conversation_id).update(title="Renamed", updated_at=stamped)
        )
        await watcher.check()
        assert [(k, r["title"]) for k, r in drain(subscriber)] == [("conversation", "Renamed")]
        watcher.unsubscribe(subscriber)

    asyncio.run(scenario())


def test_the_watcher_stops_with_its_last_page_and_starts_again(alice, settings):
    settings.LIVE_EVENTS_INTERVAL_MS = 10

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice)
        await watcher.subscribe(subscriber, since=timezone.now())
        task = watcher.task
        await until(lambda: watcher.checks + watcher.probes >= 2)
        assert not task.done()
        watcher.unsubscribe(subscriber)
        await asyncio.wait_for(task, timeout=5)
        # No page, no query: no watcher task is left to tick.
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "live-watcher" and not t.done()]
        await watcher.subscribe(subscriber, since=timezone.now())
        assert watcher.task is not task and not watcher.task.done()
        watcher.unsubscribe(subscriber)
        await asyncio.wait_for(watcher.task, timeout=5)

    asyncio.run(scenario())


# --- the view -----------------------------------------------------------------------------


async def read_stream(response, until=lambda text: False, timeout=5.0) -> str:
    """The stream's text until `until(text)` or its end."""
    text = ""
    chunks = aiter(response.streaming_content)

    async def read():
        nonlocal text
        async for chunk in chunks:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            if until(text):
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        await chunks.aclose()
    return text


def events_of(text: str) -> list[tuple[str, dict, str]]:
    out = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"]), fields.get("id", "")))
    return out


def test_events_need_a_signed_in_user():
    async def scenario():
        return await AsyncClient().get("/events/")

    response = asyncio.run(scenario())
    assert response.status_code == 401
    assert not response.streaming


def test_under_wsgi_the_page_is_told_to_poll(alice):
    """A WSGI server would hold a thread for each endless stream: 204, and the page polls."""
    client = client_for(alice)
    response = client.get("/events/")
    assert response.status_code == 204
    assert not response.streaming


def test_the_stream_says_hello_and_how_long_to_wait_before_a_reconnect(alice, settings):
    settings.LIVE_EVENTS_RETRY_MS = 1500

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get("/events/")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["X-Accel-Buffering"] == "no"
        assert "no-store" in response["Cache-Control"]
        return await read_stream(response, until=lambda text: "event: hello" in text and text.endswith("\n\n"))

    text = asyncio.run(scenario())
    assert text.startswith("retry: 1500\n")
    assert events_of(text)[0][0] == "hello"


def test_an_idle_stream_sends_heartbeats_then_ends_for_a_reconnect(alice, settings):
    settings.LIVE_EVENTS_HEARTBEAT_SECONDS = 0.05
    settings.LIVE_EVENTS_MAX_SECONDS = 0.4

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        return await read_stream(await client.get("/events/"))  # to its end

    text = asyncio.run(scenario())
    assert text.count(": keep-alive\n\n") >= 3
    assert [kind for kind, _, _ in events_of(text)] == ["hello"]


def test_the_stream_carries_turn_and_row_events_of_the_user_only(alice, bob, settings):
    settings.LIVE_EVENTS_INTERVAL_MS = 10
    mine = running_turn(alice, "Mine")
    theirs = running_turn(bob, "Bob's")
    version = reads.stamp(mine.updated_at)

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        # Alice's page names her turn, and (forged) Bob's.
        response = await client.get(f"/events/?t={mine.pk}.{version}&t={theirs.pk}.0&t=junk")

        async def answers():
            await until(lambda: live.watcher().subscribers)  # the stream is open
            await in_thread(finish, theirs)
            await in_thread(finish, mine)

        worker = asyncio.create_task(answers())
        text = await read_stream(response, until=lambda text: '"status":"completed"' in text and text.endswith("\n\n"))
        await worker
        return text

    events = events_of(asyncio.run(scenario()))
    kinds = [(kind, data.get("id")) for kind, data, _ in events]
    assert ("turn", str(mine.pk)) in kinds
    # The ended turn comes with its fragment, as /t/<id>/live/ draws it for Alice.
    ended = next(data for kind, data, _ in events if kind == "turn" and data["status"] == "completed")
    assert f'id="turn-{mine.pk}"' in ended["html"] and "Because." in ended["html"]
    assert 'data-status="completed"' in ended["html"]
    assert str(theirs.pk) not in str(events) and str(theirs.conversation_id) not in str(events)
    assert "Bob's" not in str(events)
    assert all(event_id.isdigit() for _, _, event_id in events)  # hello too: a reconnect resumes from it


def test_a_reconnect_resumes_from_its_last_event_id(alice):
    before = running_turn(alice, "Ended long ago")
    finish(before, when=timezone.now() - timedelta(minutes=10))
    last_seen = reads.stamp(timezone.now() - timedelta(minutes=1))
    missed = running_turn(alice, "Ended while the stream was down")
    finish(missed)

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get("/events/", headers={"Last-Event-ID": str(last_seen)})
        return await read_stream(response, until=lambda text: "event: hello" in text and text.endswith("\n\n"))

    rows = [data for kind, data, _ in events_of(asyncio.run(scenario())) if kind == "conversation"]
    assert [row["title"] for row in rows] == ["Ended while the stream was down"]
    assert rows[0]["running"] is False


def ended_before_the_stream(user) -> list:
    """The first events of a page of `user` drawn while its turn ran, whose answer ended before its stream opened."""
    turn = running_turn(user)
    version = reads.stamp(turn.updated_at)
    loaded = int(timezone.now().timestamp()) - 1
    finish(turn)

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(f"/events/?t={turn.pk}.{version}&since={loaded}")
        return await read_stream(response, until=lambda text: "event: hello" in text and text.endswith("\n\n"))

    return events_of(asyncio.run(scenario()))


def test_a_page_drawn_before_its_answer_ended_is_told_at_once(alice):
    """The answer ended between the page load and its stream: the first events say so."""
    events = ended_before_the_stream(alice)
    assert ("turn", "completed") in [(kind, data.get("status")) for kind, data, _ in events]


def test_an_ended_turn_pushed_brings_the_budget_line_drawn_for_its_user(alice, bob, settings, clock):
    """The fragment of an ended turn carries the composer's money line (out of band): what is left this month."""
    from datetime import UTC, datetime
    from decimal import Decimal

    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("50")
    factories.charge(alice, when=timezone.now() - timedelta(hours=1), cost=Decimal("12.5"))
    factories.charge(bob, when=timezone.now() - timedelta(hours=1), cost=Decimal("40"))
    ended = next(data for kind, data, _ in ended_before_the_stream(alice) if kind == "turn")
    assert '<div class="composer-money" id="composer-money" hx-swap-oob="true"' in ended["html"]
    assert "$37.50 left of your $50.00 monthly budget" in ended["html"]  # Alice's, not Bob's


@pytest.mark.parametrize("value", ["", "x", "-5", "99999999999999999999999", "0b7e3c9a-4f1d-4c2e-9a6b-1d2e3f4a5b6c"])
def test_a_malformed_last_event_id_or_since_is_ignored(alice, value):
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get(f"/events/?since={value}", headers={"Last-Event-ID": value})
        return await read_stream(response, until=lambda text: "event: hello" in text and text.endswith("\n\n"))

    assert events_of(asyncio.run(scenario()))[-1][0] == "hello"


def test_the_watcher_reads_only_after_a_commit(alice, settings, monkeypatch):
    """Between commits it only probes (no table read); a commit is read at the next tick."""
    settings.LIVE_EVENTS_INTERVAL_MS = 10
    monkeypatch.setattr(live, "IDLE_READ_SECONDS", 3600)  # so every read below is the probe's doing
    turn = running_turn(alice)

    async def scenario():
        watcher = live.watcher()
        subscriber = page(alice, turn)
        await watcher.subscribe(subscriber, since=timezone.now())
        await until(lambda: watcher.probes >= 10)  # ticks with nothing committed
        # PostgreSQL's probe (its snapshot) moves with every write of the whole cluster, other
        # databases' too: only SQLite's (this file's commits) can be counted on to stay still.
        quiet = connection.vendor == "sqlite"
        if quiet:
            assert watcher.checks == 1  # the first tick, which had nothing to compare with
        drain(subscriber)
        checks = watcher.checks
        await in_thread(finish, turn)
        await until(lambda: not subscriber.queue.empty())
        if quiet:
            assert watcher.checks == checks + 1
        assert ("turn", "completed") in [(kind, data.get("status")) for kind, data in drain(subscriber)]
        watcher.unsubscribe(subscriber)

    asyncio.run(scenario())


# --- a stream ends with its session (issue 15 item 4) -------------------------------------------


def _sign_out_everywhere(user) -> None:
    from accounts.services import sessions_end_all

    sessions_end_all(user=user)


def _change_password(user) -> None:
    user.set_password("a-New-pass-2468")
    user.save()


def _deactivate(user) -> None:
    type(user).objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize("ending", [_sign_out_everywhere, _change_password, _deactivate])
def test_an_open_stream_ends_soon_after_its_session_does(alice, settings, ending):
    """Before, a stream opened earlier kept delivering titles and answers for LIVE_EVENTS_MAX_SECONDS."""
    settings.LIVE_EVENTS_SESSION_CHECK_SECONDS = 0.05
    settings.LIVE_EVENTS_HEARTBEAT_SECONDS = 0.05

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get("/events/")
        chunks = aiter(response.streaming_content)
        assert "event: hello" in (await anext(chunks)).decode()
        await in_thread(ending, alice)
        # Ends by itself (the deadline: well under the default hour-long LIVE_EVENTS_MAX_SECONDS).
        return await read_stream(response, timeout=5.0)

    text = asyncio.run(scenario())
    assert "event: turn" not in text and "event: row" not in text


def test_a_stream_whose_session_lives_stays_open(alice, settings):
    settings.LIVE_EVENTS_SESSION_CHECK_SECONDS = 0.02
    settings.LIVE_EVENTS_HEARTBEAT_SECONDS = 0.05

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get("/events/")
        # Many session checks later, the heartbeats still come.
        return await read_stream(response, until=lambda text: text.count(": keep-alive") >= 5, timeout=5.0)

    assert asyncio.run(scenario()).count(": keep-alive") >= 5


def test_the_watcher_re_reads_each_sign_in_once_and_ends_only_the_pages_whose_sign_in_is_gone(alice, bob, settings):
    """Before, every stream re-read its own session every 5 s: 200 checks a second at 1,000 streams."""
    from django.contrib.sessions.models import Session
    from django.test.utils import CaptureQueriesContext

    from conversations.live import sessions

    settings.LIVE_EVENTS_INTERVAL_MS = 600_000  # only the re-reads below run
    laptop, phone, bobs = client_for(alice), client_for(alice), client_for(bob)
    keys = {name: c.session.session_key for name, c in (("laptop", laptop), ("phone", phone), ("bob", bobs))}
    owners = {"laptop": alice.pk, "phone": alice.pk, "bob": bob.pk}
    tabs = {"laptop": 5, "phone": 1, "bob": 3}

    with CaptureQueriesContext(connection) as one_each:
        sessions.sign_ins_holding([(keys[n], owners[n]) for n in tabs])
    with CaptureQueriesContext(connection) as every_tab:
        sessions.sign_ins_holding([(keys[n], owners[n]) for n in tabs for _ in range(tabs[n])])
    assert len(every_tab) == len(one_each)  # nine pages, three sign-ins: read once each

    Session.objects.filter(session_key=keys["laptop"]).delete()  # signed out on the laptop

    async def scenario():
        watcher = live.watcher()
        pages = {
            n: [live.Subscriber(user_id=owners[n], turns={}, session_key=keys[n]) for _ in range(tabs[n])] for n in tabs
        }
        for subscriber in [s for each in pages.values() for s in each]:
            await watcher.subscribe(subscriber, since=timezone.now())
        await watcher.check_sessions()
        return {n: [s.signed_out for s in each] for n, each in pages.items()}, watcher.session_checks

    ended, checks = asyncio.run(scenario())
    assert checks == 1
    assert ended == {"laptop": [True] * 5, "phone": [False], "bob": [False] * 3}
