"""The sidebar list: every conversation reachable page by page, groups, pin, archive, delete, few queries."""

import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.chat import selectors, services
from conversations.models import Charge, Conversation, Turn
from tests import factories

ROW = re.compile(r'class="conversation-row" data-id="([0-9a-f-]{36})"')
MORE = re.compile(r'href="(/conversations/\?after=[^"]+)"')


def make(owner, title="Chat", *, at=None, turns=1, status="completed"):
    at = at or timezone.now()
    conversation = factories.conversation(owner=owner, title=title, updated_at=at)
    for i in range(turns):
        factories.turn(
            conversation=conversation,
            prompt=f"{title} prompt {i}",
            status=status if i == turns - 1 else "completed",
            output_text=f"{title} answer {i}",
            output_html=f"<p>{title} answer {i}</p>",
            created_at=at - timedelta(seconds=turns - i),
        )
    return conversation


def rows(html: str) -> list[str]:
    return ROW.findall(html)


def scroll_all(client) -> list[str]:
    """Every row the sidebar shows, loading pages as the script does (with the HX-Request header)."""
    page = client.get("/").content.decode()
    seen = rows(page)
    more = MORE.search(page)
    while more:
        fragment = client.get(more.group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200
        html = fragment.content.decode()
        assert "<html" not in html  # a fragment, not a page
        seen += rows(html)
        more = MORE.search(html)
    return seen


def test_every_conversation_is_reachable_by_scrolling(alice_client, alice, bob):
    now = timezone.now()
    mine = [make(alice, f"Chat {i}", at=now - timedelta(minutes=i)) for i in range(130)]
    make(bob, "Bob's", at=now)
    seen = scroll_all(alice_client)
    assert seen == [str(c.id) for c in mine]  # newest first, each once, none of Bob's


def test_equal_times_are_neither_skipped_nor_repeated(alice_client, alice):
    """The keyset is (updated_at, id): conversations sharing a time across a page edge all appear once."""
    at = timezone.now()
    made = [make(alice, f"Same {i}", at=at) for i in range(120)]
    seen = scroll_all(alice_client)
    assert sorted(seen) == sorted(str(c.id) for c in made)
    assert len(seen) == len(set(seen))


def test_pages_use_a_keyset_never_offset(alice_client, alice):
    for i in range(60):
        make(alice, f"Chat {i}", at=timezone.now() - timedelta(minutes=i))
    after = MORE.search(alice_client.get("/").content.decode()).group(1).replace("&amp;", "&")
    with CaptureQueriesContext(connection) as queries:
        alice_client.get(after, HTTP_HX_REQUEST="true")
    listing = [q["sql"] for q in queries.captured_queries if "conversations_conversation" in q["sql"]]
    assert listing and not any("OFFSET" in sql.upper() for sql in listing)
    # Neither counting nor grouping the user's turns: an indexed probe per row instead.
    assert not any("COUNT(" in sql.upper() or "GROUP BY" in sql.upper() for sql in listing)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan text")
def test_the_running_flag_probes_the_partial_unique_index(alice):
    query = selectors._list_rows(alice).order_by("-updated_at", "-id")[:50]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "one_active_turn_per_conversation" in plan
    assert "conv_owner_list" in plan


def test_the_sidebar_is_pinned_first_then_a_page_of_the_rest(alice, bob):
    now = timezone.now()
    for i in range(selectors.LIST_PAGE + 2):
        make(alice, f"Other {i}", at=now - timedelta(minutes=i), status="queued" if i == 1 else "completed")
    pins = [make(alice, f"Pinned {i}", at=now - timedelta(days=30 + i)) for i in range(3)]
    for i, conversation in enumerate(pins):  # pinned in turn: the last pinned first
        Conversation.objects.filter(pk=conversation.pk).update(pinned_at=now - timedelta(hours=3 - i))
    make(bob, "Not mine", at=now)
    archived = make(alice, "Archived", at=now)
    Conversation.objects.filter(pk=archived.pk).update(archived_at=now)
    with CaptureQueriesContext(connection) as queries:
        pinned, page = selectors.conversations_sidebar(user=alice)
    assert len(queries) == 2
    assert [c.title for c in pinned] == ["Pinned 2", "Pinned 1", "Pinned 0"]
    listed = [c.title for _, group in page.groups for c in group]
    assert listed == [f"Other {i}" for i in range(selectors.LIST_PAGE)]  # newest first, one page
    assert page.cursor and page.groups[0][0] == "Today"
    flags = [c.running for _, group in page.groups for c in group][:3] + [c.running for c in pinned]
    assert flags == [False, True, False, False, False, False]  # the running flag, read with the rows
    rest = selectors.conversation_list(user=alice, after=page.cursor, group=page.last_group)
    assert [c.title for _, group in rest.groups for c in group] == ["Other 50", "Other 51"] and not rest.cursor
    if connection.vendor == "sqlite":  # each reads its own partial index (SQLite's plan text)
        plans = []
        for query in queries:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                plans.append(" ".join(str(row) for row in cursor.fetchall()))
        assert "conv_owner_pinned" in plans[0] and "conv_owner_list" in plans[1]


def test_a_row_shows_title_time_and_a_running_answer(alice_client, alice):
    idle = make(alice, "Idle one")
    running = make(alice, "Busy one", status="in_progress")
    page = alice_client.get("/").content.decode()
    busy_row = page[page.index(f'data-id="{running.id}"') :].split("</div>", 1)[0]
    idle_row = page[page.index(f'data-id="{idle.id}"') :].split("</div>", 1)[0]
    assert "badge-working" in busy_row and "badge-working" not in idle_row
    assert "Busy one" in busy_row and '<time class="conversation-time" datetime="' in busy_row
    assert timezone.localtime(running.updated_at).strftime("%H:%M") in busy_row


def test_groups_follow_the_time_zone(settings, alice):
    settings.TIME_ZONE = "America/New_York"
    zone = timezone.get_default_timezone()
    now = timezone.make_aware(datetime(2026, 11, 20, 10, 0), zone)
    ages = {
        "Today": timedelta(hours=9, minutes=59),  # 00:01 local, 05:01 UTC
        "Yesterday": timedelta(hours=10, minutes=1),  # 23:59 local the day before, 04:59 UTC today
        "Previous 7 days": timedelta(days=6),
        "Previous 30 days": timedelta(days=20),
        "September 2026": timedelta(days=70),
        "November 2025": timedelta(days=365),
    }
    for label, age in ages.items():
        make(alice, label, at=now - age)
    page = selectors.conversation_list(user=alice, now=now)
    assert [(label, [c.title for c in rows]) for label, rows in page.groups] == [(label, [label]) for label in ages]


def test_a_page_continuing_a_group_does_not_repeat_its_heading(alice_client, alice):
    now = timezone.now()
    for i in range(70):
        make(alice, f"Today {i}", at=now - timedelta(seconds=i))
    first = alice_client.get("/").content.decode()
    assert first.count(">Today</h2>") == 1
    second = alice_client.get(MORE.search(first).group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true")
    assert "<h2" not in second.content.decode()
    assert len(rows(second.content.decode())) == 20


def test_the_more_link_works_without_javascript(alice_client, alice):
    for i in range(55):
        make(alice, f"Chat {i}", at=timezone.now() - timedelta(minutes=i))
    first = alice_client.get("/").content.decode()
    page = alice_client.get(MORE.search(first).group(1).replace("&amp;", "&"))
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html and "Earlier conversations" in html
    assert "Chat 54" in html
    assert "Vary" in page and "HX-Request" in page["Vary"]


@pytest.mark.parametrize("cursor", ["nonsense", "1_zz", "99999999999999999_" + "0" * 32, ""])
def test_a_broken_cursor_is_a_clear_message(alice_client, alice, cursor):
    make(alice, "Chat")
    fragment = alice_client.get(f"/conversations/?after={cursor}x", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 400
    assert "not valid any more" in fragment.content.decode()
    page = alice_client.get(f"/conversations/?after={cursor}x", follow=True)
    assert page.status_code == 200 and "not valid any more" in page.content.decode()


def test_pin_puts_it_first_and_unpin_puts_it_back(alice_client, alice):
    now = timezone.now()
    old = make(alice, "Old but important", at=now - timedelta(days=90))
    for i in range(3):
        make(alice, f"Recent {i}", at=now - timedelta(minutes=i))
    response = alice_client.post(reverse("conversation_pin", args=[old.id]), {"next": "/"})
    assert response.status_code == 302 and response.url == "/"
    page = alice_client.get("/").content.decode()
    assert rows(page)[0] == str(old.id) and rows(page).count(str(old.id)) == 1
    assert page.index(">Pinned</h2>") < page.index("Old but important") < page.index(">Today</h2>")
    old.refresh_from_db()
    assert old.pinned_at and old.updated_at == now - timedelta(days=90)  # pinning does not reorder
    alice_client.post(reverse("conversation_unpin", args=[old.id]))
    page = alice_client.get("/").content.decode()
    assert ">Pinned</h2>" not in page and rows(page)[-1] == str(old.id)


def test_archive_hides_it_search_finds_it_and_one_click_brings_it_back(alice_client, alice):
    kept = make(alice, "Kept")
    gone = make(alice, "Quarterly numbers")
    response = alice_client.post(reverse("conversation_archive", args=[gone.id]), follow=True)
    assert "Archived “Quarterly numbers”" in response.content.decode()
    assert rows(alice_client.get("/").content.decode()) == [str(kept.id)]
    # Hidden from a plain search too; the Archived filter finds it, with an Unarchive button.
    assert "Quarterly" not in alice_client.get("/search/?q=quarterly").content.decode().split("search-results")[-1]
    found = alice_client.get("/search/?archived=only").content.decode()
    assert "Quarterly numbers" in found and reverse("conversation_unarchive", args=[gone.id]) in found
    assert "<mark>Quarterly</mark> numbers" in alice_client.get("/search/?q=quarterly&archived=only").content.decode()
    alice_client.post(reverse("conversation_unarchive", args=[gone.id]), {"next": "/search/?archived=only"})
    assert set(rows(alice_client.get("/").content.decode())) == {str(kept.id), str(gone.id)}


def test_archiving_a_pinned_conversation_unpins_it(alice):
    conversation = make(alice, "Both")
    services.conversation_pin(conversation=conversation)
    services.conversation_archive(conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.archived_at and conversation.pinned_at is None
    assert selectors.conversations_sidebar(user=alice)[0] == []


def test_delete_asks_first_and_says_what_goes_and_what_stays(alice_client, alice):
    conversation = make(alice, "Doomed", turns=3)
    Turn.objects.filter(conversation=conversation).update(cost_usd=Decimal("0.5"))
    turn = conversation.turns.first()
    Charge.objects.create(
        user=alice, username="alice", conversation=conversation, turn=turn, model="m", status="completed",
        cost_usd=Decimal("1.5"),
    )  # fmt: skip
    page = alice_client.get(reverse("conversation_delete", args=[conversation.id])).content.decode()
    assert "Delete “Doomed”?" in page
    assert "Its 3 prompts and their answers will be deleted for good" in page
    assert "$1.5000" in page and "usage ledger" in page
    assert Conversation.objects.filter(id=conversation.id).exists()  # asking deletes nothing
    alice_client.post(reverse("conversation_delete", args=[conversation.id]))
    assert not Conversation.objects.filter(id=conversation.id).exists()
    charge = Charge.objects.get()
    assert charge.cost_usd == Decimal("1.5") and charge.conversation_id is None  # the spend stays


def test_the_conversation_page_confirms_delete_with_what_goes(alice_client, alice):
    conversation = make(alice, "Counted", turns=2)
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'data-confirm="Its 2 prompts and their answers' in page


def test_rename_goes_back_to_the_page_it_was_on_and_only_there(alice_client, alice):
    conversation = make(alice, "Old title")
    url = reverse("conversation_rename", args=[conversation.id])
    response = alice_client.post(url, {"title": "New title", "next": "/search/?q=x"})
    assert response.url == "/search/?q=x"
    response = alice_client.post(url, {"title": "Newer", "next": "https://evil.example/"})
    assert response.url == conversation.get_absolute_url()
    conversation.refresh_from_db()
    assert conversation.title == "Newer"


@pytest.mark.parametrize(
    "name", ["conversation_pin", "conversation_unpin", "conversation_archive", "conversation_unarchive"]
)
def test_organising_another_users_conversation_is_404(client, alice, bob, name):
    conversation = make(alice, "Alice's")
    client.force_login(bob)
    assert client.post(reverse(name, args=[conversation.id])).status_code == 404
    assert client.get(reverse("conversation_delete", args=[conversation.id])).status_code == 404
    assert client.get(reverse(name, args=[conversation.id])).status_code == 405
    conversation.refresh_from_db()
    assert conversation.pinned_at is None and conversation.archived_at is None


def test_the_old_search_address_goes_to_the_search_page(alice_client, alice):
    response = alice_client.get("/?q=hello")
    assert response.status_code == 302 and response.url == "/search/?q=hello"


def _queries(django_assert_max_num_queries, client, url, limit, **extra):
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(url, **extra)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_queries_per_page_do_not_grow_with_conversations_or_turns(alice_client, alice, django_assert_max_num_queries):
    """Home and the list fragment: the same number of queries for 3 conversations as for 80 with 5 turns each."""
    now = timezone.now()
    for i in range(3):
        make(alice, f"Few {i}", at=now - timedelta(days=i), turns=1)
    few = [
        # The sign-in (2), the catalogue, the hold's recent answers, the sidebar (2), the budget.
        _queries(django_assert_max_num_queries, alice_client, "/", 7),
        _queries(django_assert_max_num_queries, alice_client, "/conversations/", 6, HTTP_HX_REQUEST="true"),
    ]
    for i in range(80):
        make(
            alice, f"Many {i}", at=now - timedelta(days=i, hours=1), turns=5, status="queued" if i % 7 else "completed"
        )
    services.conversation_pin(conversation=Conversation.objects.filter(owner=alice).last())
    after = MORE.search(alice_client.get("/").content.decode()).group(1).replace("&amp;", "&")
    many = [
        _queries(django_assert_max_num_queries, alice_client, "/", 7),
        _queries(django_assert_max_num_queries, alice_client, after, 6, HTTP_HX_REQUEST="true"),
    ]
    assert many == few


def test_a_new_conversation_row_is_escaped(alice_client, alice):
    make(alice, '<img src=x onerror="alert(1)">')
    page = alice_client.get("/").content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_cursor_round_trip():
    cursor = selectors.Cursor(timezone.now().replace(microsecond=123456), uuid.uuid4())
    assert selectors.Cursor.decode(cursor.encode()) == cursor


# --- A long conversation: the newest turns, earlier ones on demand, one shared action form ---------

TURN = re.compile(r'<article class="turn [^"]*" id="turn-([0-9a-f-]{36})"')
EARLIER = re.compile(r'href="(/c/[0-9a-f-]{36}/turns/\?before=[^"]+)"')
ANSWER = "## A realistic answer\n\n" + "Some explanation with `code` and **emphasis**, in a longer paragraph. " * 30


def long_conversation(owner, turns=200, answer_html=None):
    conversation = factories.conversation(owner=owner, title="Long one")
    start = timezone.now() - timedelta(days=1)
    html = answer_html or "<h2>A realistic answer</h2><p>" + ("Some explanation, <code>code</code>. " * 60) + "</p>"
    made = Turn.objects.bulk_create(
        [
            Turn(
                conversation=conversation,
                prompt=f"Question {i}:\n    indented <b>line</b> & more",
                status="completed",
                output_text=ANSWER,
                output_html=html,
                input_tokens=1000,
                output_tokens=2000,
                total_tokens=3000,
                cost_usd=Decimal("0.3"),
                created_at=start + timedelta(minutes=i),
                started_at=start + timedelta(minutes=i),
                completed_at=start + timedelta(minutes=i, seconds=90),
            )
            for i in range(turns)
        ]
    )
    # One line: each turn follows the one before it (bulk_create does not do it for us).
    for previous, turn in zip(made, made[1:], strict=False):
        turn.parent_id = previous.id
    Turn.objects.bulk_update(made, ["parent"], batch_size=500)
    return conversation


def test_a_long_conversation_shows_its_newest_turns_and_every_earlier_one_on_demand(alice_client, alice):
    conversation = long_conversation(alice, 200)
    expected = [str(t) for t in conversation.turns.order_by("created_at").values_list("id", flat=True)]
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    shown = TURN.findall(html)
    assert shown == expected[-selectors.TURNS_PAGE :]
    link = EARLIER.search(html)
    while link:
        fragment = alice_client.get(link.group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true").content.decode()
        assert "<html" not in fragment
        shown = TURN.findall(fragment) + shown
        link = EARLIER.search(fragment)
    assert shown == expected


def test_earlier_turns_without_javascript(alice_client, alice):
    size = selectors.TURNS_PAGE
    conversation = long_conversation(alice, size * 2 + 5)
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    page = alice_client.get(EARLIER.search(html).group(1).replace("&amp;", "&"))
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html and "Show the newest messages" in html
    assert len(TURN.findall(html)) == size and f"Question {5}:" in html and f"Question {size + 5}:" not in html
    bad = alice_client.get(f"/c/{conversation.id}/turns/?before=garbage", follow=True)
    assert "not valid any more" in bad.content.decode()


def test_a_link_to_an_early_turn_loads_everything_through_it(alice_client, alice):
    conversation = long_conversation(alice, 120)
    target = conversation.turns.order_by("created_at")[10]
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    before = EARLIER.search(html).group(1).replace("&amp;", "&")
    fragment = alice_client.get(f"{before}&through={target.id}", HTTP_HX_REQUEST="true").content.decode()
    ids = TURN.findall(fragment)
    assert ids[0] == str(target.id) and len(ids) == 120 - 10 - selectors.TURNS_PAGE
    assert EARLIER.search(fragment)  # the first ten are still further up
    other = make(alice, "Other")
    fragment = alice_client.get(f"{before}&through={other.turns.get().id}", HTTP_HX_REQUEST="true")
    assert len(TURN.findall(fragment.content.decode())) == selectors.TURNS_PAGE  # not this conversation's: ignored


def test_a_running_early_turn_is_on_the_page_and_the_composer_queues_after_it(alice_client, alice):
    conversation = long_conversation(alice, 100)
    early = conversation.turns.order_by("created_at")[5]
    Turn.objects.filter(id=early.id).update(status="queued")  # retried
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    ids = TURN.findall(html)
    assert ids[0] == str(early.id) and len(ids) == 95
    # Send stays usable: what is sent now waits and goes right after the running answer.
    assert 'id="send-button" title="Queued: sent right after the answer being written"' in html


def test_one_form_serves_every_turn_and_editors_are_fetched(alice_client, alice):
    conversation = long_conversation(alice, 200)
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert html.count('form="turn-actions"') == selectors.TURNS_PAGE  # a Regenerate button per turn shown
    assert html.count("<form") < 12 and html.count("csrfmiddlewaretoken") < 12
    assert html.count("<textarea") == 2  # the composer and the settings' instructions; editors are fetched
    turn = conversation.turns.order_by("-created_at").first()
    editor = alice_client.get(reverse("turn_edit", args=[turn.id]), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in editor and 'name="client_token"' in editor and "csrfmiddlewaretoken" in editor
    assert f">{turn.prompt.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</textarea>" in editor
    page = alice_client.get(reverse("turn_edit", args=[turn.id])).content.decode()
    assert "<html" in page and "Send edited prompt" in page


def test_regenerate_retry_and_stop_go_through_the_shared_form(alice_client, alice):
    conversation = long_conversation(alice, 3)
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    shared = re.search(r'<form method="post" id="turn-actions" hidden>(.*?)</form>', html).group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]+)"', shared))
    assert set(fields) == {"csrfmiddlewaretoken", "client_token"}
    last = conversation.turns.order_by("-created_at").first()
    assert f'formaction="{reverse("turn_regenerate", args=[last.id])}"' in html
    alice_client.post(reverse("turn_regenerate", args=[last.id]), fields)
    alice_client.post(reverse("turn_regenerate", args=[last.id]), fields)  # a double click: one new turn
    assert conversation.turns.count() == 4
    newest = conversation.turns.order_by("-created_at").first()
    assert newest.status == "queued" and str(newest.client_token) == fields["client_token"]
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert f'formaction="{reverse("turn_cancel", args=[newest.id])}"' in html
    alice_client.post(reverse("turn_cancel", args=[newest.id]), {"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]})
    newest.refresh_from_db()
    assert newest.status == "cancelled"


def test_another_users_turns_and_editor_are_404(client, alice, bob):
    conversation = long_conversation(alice, 2)
    client.force_login(bob)
    assert client.get(reverse("conversation_turns", args=[conversation.id]), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(reverse("turn_edit", args=[conversation.turns.first().id])).status_code == 404


def test_a_200_turn_page_is_compressed_and_small(alice_client, alice):
    conversation = long_conversation(alice, 200)
    response = alice_client.get(conversation.get_absolute_url(), HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    assert len(response.content) < 300_000 / 4  # on the wire; the page itself is well under 300 KB
    plain = alice_client.get(conversation.get_absolute_url())
    assert "Content-Encoding" not in plain and len(plain.content) < 300_000
    # The list fragment and search answer compressed too.
    for url, extra in (("/conversations/", {"HTTP_HX_REQUEST": "true"}), ("/search/?q=explanation", {})):
        response = alice_client.get(url, HTTP_ACCEPT_ENCODING="gzip", **extra)
        assert response.status_code == 200
        assert len(response.content) < 200 or response["Content-Encoding"] == "gzip"


def test_the_conversation_page_makes_the_same_queries_for_20_and_200_turns(
    alice_client, alice, django_assert_max_num_queries
):
    counts = []
    for turns in (20, 200):
        conversation = long_conversation(alice, turns)
        for url, extra in (
            (conversation.get_absolute_url(), {}),
            (reverse("conversation_turns", args=[conversation.id]) + "?before=" + _first_cursor(conversation), {}),
        ):
            extra = {"HTTP_HX_REQUEST": "true"} if "turns/" in url else {}
            # 14, and the composer's estimate (usage/budgets.composer_cost): the model, the path, its last
            # usage, the hold's indexed read of recent answers; attachments (issue 18): the shown turns' files
            # (one prefetch) and the model's row for the composer's Attach. Since: the catalogue read
            # whole once, the header's usage read with the tree (17).
            with django_assert_max_num_queries(17) as captured:
                assert alice_client.get(url, **extra).status_code == 200
            counts.append(len(captured.captured_queries))
    assert counts[:2] == counts[2:]


def test_the_pages_usage_read_with_its_tree_is_conversation_usage(alice_client, alice):
    """The header's tokens and cost, summed from the tree's read, are what conversation_usage sums."""
    conversation = long_conversation(alice, 4)
    turns = list(conversation.turns.order_by("created_at"))
    Turn.objects.filter(pk=turns[0].pk).update(total_tokens=1200, cost_usd=Decimal("0.0125"), output_tokens=300)
    Turn.objects.filter(pk=turns[1].pk).update(total_tokens=None, cost_usd=None, output_tokens=None)  # no usage
    Turn.objects.filter(pk=turns[2].pk).update(imported=True, total_tokens=99_000, cost_usd=Decimal("9"))
    Turn.objects.filter(pk=turns[3].pk).update(total_tokens=800, cost_usd=Decimal("0.0075"), output_tokens=None)
    page = selectors.conversation_turns_page(conversation=conversation)
    assert page.usage == selectors.conversation_usage(conversation=conversation)
    assert page.usage["total_tokens"] == 2000 and page.usage["cost_usd"] == Decimal("0.02")
    assert page.usage["turns"] == 4 and page.usage["output_tokens"] == 300
    header = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert "2,000 tokens" in header and "$0.0200" in header  # not the imported turn's 99,000
    empty = factories.conversation(owner=alice, title="Nothing yet")
    assert selectors.conversation_turns_page(conversation=empty).usage == selectors.conversation_usage(
        conversation=empty
    )


def _first_cursor(conversation) -> str:
    newest = conversation.turns.order_by("-created_at", "-id").first()
    return selectors.Cursor(newest.created_at, newest.id).encode()
