"""Turn yesterday's superseded chains into versions (a tree of turns), losing nothing.

Before: a conversation was a list of turns in creation order. Editing a prompt or
regenerating an answer added a new turn at the END and marked the turn it redid, and
every turn after it that was still shown, `superseded_by` the new turn.

After: every turn has a `parent`, the turn it follows. Replaying each conversation in
creation order, keeping the line of turns that was shown at that moment:
- an ordinary turn follows the last turn of the line;
- a turn that superseded others is another version of the first of them: it takes that
  turn's parent, and the line is cut there (the superseded turns become a branch).

A conversation that was never edited is one line: each turn follows the one before it
(one UPDATE for every turn); only conversations with superseded turns are replayed.
`current_turn` stays empty: the page then shows the newest turn's path, which is the
line the page showed before.

The replay is copied here, not imported: a migration must keep meaning what it meant.
"""

from django.db import migrations
from django.db.models import OuterRef, Q, Subquery

BATCH = 500


def parents_from_superseded(turns):
    """`turns`: (id, superseded_by id) of one conversation in creation order -> {id: parent id}."""
    replaced = {}
    for turn_id, by in turns:
        if by is not None:
            replaced.setdefault(by, []).append(turn_id)
    parents = {}
    line = []  # the turns shown at this moment, in order
    place = {}  # turn id -> its index in `line`
    for turn_id, _ in turns:
        cut = min((place[gone] for gone in replaced.get(turn_id, ()) if gone in place), default=None)
        if cut is not None:
            for gone in line[cut:]:
                del place[gone]
            del line[cut:]
        parents[turn_id] = line[-1] if line else None
        place[turn_id] = len(line)
        line.append(turn_id)
    return parents


def forwards(apps, schema_editor):
    Turn = apps.get_model("conversations", "Turn")
    earlier = Q(created_at__lt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
    previous = (
        Turn.objects.filter(earlier, conversation_id=OuterRef("conversation_id"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    Turn.objects.update(parent_id=Subquery(previous))

    edited = list(
        Turn.objects.filter(superseded_by__isnull=False).order_by().values_list("conversation_id", flat=True).distinct()
    )
    for start in range(0, len(edited), BATCH):
        rows = (
            Turn.objects.filter(conversation_id__in=edited[start : start + BATCH])
            .order_by("conversation_id", "created_at", "id")
            .values_list("conversation_id", "id", "superseded_by_id", "parent_id")
        )
        by_conversation = {}
        for conversation_id, turn_id, by, parent_id in rows:
            by_conversation.setdefault(conversation_id, []).append((turn_id, by, parent_id))
        changed = []
        for turns in by_conversation.values():
            parents = parents_from_superseded([(turn_id, by) for turn_id, by, _ in turns])
            changed += [
                Turn(id=turn_id, parent_id=parents[turn_id]) for turn_id, _, old in turns if parents[turn_id] != old
            ]
        Turn.objects.bulk_update(changed, ["parent_id"], batch_size=BATCH)


def backwards(apps, schema_editor):
    """Back to one list: a turn off the newest turn's path is superseded by the path's turn where it branched off."""
    Turn = apps.get_model("conversations", "Turn")
    conversations = Turn.objects.order_by().values_list("conversation_id", flat=True).distinct()
    for conversation_id in list(conversations):
        turns = list(
            Turn.objects.filter(conversation_id=conversation_id).order_by("created_at", "id").values_list("id", "parent_id")
        )
        parent = dict(turns)
        if len(set(parent.values())) == len(turns):
            continue  # one line: no versions
        after = {}  # a turn of the path (or None) -> the path's turn that follows it
        step = turns[-1][0]
        while step is not None:
            after[parent[step]] = step
            step = parent[step]
        path = set(after.values())
        changed = []
        for turn_id, _ in turns:
            branch = turn_id
            while branch is not None and branch not in path and parent[branch] not in after:
                branch = parent[branch]
            if branch is not None and branch not in path:
                changed.append(Turn(id=turn_id, superseded_by_id=after[parent[branch]]))
        Turn.objects.bulk_update(changed, ["superseded_by_id"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0009_turn_parent_current_turn")]

    operations = [migrations.RunPython(forwards, backwards)]
