"""Full-text search: what it finds, how it ranks, snippets, filters, the index kept in step, bad input."""

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from conversations.chat import services
from conversations.history import search, search_filters, search_groups, search_index, search_query, search_sqlite
from conversations.models import Conversation, Turn
from tests import factories

HIT = re.compile(r'<a class="hit-link" href="([^"]+)">')


def make(owner, title, prompt, answer="", *, status="completed", at=None, model="openai/gpt-5-pro", cost=None):
    at = at or timezone.now()
    conversation = factories.conversation(owner=owner, title=title, model=model, created_at=at, updated_at=at)
    turn = factories.turn(
        conversation=conversation,
        prompt=prompt,
        status=status,
        output_text=answer,
        output_html=f"<p>{answer}</p>",
        cost_usd=cost,
        created_at=at,
    )
    return turn


def found(user, text, **filters):
    results = search.find(user=user, text=text, filters=search_filters.Filters(**filters))
    return [(hit.conversation.title, hit.turn.prompt if hit.turn else None) for hit in results.hits]


def page(client, query: str):
    response = client.get("/search/?" + query)
    assert response.status_code in (200, 400), response.status_code
    return response, response.content.decode()


def test_finds_titles_prompts_and_answers_of_my_own_conversations_only(alice, bob):
    make(alice, "Garden plans", "When should I plant tulips?", "In autumn, before the ground freezes.")
    make(alice, "Cooking", "A risotto recipe", "Toast the arborio rice first.")
    make(bob, "Bob's garden", "tulips again", "Bob's private tulip answer")
    assert found(alice, "tulips") == [("Garden plans", "When should I plant tulips?")]
    assert found(alice, "arborio") == [("Cooking", "A risotto recipe")]
    assert found(alice, "garden") == [("Garden plans", None)]  # the title
    assert found(alice, "freezes autumn") == [("Garden plans", "When should I plant tulips?")]
    assert found(alice, "private") == []


def test_the_owner_word_cannot_be_searched_for(alice, bob):
    make(alice, "Secret", "alice only text", "nothing")
    make(bob, "Mine", "bob text", "nothing")
    # The index keeps the owner as a word "u<id>" in a column of its own; a user's words never look there.
    assert found(bob, f"u{alice.pk}") == [] and found(bob, f"owner u{alice.pk}") == []
    assert found(alice, f"u{alice.pk}") == []


def test_results_rank_by_relevance_then_recency(alice):
    now = timezone.now()
    make(alice, "One", "kiwi", "kiwi kiwi kiwi kiwi", at=now - timedelta(days=3))
    make(alice, "Two", "a fruit", "a long answer that mentions kiwi once among many other words " * 3, at=now)
    make(alice, "Three", "kiwi", "kiwi kiwi kiwi kiwi", at=now - timedelta(days=1))
    assert [title for title, _ in found(alice, "kiwi")] == ["Three", "One", "Two"]


def test_a_result_links_to_its_turn_and_highlights_the_words_escaped(alice_client, alice):
    turn = make(alice, "XSS <b>bold</b>", "html?", 'Use <script>alert("x")</script> never; wombat & co')
    response, html = page(alice_client, "q=wombat")
    assert HIT.findall(html) == [f"/c/{turn.conversation_id}/?turn={turn.id}#turn-{turn.id}"]
    assert "<mark>wombat</mark> &amp; co" in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "XSS &lt;b&gt;bold&lt;/b&gt;" in html


def test_a_snippet_is_a_window_around_the_match(alice):
    long_answer = "filler " * 400 + "the needle is here " + "after " * 400
    make(alice, "Long", "question", long_answer)
    hit = search.find(user=alice, text="needle").hits[0]
    snippet = str(hit.snippet_html)
    assert hit.snippet_label == "Answer"
    assert "<mark>needle</mark>" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 400


def test_markdown_markers_do_not_show_in_snippets(alice):
    make(alice, "Md", "q", "## Heading\n\n**Bold zebra** and `code` and [a link](https://example.com)")
    snippet = str(search.find(user=alice, text="zebra").hits[0].snippet_html)
    assert snippet == "Heading Bold <mark>zebra</mark> and code and a link"


def test_accents_case_prefixes_phrases_exclusions_and_or(alice):
    make(alice, "A", "Café crème", "Über große Straßen")
    make(alice, "B", "plain cafe", "quick brown fox")
    make(alice, "C", "brown quick", "fox")
    if connection.vendor == "sqlite":  # PostgreSQL's "simple" configuration keeps accents (README)
        assert {t for t, _ in found(alice, "cafe")} == {"A", "B"}
        assert {t for t, _ in found(alice, "CAFÉ")} == {"A", "B"}
        assert {t for t, _ in found(alice, "uber")} == {"A"}
    assert {t for t, _ in found(alice, "CAFÉ crème")} == {"A"}
    assert {t for t, _ in found(alice, '"quick brown"')} == {"B"}
    assert {t for t, _ in found(alice, "quick brown")} == {"B", "C"}
    assert {t for t, _ in found(alice, "fox -plain")} == {"C"}
    assert {t for t, _ in found(alice, "bro*")} == {"B", "C"}
    assert {t for t, _ in found(alice, "crème OR plain")} == {"A", "B"}
    hit = search.find(user=alice, text="bro*").hits[0]
    assert "<mark>brown</mark>" in str(hit.snippet_html)


def test_the_index_follows_every_write(alice, bob):
    conversation = services.conversation_create(owner=alice, prompt="What is a quokka?").conversation
    turn = conversation.turns.get()
    assert found(alice, "quokka") == [("What is a quokka?", "What is a quokka?")]
    # A running answer is indexed once it is done.
    Turn.objects.filter(id=turn.id).update(status="in_progress", output_text="A small marsupial")
    assert found(alice, "marsupial") == []
    Turn.objects.filter(id=turn.id).update(status="completed")
    assert len(found(alice, "marsupial")) == 1
    # Edited answer text (a retry, a late result): the old words go, the new ones come.
    Turn.objects.filter(id=turn.id).update(output_text="A cheerful wallaby relative")
    assert found(alice, "marsupial") == [] and len(found(alice, "wallaby")) == 1
    services.conversation_update(conversation=conversation, title="Rottnest notes")
    assert found(alice, "rottnest") == [("Rottnest notes", None)]
    assert found(alice, "quokka") == [("Rottnest notes", "What is a quokka?")]
    turn.delete()
    assert found(alice, "wallaby") == [] and found(alice, "rottnest") == [("Rottnest notes", None)]
    services.conversation_delete(conversation=conversation)
    assert found(alice, "rottnest") == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM conversations_searchrow")
            assert cursor.fetchone() == (0,)
            cursor.execute("INSERT INTO conversations_fts (conversations_fts) VALUES ('integrity-check')")


def test_imported_rows_written_in_bulk_are_indexed(alice):
    conversation = factories.conversation(owner=alice, title="Bulk", model="m")
    Turn.objects.bulk_create(
        [Turn(conversation=conversation, prompt=f"bulk prompt {i} platypus", status="completed") for i in range(30)]
    )
    [hit] = search.find(user=alice, text="platypus").hits  # one result per conversation
    assert hit.matches == 30 and len(hit.snippets) == search_groups.SNIPPETS


def test_search_rebuild_restores_a_wiped_index(alice):
    make(alice, "Kept", "numbat facts", "a numbat eats termites")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO conversations_fts (conversations_fts) VALUES ('delete-all')")
            cursor.execute("DELETE FROM conversations_searchrow")
        assert found(alice, "numbat") == []
    out = StringIO()
    call_command("search_rebuild", stdout=out)
    assert "Search index rebuilt" in out.getvalue() and "2 titles and messages" in out.getvalue()
    assert found(alice, "termites") == [("Kept", "numbat facts")]
    assert found(alice, "kept") == [("Kept", None)]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite rebuilds tables in migrations")
def test_a_migration_that_rebuilds_the_tables_keeps_search_working(alice, transactional_db):
    """Django rebuilds a SQLite table for many field changes (new__x, DROP, RENAME): that must not fail,
    and the triggers the DROP took with it come back after migrate."""
    make(alice, "Before", "echidna", "spiny")
    with connection.schema_editor() as editor:
        editor._remake_table(Conversation)
        editor._remake_table(Turn)
    search_index.after_migrate(sender=None)
    make(alice, "After", "echidna too", "spiny again")
    assert {t for t, _ in found(alice, "echidna")} == {"Before", "After"}


def test_filters(alice):
    now = timezone.now()
    make(alice, "Old", "budget report", "", at=now - timedelta(days=40), cost=Decimal("0.05"))
    make(alice, "Failed", "budget failed", "", status="failed", at=now - timedelta(days=2))
    make(alice, "Pricey", "budget pricey", "ok", at=now, cost=Decimal("2.50"), model="openai/gpt-5")
    archived = make(alice, "Archived", "budget archived", "ok", at=now)
    services.conversation_archive(conversation=archived.conversation)
    titles = lambda **f: sorted(t for t, _ in found(alice, "budget", **f))  # noqa: E731
    assert titles() == ["Failed", "Old", "Pricey"]
    assert titles(status="failed") == ["Failed"]
    assert titles(min_cost=Decimal("1")) == ["Pricey"]
    assert titles(min_cost=Decimal("0.01")) == ["Old", "Pricey"]
    assert titles(model="openai/gpt-5") == ["Pricey"]
    assert titles(date_from=(now - timedelta(days=3)).date()) == ["Failed", "Pricey"]
    assert titles(date_to=(now - timedelta(days=30)).date()) == ["Old"]
    assert titles(archived="only") == ["Archived"]
    assert titles(archived="all") == ["Archived", "Failed", "Old", "Pricey"]
    # Filters without words: the newest matching messages.
    results = search.find(user=alice, text="", filters=search_filters.Filters(status="failed"))
    assert [hit.turn.prompt for hit in results.hits] == ["budget failed"]


def test_filters_in_the_page(alice_client, alice):
    make(alice, "Failed one", "report", "", status="failed")
    make(alice, "Fine one", "report", "done")
    _, html = page(alice_client, "q=report&status=failed")
    assert "Failed one" in html and "Fine one" not in html.split('class="search-results"')[1]
    assert '<details class="search-filters" open>' in html
    response, html = page(alice_client, "q=report&date_from=2026-05-02&date_to=2026-05-01&min_cost=-1")
    assert response.status_code == 400
    assert "The end date is before the start date." in html and "greater than or equal to 0" in html
    assert 'value="report"' in html  # what was typed stays


def test_an_empty_search_shows_the_list(alice_client, alice):
    for query in ("q=", "q=+++", ""):
        response = alice_client.get("/search/?" + query)
        assert response.status_code == 302 and response.url == reverse("home")


BAD_INPUT = [
    '"',
    '""',
    '"unclosed phrase',
    "*",
    "-",
    "--",
    "-tulip",
    "NEAR(tulip bulb)",
    "tulip NEAR bulb",
    "tulip AND",
    "OR tulip",
    "tulip OR",
    "AND OR NOT",
    "(tulip",
    "tulip)",
    "title:tulip",
    "{title prompt}: tulip",
    "^tulip",
    "tulip^2",
    "tu*lip",
    "tulip**",
    "owner:u1",
    "'; DROP TABLE conversations_turn; --",
    "%_\\",
    "🌷 tulip",
    "🌷",
    "tulip " * 30,
    "x" * 999,
    "tulip\x00bulb",
    "\x00",
]


@pytest.mark.parametrize("text", BAD_INPUT)
def test_odd_input_gets_results_or_a_clear_message(alice_client, alice, text):
    make(alice, "Spring", "tulip bulb", "plant the tulip bulb in autumn")
    response = alice_client.get("/search/?q=" + quote(text))
    html = response.content.decode()
    assert response.status_code in (200, 302, 400)
    if response.status_code == 302:  # nothing searchable left (a NUL is dropped before any view): the list
        assert response.url == reverse("home")
    elif response.status_code == 200:
        assert 'class="results-count' in html
    else:
        message = re.search(r'<p class="alert alert-error" role="alert">([^<]+)</p>', html).group(1)
        assert len(message) > 20
    assert Turn.objects.count() == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "x" * 5000, "at most 1,000 characters long (this one has 5,000)"),
        ("q=ab*", "at least 3 letters before *"),
        ("q=-tulip", "Add a word to look for"),
        ("q=%22%22", "Type a word to look for"),
        ("q=" + "+".join(["w"] * 30), "Use at most 24 words"),
    ],
)
def test_clear_messages(alice_client, alice, query, message):
    response, html = page(alice_client, query)
    assert response.status_code == 400
    assert message in html.replace("&quot;", '"')


@pytest.mark.parametrize("raw", ["%ED%A0%80", "tulip%ED%B0%80", "%F0%9F", "%C3", "%FF%FE"])
def test_broken_encodings_and_lone_surrogates(alice_client, alice, raw):
    make(alice, "Spring", "tulip bulb", "")
    response = alice_client.get("/search/?q=" + raw)
    assert response.status_code in (200, 302, 400)


def test_lone_surrogates_reaching_the_search_are_dropped(alice):
    make(alice, "Spring", "tulip bulb", "")
    assert found(alice, "tulip\ud800") == [("Spring", "tulip bulb")]
    assert search.find(user=alice, text="\udfff") is None  # nothing left to search: the list


def test_parse_quotes_every_term():
    query = search_query.parse('tulip "spring bulb" -frost bul* a OR b NEAR(x)')
    assert query.fts5() == (
        '(("tulip") AND ("spring bulb") AND ("bul" *) AND ("a" OR "b") AND ("NEAR x")) NOT ("frost")'
    )
    assert (
        query.fts5("title") == '{title} : (("tulip") AND ("spring bulb") AND ("bul" *) AND ("a" OR "b") AND ("NEAR x"))'
    )
    assert (
        query.tsquery()
        == "('tulip') & (('spring' <-> 'bulb')) & ('bul':*) & ('a' | 'b') & (('near' <-> 'x')) & !('frost')"
    )


def test_each_user_has_a_range_of_the_index(alice, bob):
    """A search reads only its user's entries, whatever the others hold."""
    make(alice, "Alice", "platypus", "")
    make(bob, "Bob", "platypus", "")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT owner_id, id FROM conversations_searchrow")
            for owner, rowid in cursor.fetchall():
                low, high = search_index.owner_range(owner)
                assert low < rowid <= high
    assert found(alice, "platypus") == [("Alice", "platypus")]


def test_many_common_matches_rank_titles_then_prompts_then_answers(alice, monkeypatch):
    monkeypatch.setattr(search_sqlite, "BM25_MAX", 2)
    now = timezone.now()
    make(alice, "Title hit", "q1", "", at=now - timedelta(days=3)).conversation.turns.all().delete()
    make(alice, "Plain", "a lemur question", "", at=now - timedelta(days=2))
    make(alice, "Other", "question", "the answer names a lemur", at=now - timedelta(days=1))
    Conversation.objects.filter(title="Title hit").update(title="Lemur notes")
    assert [(t, p) for t, p in found(alice, "lemur")] == [
        ("Lemur notes", None),
        ("Plain", "a lemur question"),
        ("Other", "question"),
    ]


def test_many_matches_rank_the_newest_ones(alice, monkeypatch):
    monkeypatch.setattr(search, "RANKED_MAX", 10)
    now = timezone.now()
    for i in reversed(range(15)):  # written oldest first, as they are in life
        make(alice, f"T{i}", "common word", "", at=now - timedelta(minutes=i))
    results = search.find(user=alice, text="common")
    assert results.capped and results.total == 10
    assert {hit.conversation.title for hit in results.hits} == {f"T{i}" for i in range(10)}


def test_more_results_page_by_page(alice_client, alice):
    now = timezone.now()
    for i in range(45):
        make(alice, f"T{i}", f"gecko {i}", "", at=now - timedelta(minutes=i))
    seen = []
    url = "/search/?q=gecko"
    while url:
        html = alice_client.get(url).content.decode()
        seen += HIT.findall(html)
        more = re.search(r'<nav class="results-more"[^>]*><a class="btn btn-small" href="([^"]+)"', html)
        url = "/search/" + more.group(1).replace("&amp;", "&") if more else None
    assert len(seen) == 45 and len(set(seen)) == 45


def test_the_search_page_makes_the_same_number_of_queries_at_any_size(
    alice_client, alice, django_assert_max_num_queries
):
    make(alice, "Small", "meerkat", "one")
    with django_assert_max_num_queries(12) as few:
        alice_client.get("/search/?q=meerkat&status=completed")
    now = timezone.now()
    for i in range(60):
        turn = make(alice, f"Big {i}", f"meerkat {i}", "many meerkats " * 20, at=now - timedelta(minutes=i))
        Turn.objects.bulk_create(
            [Turn(conversation=turn.conversation, prompt=f"more {j}", status="completed") for j in range(5)]
        )
    with django_assert_max_num_queries(12) as many:
        response = alice_client.get("/search/?q=meerkat&status=completed")
    assert response.content.decode().count('class="search-hit"') == search_filters.PAGE
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_bulk_loading_with_the_triggers_off_indexes_the_new_rows_once(alice, transactional_db):
    make(alice, "Before", "wombat burrow", "")
    with search_index.suspended():
        conversation = factories.conversation(owner=alice, title="Loaded", model="m")
        Turn.objects.bulk_create(
            [Turn(conversation=conversation, prompt=f"wombat {i}", status="completed") for i in range(3)]
        )
    results = search.find(user=alice, text="wombat")
    assert sorted((hit.conversation.title, hit.matches) for hit in results.hits) == [("Before", 1), ("Loaded", 3)]
    assert found(alice, "loaded") == [("Loaded", None)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_searchrow")
        assert cursor.fetchone() == (6,)  # two titles, four turns: nothing twice
        cursor.execute("INSERT INTO conversations_fts (conversations_fts) VALUES ('integrity-check')")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite layout")
def test_an_earlier_layout_of_the_index_is_replaced_and_rebuilt(alice, transactional_db):
    make(alice, "Kept", "aardvark", "")
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIRTUAL TABLE conversations_search USING fts5(owner, title, prompt, answer)")
        cursor.execute(
            "CREATE TRIGGER conversations_search_turn_insert AFTER INSERT ON conversations_turn BEGIN SELECT 1; END"
        )
        cursor.execute("DELETE FROM conversations_searchrow")  # as if the entries were numbered another way
    assert search_index.ensure_installed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE 'conversations_search%'")
        assert {name for (name,) in cursor.fetchall()} == {
            "conversations_searchrow",
            "conversations_searchrow_conversation",
        }
    assert found(alice, "aardvark") == [("Kept", "aardvark")]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite plans and triggers")
def test_title_entries_are_found_by_conversation_not_by_their_shared_empty_turn(alice):
    """Every title entry has turn_id NULL: looked up in the turn_id index, one insert would scan them all."""
    for i in range(30):
        make(alice, f"Chat {i}", "words", "")
    bodies = " ".join(search_index.SQLITE_TRIGGERS.values())
    assert "turn_id IS NULL" in bodies and not re.search(r"(?<!\+)(?<!\+[a-z]\.)\bturn_id IS NULL", bodies)
    with connection.cursor() as cursor:
        cursor.execute("SELECT conversation_id FROM conversations_searchrow LIMIT 1")
        (conversation,) = cursor.fetchone()
        cursor.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM conversations_searchrow r WHERE r.conversation_id = %s "
            "AND +r.turn_id IS NULL",
            [conversation],
        )
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "conversations_searchrow_conversation" in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_a_trigger_from_an_earlier_version_is_replaced_without_a_rebuild(alice, transactional_db):
    make(alice, "Kept", "okapi", "")
    name = "conversations_fts_turn_facets"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(f"CREATE TRIGGER {name} AFTER UPDATE OF status ON conversations_turn BEGIN SELECT 1; END")
    assert search_index.ensure_installed() is False  # replaced, nothing to index again
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [name])
        (sql,) = cursor.fetchone()
    assert " ".join(sql.split()).endswith(" ".join(search_index.SQLITE_TRIGGERS[name].split()))
    assert found(alice, "okapi") == [("Kept", "okapi")]
