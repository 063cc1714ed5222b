"""Search results one per conversation (issue 19, item 2): its best snippets, best first, and a count;
paged by conversation; the same queries however many messages match. Runs on SQLite and PostgreSQL."""

import re
from datetime import timedelta

from django.utils import timezone

from conversations.history import search, search_filters, search_groups
from conversations.models import Turn
from tests import factories


def chat(owner, title, *turns, at=None):
    """A conversation of (prompt, answer) turns, each a minute after the one before."""
    at = at or timezone.now() - timedelta(hours=1)
    conversation = factories.conversation(owner=owner, title=title, created_at=at, updated_at=at)
    for i, (prompt, answer) in enumerate(turns):
        factories.turn(
            conversation=conversation,
            prompt=prompt,
            output_text=answer,
            output_html=f"<p>{answer}</p>",
            status="completed",
            created_at=at + timedelta(minutes=i),
        )
    return conversation


def test_one_result_per_conversation_with_its_best_snippets_and_a_count(alice):
    many = chat(
        alice,
        "Travel notes",
        *[(f"stop {i}: is the ferry on time?", f"The ferry leaves at {i} pm.") for i in range(7)],
        ("What about ferry ferry ferry fares?", "Ferry fares: ferry tickets cost 8 ferry euros."),
    )
    chat(alice, "Other", ("one ferry question", "an answer"))
    chat(alice, "Unrelated", ("nothing here", "nor here"))
    results = search.find(user=alice, text="ferry")
    assert [hit.conversation.title for hit in results.hits] == ["Travel notes", "Other"]
    assert results.total == 2 and results.messages == 9 and not results.has_more
    top = results.hits[0]
    assert top.conversation == many and top.matches == 8 and top.more == 5
    assert len(top.snippets) == search_groups.SNIPPETS
    # The best first: the message that says it most (bm25 on SQLite, ts_rank on PostgreSQL).
    assert top.snippets[0].turn.prompt.startswith("What about ferry")
    assert top.url == top.snippets[0].url == f"{many.get_absolute_url()}?turn={top.turn.id}#turn-{top.turn.id}"
    assert all("<mark>ferry</mark>" in str(snippet.html).lower() for snippet in top.snippets)
    assert len({snippet.turn.id for snippet in top.snippets}) == 3


def test_the_search_page_shows_a_conversation_once_with_its_count(alice_client, alice):
    chat(alice, "Seven", *[(f"gecko {i}", "") for i in range(7)])
    chat(alice, "Gecko care", ("how warm?", "28 degrees"))  # the title only
    html = alice_client.get("/search/?q=gecko").content.decode()
    assert html.count('class="search-hit"') == 2
    assert html.count('class="hit-snippet"') == 3
    assert "7 matching messages (4 more in the conversation)" in html
    assert "2 conversations match, best first (7 messages)." in html
    [title_hit] = [hit for hit in html.split('class="search-hit"')[1:] if "care</span>" in hit]
    assert "<mark>Gecko</mark> care" in title_hit and "hit-snippet" not in title_hit


def test_results_are_paged_by_conversation(alice_client, alice):
    now = timezone.now()
    for i in range(25):
        chat(alice, f"C{i}", *[(f"lemur {i}.{k}", "") for k in range(4)], at=now - timedelta(hours=i + 1))
    first = search.find(user=alice, text="lemur")
    second = search.find(user=alice, text="lemur", page=2)
    assert len(first.hits) == search_filters.PAGE and first.has_more and first.total == 25
    assert len(second.hits) == 5 and not second.has_more
    titles = [hit.conversation.title for hit in first.hits + second.hits]
    assert sorted(titles) == sorted(f"C{i}" for i in range(25))
    assert all(hit.matches == 4 and len(hit.snippets) == 3 for hit in first.hits + second.hits)


def test_grouping_reads_the_same_number_of_queries_at_any_size(alice_client, alice, django_assert_max_num_queries):
    chat(alice, "Small", ("quokka", "one"))
    with django_assert_max_num_queries(12) as few:
        alice_client.get("/search/?q=quokka")
    now = timezone.now()
    for i in range(21):  # 231 matches: ranked by bm25 as the small one (more than BM25_MAX take two lookups)
        conversation = chat(alice, f"Big {i}", ("quokka first", "quokka"), at=now - timedelta(hours=i + 1))
        Turn.objects.bulk_create(
            [Turn(conversation=conversation, prompt=f"quokka {j}", status="completed") for j in range(10)]
        )
    with django_assert_max_num_queries(12) as many:
        html = alice_client.get("/search/?q=quokka").content.decode()
    assert html.count('class="search-hit"') == search_filters.PAGE
    assert html.count('class="hit-snippet"') == search_filters.PAGE * search_groups.SNIPPETS
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_sidebar_panel_is_a_fragment_of_grouped_results(alice_client, alice):
    chat(alice, "Wombat facts", *[(f"wombat {i}", "") for i in range(5)])
    response = alice_client.get("/search/?q=wombat", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert "<html" not in html and 'id="conversation-list"' not in html  # no page, no sidebar
    assert html.count('class="panel-hit"') == 1 and html.count('class="panel-snippet"') == 3
    assert "5 matches" in html
    assert re.search(r'href="/search/\?q=wombat"[^>]*>All results', html)
    # Nothing typed: nothing to show (the page itself goes home).
    assert alice_client.get("/search/?q=", headers={"HX-Request": "true"}).content.decode().strip() == ""
    # A text that cannot be searched: the reason, in the panel.
    bad = alice_client.get("/search/?q=%22%22", headers={"HX-Request": "true"})
    assert bad.status_code == 200 and "Type a word to look for" in bad.content.decode()
