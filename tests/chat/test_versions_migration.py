"""Migration 0010: yesterday's superseded chains become versions, losing nothing.

Migrates the test database back to 0008 (before versions), writes conversations the way the old
code did (a regenerate or an edit added a turn at the end and marked the turn it redid, and every
later turn still shown, superseded by it), migrates forward and checks the tree.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

BEFORE = [("conversations", "0008_usage_rollup_indexes")]
DATA = [("conversations", "0010_versions_from_superseded")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


class OldConversation:
    """Writes turns as the code before versions did (services.turn_create / turn_regenerate then)."""

    def __init__(self, apps, owner_id, title):
        self.Turn = apps.get_model("conversations", "Turn")
        Conversation = apps.get_model("conversations", "Conversation")
        self.conversation = Conversation.objects.create(owner_id=owner_id, title=title, model="openai/gpt-5-pro")
        self.clock = timezone.now() - timedelta(days=1)

    def send(self, prompt):
        self.clock += timedelta(minutes=1)
        return self.Turn.objects.create(
            conversation=self.conversation, prompt=prompt, status="completed", output_text=f"answer to {prompt}",
            created_at=self.clock, updated_at=self.clock,
        )  # fmt: skip

    def regenerate(self, turn, prompt=None):
        new = self.send(prompt or turn.prompt)
        self.conversation.turns.filter(created_at__gte=turn.created_at, superseded_by__isnull=True).exclude(
            id=new.id
        ).update(superseded_by=new, updated_at=new.created_at)
        return new


@pytest.fixture
def old_schema(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # every later test sees today's schema


def test_superseded_chains_become_versions(old_schema, alice):
    # Several regenerations and edits in one conversation.
    talk = OldConversation(old_schema, alice.pk, "Edited a lot")
    a = talk.send("A")
    b = talk.send("B")
    c = talk.send("C")
    b2 = talk.regenerate(b)  # b and c superseded: b2 is another version of b
    d = talk.send("D")
    a2 = talk.regenerate(a, "A, edited")  # a, b2 and d superseded: a2 another version of a
    e = talk.send("E")
    e2 = talk.regenerate(e)  # another version of e
    e3 = talk.regenerate(e2, "E, edited")  # and another, of the one shown then
    f = talk.send("F")
    # A conversation never edited, one with only a first turn asked three times, and an empty one.
    plain = OldConversation(old_schema, alice.pk, "Plain")
    p1, p2, p3 = plain.send("p1"), plain.send("p2"), plain.send("p3")
    thrice = OldConversation(old_schema, alice.pk, "Thrice")
    t1 = thrice.send("t")
    t2 = thrice.regenerate(t1)
    t3 = thrice.regenerate(t2)
    OldConversation(old_schema, alice.pk, "Empty")
    turns_before = old_schema.get_model("conversations", "Turn").objects.count()

    apps = migrate(DATA)
    Turn = apps.get_model("conversations", "Turn")
    parent = dict(Turn.objects.values_list("id", "parent_id"))
    assert len(parent) == turns_before  # nothing lost
    assert {
        "A": parent[a.id], "B": parent[b.id], "C": parent[c.id], "B2": parent[b2.id], "D": parent[d.id],
        "A2": parent[a2.id], "E": parent[e.id], "E2": parent[e2.id], "E3": parent[e3.id], "F": parent[f.id],
    } == {
        "A": None, "B": a.id, "C": b.id, "B2": a.id, "D": b2.id,
        "A2": None, "E": a2.id, "E2": a2.id, "E3": a2.id, "F": e3.id,
    }  # fmt: skip
    assert (parent[p1.id], parent[p2.id], parent[p3.id]) == (None, p1.id, p2.id)
    assert (parent[t1.id], parent[t2.id], parent[t3.id]) == (None, None, None)
    # The page shows what it showed before: the newest turn's path, every turn still shown then.
    Conversation = apps.get_model("conversations", "Conversation")
    assert not Conversation.objects.filter(current_turn__isnull=False).exists()
    path, step = [], f.id
    while step:
        path.append(step)
        step = parent[step]
    shown_before = set(
        old_schema.get_model("conversations", "Turn")
        .objects.filter(conversation=talk.conversation, superseded_by__isnull=True)
        .values_list("id", flat=True)
    )
    assert set(path) == shown_before == {a2.id, e3.id, f.id}
    # And back: every turn off the newest path is an earlier version again, those on it are not.
    apps = migrate(BEFORE)
    Turn = apps.get_model("conversations", "Turn")
    superseded = dict(Turn.objects.filter(conversation=talk.conversation.pk).values_list("id", "superseded_by_id"))
    assert {turn_id for turn_id, by in superseded.items() if by is None} == shown_before
    assert superseded[b.id] == superseded[a.id] == a2.id and superseded[e2.id] == e3.id
    assert not Turn.objects.filter(conversation=plain.conversation.pk, superseded_by__isnull=False).exists()


def test_the_migration_is_one_update_for_conversations_never_edited(old_schema, alice):
    for number in range(20):
        talk = OldConversation(old_schema, alice.pk, f"Plain {number}")
        for turn in range(5):
            talk.send(f"{number}.{turn}")
    executor = MigrationExecutor(connection)
    executor.migrate([("conversations", "0009_turn_parent_current_turn")])
    executor.loader.build_graph()
    with CaptureQueriesContext(connection) as captured:
        executor.migrate(DATA)
    turn_queries = [query["sql"] for query in captured.captured_queries if "conversations_turn" in query["sql"]]
    assert [sql.split()[0] for sql in turn_queries] == ["UPDATE", "SELECT"]  # the SELECT finds no edits
    apps = executor.loader.project_state(DATA).apps
    Turn = apps.get_model("conversations", "Turn")
    assert Turn.objects.filter(parent__isnull=True).count() == 20
    for conversation_turns in range(20):
        prompts = [f"{conversation_turns}.{turn}" for turn in range(5)]
        chain = dict(Turn.objects.filter(prompt__in=prompts).values_list("prompt", "parent__prompt"))
        assert chain == {prompts[0]: None, **{prompts[i]: prompts[i - 1] for i in range(1, 5)}}
