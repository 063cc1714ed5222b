"""Search results one per conversation: its best matching messages (up to SNIPPETS) and how many matched.

Both databases rank every match they consider (at most RANKED_MAX, search_filters.py) and hand their
rows here best first; a conversation takes the place of its best match. The page then reads only the
few turns it shows (search.py), however many matched.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

# The best matching messages shown for each conversation.
SNIPPETS = 3


@dataclass
class Group:
    conversation_id: Hashable  # as the database gave it (a UUID, or its hex on SQLite)
    turn_ids: list = field(default_factory=list)  # its best matching messages, best first (at most SNIPPETS)
    matches: int = 0  # its matching messages, among those ranked
    title: bool = False  # its title matches


def grouped(rows: Iterable[tuple[Hashable | None, Hashable]]) -> list[Group]:
    """(turn id, or None for the title, conversation id) rows, best first: one group per conversation, in
    the order of each one's best match."""
    groups: dict[Hashable, Group] = {}
    for turn_id, conversation_id in rows:
        group = groups.get(conversation_id)
        if group is None:
            group = groups[conversation_id] = Group(conversation_id)
        if turn_id is None:
            group.title = True
            continue
        group.matches += 1
        if len(group.turn_ids) < SNIPPETS:
            group.turn_ids.append(turn_id)
    return list(groups.values())
