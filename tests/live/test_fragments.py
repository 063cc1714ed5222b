"""What pushing an ended turn to many open pages costs (live/changes.py, live/stream.py, chat/fragments.py).

An ended turn's fragment carries the budget line and the next prompt's estimate (about ten queries).
Every open page of its user is told of the same change: they are drawn once for all of them, not per page.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.live import changes as live
from conversations.live import reads, stream
from conversations.models import Turn
from tests import factories

# Tables read only for the budget line and the estimate (not for the turn's own article).
BUDGET_TABLES = ("conversations_dailyusage", "conversations_userbudget", "conversations_charge")


@pytest.fixture
def watcher():
    loop = asyncio.new_event_loop()
    watcher = live.Watcher(loop)
    yield watcher
    watcher.close(wait=True)
    loop.close()


def request_of(user):
    """A page's stream request: its user and its own session (another tab, another device)."""
    request = RequestFactory().get("/events/")
    request.user, request.session = user, SessionStore()
    return request


def running(user, title: str) -> Turn:
    conversation = factories.conversation(owner=user, title=title, model="openai/gpt-5-pro")
    return factories.turn(conversation=conversation, prompt="Why?", status=Turn.Status.IN_PROGRESS)


def finish(turn: Turn) -> None:
    Turn.objects.filter(pk=turn.pk).update(
        status=Turn.Status.COMPLETED, output_text="Because.", completed_at=timezone.now(), updated_at=timezone.now()
    )


def told(watcher: live.Watcher, pages: list[live.Subscriber], ended: list[Turn]) -> list[live.TurnEvent]:
    """The watcher's check after the turns ended: each page's turn event (its fragment not drawn yet)."""
    for subscriber in pages:
        watcher.subscribers.add(subscriber)
        watcher.running.setdefault(subscriber.user_id, {}).update(
            {turn_id: Turn.objects.get(pk=turn_id).conversation_id for turn_id in subscriber.turns}
        )
    for turn in ended:
        finish(turn)
    watcher.dispatch(reads.read_changes(watcher.plan()), reads.stamp(timezone.now()))
    events = []
    for subscriber in pages:
        while not subscriber.queue.empty():
            message = subscriber.queue.get_nowait()
            if isinstance(message, live.TurnEvent):
                events.append(message)
    assert len(events) == len(pages)
    return events


def draw_all(pages: list[live.Subscriber], events: list[live.TurnEvent], users: dict) -> tuple[list[str], list[str]]:
    """Each page's stream draws its fragment, as stream._with_fragment does; the SQL run and the fragments."""
    with CaptureQueriesContext(connection) as queries:
        html = [
            stream.draw_turn(request_of(users[page.user_id]), event.data["id"], event.shared)
            for page, event in zip(pages, events, strict=True)
        ]
    assert all('id="composer-money" hx-swap-oob="true"' in fragment for fragment in html)
    return [q["sql"] for q in queries.captured_queries], html


def budget_reads(sql: list[str]) -> int:
    return sum(1 for statement in sql if any(table in statement for table in BUDGET_TABLES))


def test_the_budget_and_estimate_of_an_ended_turn_are_drawn_once_for_all_the_pages_of_its_user(
    alice, bob, watcher, settings, clock
):
    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("50")
    factories.charge(alice, when=timezone.now() - timedelta(hours=1), cost=Decimal("12.5"))
    factories.charge(bob, when=timezone.now() - timedelta(hours=1), cost=Decimal("30"))
    users = {alice.pk: alice, bob.pk: bob}

    first = running(alice, "One page")
    one = live.Subscriber(user_id=alice.pk, turns={first.pk: 0})
    single, _ = draw_all([one], told(watcher, [one], [first]), users)
    assert budget_reads(single) >= 3  # the budget, this month's spend, the recent answers of the model

    # Six open pages of Alice's on the next answer (tabs, devices), two of Bob's on his, ending together.
    hers, his = running(alice, "Six pages"), running(bob, "Two pages")
    pages = [live.Subscriber(user_id=alice.pk, turns={hers.pk: 0}) for _ in range(6)]
    pages += [live.Subscriber(user_id=bob.pk, turns={his.pk: 0}) for _ in range(2)]
    sql, html = draw_all(pages, told(watcher, pages, [hers, his]), users)

    # Once per user, not once per page: Alice's six pages read her budget as one page did, Bob's once more.
    assert budget_reads(sql) == 2 * budget_reads(single)
    # Each further page costs only its turn's own article (the turn, its versions, its model's label, its files).
    assert len(sql) <= 2 * len(single) + 6 * 4
    # Each page got its own user's figures.
    assert all("$37.50 left of your $50.00 monthly budget" in fragment for fragment in html[:6])
    assert all("$20.00 left of your $50.00 monthly budget" in fragment for fragment in html[6:])


def test_a_shared_draw_is_never_used_for_another_users_page(alice, bob, settings, clock):
    """Defence in depth: a Shared of Alice's handed to Bob's page is ignored; Bob sees his own budget."""
    from conversations.chat.fragments import Shared, turn_html

    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    settings.BUDGET_MONTHLY_USD = Decimal("50")
    factories.charge(alice, when=timezone.now() - timedelta(hours=1), cost=Decimal("12.5"))
    hers, his = running(alice, "Hers"), running(bob, "His")
    finish(hers), finish(his)
    shared = Shared(alice.pk)
    assert "$37.50 left" in turn_html(request_of(alice), Turn.objects.get(pk=hers.pk), shared)
    drawn = turn_html(request_of(bob), Turn.objects.get(pk=his.pk), shared)
    assert "$50.00 left of your $50.00 monthly budget" in drawn and "$37.50" not in drawn


def test_a_read_draws_only_the_sidebar_rows_not_told_yet(alice, watcher, monkeypatch, clock):
    """Each read's window overlaps the last one: a row already told in its version is not drawn again."""
    from conversations.templatetags import history

    clock(datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    drawn = []
    draw = history.sidebar_rows
    monkeypatch.setattr(history, "sidebar_rows", lambda context, rows: drawn.extend(rows) or draw(context, rows))
    page = live.Subscriber(user_id=alice.pk, turns={})
    watcher.subscribers.add(page)
    watcher.running[alice.pk] = {}
    watcher.checked_at = timezone.now()
    talk = factories.conversation(owner=alice, title="Overlap")

    def check() -> list[dict]:
        watcher.dispatch(reads.read_changes(watcher.plan()), reads.stamp(timezone.now()))
        messages = []
        while not page.queue.empty():
            messages.append(page.queue.get_nowait())
        return messages

    first = check()
    assert len(first) == 1 and '"title":"Overlap"' in first[0] and [row.pk for row in drawn] == [talk.pk]
    assert check() == [] and len(drawn) == 1  # read again in the overlap: not drawn, not told
    talk.title = "Overlap, renamed"
    talk.save(update_fields=["title"])
    renamed = check()
    assert len(renamed) == 1 and '"title":"Overlap, renamed"' in renamed[0] and len(drawn) == 2
