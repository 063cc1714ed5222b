"""Versions: a conversation is a tree of turns; edits and regenerations are siblings; the page shows one path.

Services, selectors and views here; the migration from superseded chains in test_versions_migration.py;
export and import of versions in tests/history/test_transfer.py; the browser in tests/e2e/test_versions.py.
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations.chat import selectors, services
from conversations.models import Conversation, Turn
from conversations.usage import budgets
from tests import factories


def sent_input(fake_api) -> list[tuple[str, str]]:
    """The `input` of the last request the fake server received, as (role, first words)."""
    return [(item["role"], item["content"]) for item in fake_api.post_requests[-1]["json"]["input"]]


def exchange(prompt: str) -> list[tuple[str, str]]:
    """What the model is sent for an answered turn of the path: the prompt and the fake server's answer."""
    answer = Turn.objects.get(prompt=prompt).output_text
    assert answer.startswith(f"Echo: {prompt}")
    return [("user", prompt), ("assistant", answer)]


# --- The tree itself ---------------------------------------------------------------------------


def test_tree_paths_versions_and_newest_leaves():
    a, b, c, b2, d, c2, a2 = (uuid.uuid4() for _ in range(7))
    # a -> b -> c; b2 is another version of b (d follows it); c2 another version of c; a2 of a.
    tree = selectors.Tree(
        [
            (a, None, "completed"),
            (b, a, "completed"),
            (c, b, "completed"),
            (b2, a, "completed"),
            (d, b2, "failed"),
            (c2, b, "in_progress"),
            (a2, None, "completed"),
        ]
    )
    assert tree.path(c) == [a, b, c] and tree.path(d) == [a, b2, d] and tree.path(a2) == [a2]
    assert tree.newest_below() == a2  # the newest last turn of the whole tree
    assert tree.newest_below(a) == c2 and tree.newest_below(b2) == d and tree.newest_below(c) == c
    assert tree.versions(b) == selectors.Versions(number=1, count=2, previous=None, next=b2)
    assert tree.versions(b2) == selectors.Versions(number=2, count=2, previous=b, next=None)
    assert tree.versions(a2) == selectors.Versions(number=2, count=2, previous=a, next=None)
    assert tree.versions(d) is None
    # The path on screen: the chosen version's newest turn; a linked turn elsewhere picks its own path.
    assert tree.leaf() == a2 and tree.leaf(current=b2) == d and tree.leaf(current=uuid.uuid4()) == a2
    assert tree.leaf(current=d, show=a) == d  # a is on d's path: the path stays
    assert tree.leaf(current=d, show=c) == c  # c is not: the page shows the path through it
    assert tree.running() == c2


# --- Services: edit and regenerate add versions; sending continues the version on screen ------


def test_edit_and_regenerate_add_versions_and_delete_nothing(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="Question A")
    conversation = first.conversation
    second = run_now(services.turn_create, conversation=conversation, prompt="Question B")
    edited = run_now(services.turn_regenerate, turn=first, prompt="Question A, edited")
    assert (first.parent_id, second.parent_id, edited.parent_id) == (None, first.id, None)
    assert edited.status == "completed" and first.output_text and second.output_text  # nothing lost
    # The edited prompt was sent alone: the earlier version and what followed it are another branch.
    assert sent_input(fake_api) == [("user", "Question A, edited")]
    conversation.refresh_from_db()
    assert conversation.current_turn_id == edited.id
    again = run_now(services.turn_regenerate, turn=edited)
    assert again.prompt == "Question A, edited" and again.parent_id is None
    assert sent_input(fake_api) == [("user", "Question A, edited")]
    assert conversation.turns.count() == 4
    tree = selectors.conversation_tree(conversation=conversation)
    assert tree.children[None] == [first.id, edited.id, again.id]
    assert tree.versions(again.id) == selectors.Versions(3, 3, edited.id, None)


def test_a_regenerated_answer_follows_the_same_turns(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="One")
    second = run_now(services.turn_create, conversation=first.conversation, prompt="Two")
    third = run_now(services.turn_create, conversation=first.conversation, prompt="Three")
    fake_api.reply = "Three, again."
    again = run_now(services.turn_regenerate, turn=third)
    assert again.parent_id == second.id and again.output_text == "Three, again."
    assert sent_input(fake_api) == [*exchange("One"), *exchange("Two"), ("user", "Three")]


def test_sending_continues_the_version_on_screen_and_sends_only_its_path(alice, fake_api, run_now):
    root = run_now(services.conversation_create, owner=alice, prompt="Root")
    conversation = root.conversation
    v1 = run_now(services.turn_create, conversation=conversation, prompt="Version one")
    run_now(services.turn_create, conversation=conversation, prompt="After one")
    v2 = run_now(services.turn_regenerate, turn=v1, prompt="Version two")
    v3 = run_now(services.turn_regenerate, turn=v1, prompt="Version three")
    # Back to the first version: the page shows it and the turn that followed it.
    assert services.turn_show(turn=v1) == Turn.objects.get(prompt="After one").id
    after = run_now(services.turn_create, conversation=conversation, prompt="Continue one")
    assert after.parent == Turn.objects.get(prompt="After one")
    assert sent_input(fake_api) == [
        *exchange("Root"),
        *exchange("Version one"),
        *exchange("After one"),
        ("user", "Continue one"),
    ]
    # A page that still shows version two sends its last turn as the parent: that version continues.
    middle = run_now(services.turn_create, conversation=conversation, prompt="Continue two", parent=v2)
    assert middle.parent_id == v2.id
    assert sent_input(fake_api) == [*exchange("Root"), *exchange("Version two"), ("user", "Continue two")]
    # Version three was never continued; its branch holds only itself.
    assert selectors.conversation_tree(conversation=conversation).newest_below(v3.id) == v3.id


def test_a_failed_turn_on_the_path_is_followed_but_not_sent(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="Good")
    fake_api.faults = [("status", 400)]
    failed = run_now(services.turn_create, conversation=first.conversation, prompt="Bad")
    assert failed.status == "failed"
    later = run_now(services.turn_create, conversation=first.conversation, prompt="Next")
    assert later.parent_id == failed.id
    assert sent_input(fake_api) == [*exchange("Good"), ("user", "Next")]


def test_switching_remembers_the_newest_turn_below_the_version(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="Q")
    second = run_now(services.turn_regenerate, turn=first)
    below = run_now(services.turn_create, conversation=first.conversation, prompt="Follow-up")
    assert below.parent_id == second.id
    conversation = Conversation.objects.get()
    updated = conversation.updated_at
    assert services.turn_show(turn=first) == first.id
    conversation.refresh_from_db()
    assert conversation.current_turn_id == first.id
    assert conversation.updated_at == updated  # switching does not move it up the list
    assert services.turn_show(turn=second) == below.id


def test_one_running_turn_per_conversation_across_versions(alice):
    first = services.conversation_create(owner=alice, prompt="Slow")
    with pytest.raises(services.TurnInFlight):
        services.turn_regenerate(turn=first)
    # A prompt after it waits for it (a follow-up, tests/chat/test_queue.py): still one running.
    assert services.turn_create(conversation=first.conversation, prompt="Other", parent=first).status == "waiting"
    assert Turn.objects.filter(status__in=Turn.ACTIVE).count() == 1


def test_the_estimate_reads_the_previous_answer_on_the_path(alice, settings):
    conversation = factories.conversation(owner=alice, title="c", max_output_tokens=10)
    at = timezone.now() - timedelta(minutes=5)
    common = {"conversation": conversation, "status": "completed", "output_text": "x"}
    first = factories.turn(prompt="1", input_tokens=100, output_tokens=50, created_at=at, parent=None, **common)
    # A newer version elsewhere with much more usage: not on the path, so not read.
    factories.turn(prompt="1b", input_tokens=9000, output_tokens=900, parent=None, **common)
    turn = Turn(conversation=conversation, prompt="abc", parent=first)
    assert budgets.estimate(turn).input_tokens == 100 + 50 + 1


# --- Selectors: the page's window of the path --------------------------------------------------


def line(conversation, prompts, *, parent=None, start=None):
    """Answered turns each following the one before, from `parent`; returns them."""
    start = start or timezone.now() - timedelta(hours=1)
    made = []
    for index, prompt in enumerate(prompts):
        parent = factories.turn(
            conversation=conversation,
            prompt=prompt,
            status="completed",
            output_text=f"answer to {prompt}",
            output_html=f"<p>answer to {prompt}</p>",
            parent=parent,
            created_at=start + timedelta(seconds=index),
        )
        made.append(parent)
    return made


def test_the_page_shows_the_path_on_screen_and_loads_earlier_turns_of_that_path(alice, settings):
    conversation = factories.conversation(owner=alice, title="Tree")
    trunk = line(conversation, [f"t{i}" for i in range(50)])
    branch = line(conversation, [f"b{i}" for i in range(5)], parent=trunk[29], start=timezone.now())
    # Newest turn by default: the branch's path, 30 trunk turns then 5 branch turns.
    page = selectors.conversation_turns_page(conversation=conversation, limit=20)
    assert [t.prompt for t in page.turns] == [f"t{i}" for i in range(15, 30)] + [f"b{i}" for i in range(5)]
    assert page.leaf == branch[-1].id and page.running_elsewhere is None
    assert page.turns[15].versions == selectors.Versions(2, 2, trunk[30].id, None)
    assert page.turns[14].versions is None
    earlier = selectors.conversation_turns_page(conversation=conversation, before=page.earlier, limit=20)
    assert [t.prompt for t in earlier.turns] == [f"t{i}" for i in range(15)] and earlier.earlier == ""
    # The conversation's chosen version: the trunk to its end.
    services.turn_show(turn=trunk[30])
    conversation.refresh_from_db()
    page = selectors.conversation_turns_page(conversation=conversation, limit=20)
    assert [t.prompt for t in page.turns] == [f"t{i}" for i in range(30, 50)]
    assert page.turns[0].versions == selectors.Versions(1, 2, None, branch[0].id)
    # A link to a turn of the other branch shows its path, from far enough up to include it.
    page = selectors.conversation_turns_page(conversation=conversation, show=branch[0].id, limit=3)
    assert [t.prompt for t in page.turns] == [f"b{i}" for i in range(5)] and page.leaf == branch[-1].id
    with pytest.raises(selectors.BadCursor):
        selectors.conversation_turns_page(
            conversation=conversation, before=selectors.Cursor(timezone.now(), uuid.uuid4()).encode()
        )


def test_a_turn_running_in_another_version_is_named(alice):
    conversation = factories.conversation(owner=alice, title="Busy")
    [first] = line(conversation, ["q"])
    running = factories.turn(conversation=conversation, prompt="q again", status="in_progress", parent=None)
    Conversation.objects.filter(pk=conversation.pk).update(current_turn=first)
    conversation.refresh_from_db()
    page = selectors.conversation_turns_page(conversation=conversation)
    assert [t.id for t in page.turns] == [first.id] and page.running_elsewhere == running.id


# --- Views: the switcher, switching, sending from the version on screen --------------------------

VERSIONS = re.compile(r'<div class="versions" role="group" aria-label="Version (\d+) of (\d+)">')


def test_the_page_shows_a_labelled_switcher_and_switching_shows_that_version(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="Switch")
    [a1, b1] = line(conversation, ["A", "B one"])
    [b2] = line(conversation, ["B two"], parent=a1, start=timezone.now())
    [b3, c3] = line(conversation, ["B three", "C three"], parent=a1, start=timezone.now() + timedelta(minutes=1))
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert VERSIONS.findall(html) == [("3", "3")]  # only B has versions; the newest is shown
    assert "C three" in html and "B one" not in html and "B two" not in html
    assert f'formaction="{reverse("turn_show", args=[b2.id])}"' in html
    assert 'aria-label="Previous version"' in html and 'aria-label="Next version" disabled' not in html
    assert re.search(r'data-version="next" disabled aria-label="Next version"', html)
    assert f'name="parent" value="{c3.id}" form="composer"' in html
    # Switch to version 1 (no JavaScript: a POST and a redirect to the page, at that version).
    response = alice_client.post(reverse("turn_show", args=[b1.id]))
    assert response.status_code == 302 and response["Location"].endswith(f"?turn={b1.id}#turn-{b1.id}")
    html = alice_client.get(response["Location"]).content.decode()
    assert VERSIONS.findall(html) == [("1", "3")] and "B one" in html and "B three" not in html
    assert f'name="parent" value="{b1.id}" form="composer"' in html
    # The conversation remembers it: the plain address shows version 1 too.
    assert "B one" in alice_client.get(conversation.get_absolute_url()).content.decode()


def test_a_prompt_follows_the_turn_the_page_showed(alice_client, alice, fake_api, transactional_db):
    conversation = factories.conversation(owner=alice, title="Send")
    [a1, b1] = line(conversation, ["A", "B one"])
    [b2] = line(conversation, ["B two"], parent=a1, start=timezone.now())
    alice_client.post(conversation.get_absolute_url(), {"prompt": "from one", "parent": str(b1.id)})
    sent = Turn.objects.get(prompt="from one")
    assert sent.parent_id == b1.id
    assert [item["content"] for item in fake_api.post_requests[-1]["json"]["input"]] == [
        "A",
        "answer to A",
        "B one",
        "answer to B one",
        "from one",
    ]
    # Another conversation's turn, or none: the version on screen (now the new turn) continues.
    other = factories.conversation(owner=alice, title="Other")
    [foreign] = line(other, ["elsewhere"])
    alice_client.post(conversation.get_absolute_url(), {"prompt": "next", "parent": str(foreign.id)})
    assert Turn.objects.get(prompt="next").parent_id == sent.id
    assert b2.children.count() == 0


def test_switching_another_users_turn_is_404(client, alice, bob):
    conversation = factories.conversation(owner=alice, title="Mine")
    [turn] = line(conversation, ["private"])
    client.force_login(bob)
    assert client.post(reverse("turn_show", args=[turn.id])).status_code == 404
    assert client.get(reverse("turn_show", args=[turn.id])).status_code == 405


def test_a_page_on_another_version_names_the_answer_being_written(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="Busy")
    [first] = line(conversation, ["q"])
    running = factories.turn(conversation=conversation, prompt="q again", status="in_progress", parent=None)
    alice_client.post(reverse("turn_show", args=[first.id]))
    html = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert "An answer is being written in another version of this conversation." in html
    assert f'href="{conversation.get_absolute_url()}?turn={running.id}#turn-{running.id}">Show it</a>' in html
    html = alice_client.get(f"{conversation.get_absolute_url()}?turn={running.id}").content.decode()
    assert f'id="turn-{running.id}" data-status="in_progress" data-active="1"' in html
    assert 'id="send-button" title="Queued: sent right after the answer being written"' in html
    assert "another version" not in html


def test_the_live_fragment_of_a_version_has_its_switcher(alice_client, alice):
    conversation = factories.conversation(owner=alice, title="Live")
    [first] = line(conversation, ["Q"])
    running = factories.turn(conversation=conversation, prompt="Q", status="in_progress", parent=None)
    fragment = alice_client.get(reverse("turn_live", args=[running.id])).content.decode()
    assert VERSIONS.findall(fragment) == [("2", "2")]
    assert f'formaction="{reverse("turn_show", args=[first.id])}"' in fragment


# --- Admin: every version listed, with the turn it follows --------------------------------------


def test_the_admin_lists_every_version_with_its_parent(client, alice):
    from django.contrib.auth.models import User

    conversation = factories.conversation(owner=alice, title="Admin")
    [a, b1] = line(conversation, ["first prompt", "B one"])
    [b2] = line(conversation, ["B two"], parent=a, start=timezone.now())
    client.force_login(User.objects.create_superuser("root", password="pw-root-123"))
    follows_a = f'title="{a.id}">{str(a.id)[:8]}</a>'
    listing = client.get("/admin/conversations/turn/").content.decode()
    assert all(f"/admin/conversations/turn/{turn.id}/change/" in listing for turn in (a, b1, b2))
    assert listing.count(follows_a) == 2  # both versions of B follow A
    detail = client.get(f"/admin/conversations/turn/{b2.id}/change/").content.decode()
    assert "first prompt" in detail and f'href="/admin/conversations/turn/{a.id}/change/"' in detail
    assert f'<a href="/admin/conversations/turn/{b1.id}/change/">1</a> · <strong>2 (this one)</strong>' in detail
    inline = client.get(f"/admin/conversations/conversation/{conversation.id}/change/").content.decode()
    assert inline.count(follows_a) == 2 and str(b2.id)[:8] in inline
