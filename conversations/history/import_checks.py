"""The import's checks: every field of an export file, before anything is written.

A conversation arrives here as plain Python values (import_reader.py parsed it) and leaves
as the values of its rows, or ImportRefused says, naming the place ("Conversation 3, turn 12
field 'status' …"), why the file cannot be imported. Times are checked to exist in UTC, amounts
to fit their columns, texts to be storable, and the turns to form a tree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from django.conf import settings

from conversations.models import PRICE, USD, Turn

from . import import_files
from .errors import ImportRefused
from .export_format import (
    CONVERSATION_FIELDS,
    CONVERSATION_FIELDS_V1,
    FORMAT,
    PRICE_FIELDS,
    READABLE_VERSIONS,
    TOKEN_FIELDS,
    TURN_FIELDS,
    TURN_FIELDS_V1,
    TURN_FIELDS_V2,
    TURN_FIELDS_V3,
)

# Bounds on what one file may hold, so a hostile file cannot exhaust memory or the database.
MAX_ANSWER_CHARS = 2_000_000
MAX_ERROR_CHARS = 10_000
MAX_HISTORY_KEYS = 50
MAX_HISTORY_VALUE_CHARS = 10_000
MAX_INT = 2_147_483_647  # PositiveIntegerField on every backend
# What a turn that was still queued or running when exported becomes: it is never sent again by an import.
INTERRUPTED_CODE = "interrupted"
INTERRUPTED_MESSAGE = (
    "This answer was still being generated when the conversation was exported, so it was imported "
    "without it. Press Retry to send the prompt again."
)


class Checker:
    """Field checks of one object, naming where a problem is ("conversation 3, turn 12: …")."""

    def __init__(self, data, where: str, fields: tuple[str, ...]):
        self.where = where
        if not isinstance(data, dict):
            self.fail("is not a JSON object")
        unknown = sorted(set(data) - set(fields))
        if unknown:
            names = ", ".join(repr(name[:40]) for name in unknown[:5])
            self.fail(f"has unknown field(s) {names} (not an aimlweb export?)")
        missing = [name for name in fields if name not in data]
        if missing:
            self.fail(f"lacks field(s) {', '.join(map(repr, missing[:5]))}")
        self.data = data

    def fail(self, problem: str) -> NoReturn:
        raise ImportRefused(f"{self.where} {problem}.")

    def text(self, name: str, max_chars: int, *, blank: bool = True) -> str:
        value = self.data[name]
        if not isinstance(value, str):
            self.fail(f"field '{name}' must be text")
        check_text(value, f"{self.where} field '{name}'")
        if len(value) > max_chars:
            self.fail(f"field '{name}' is longer than {max_chars:,} characters")
        if not blank and not value.strip():
            self.fail(f"field '{name}' is empty")
        return value

    def integer(self, name: str, *, null: bool = True, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
        value = self.data[name]
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(f"field '{name}' must be a whole number from {minimum} to {maximum:,}")
        return value

    def money(self, name: str, digits: dict) -> Decimal | None:
        value = self.data[name]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.fail(f"field '{name}' must be a decimal number as text, like \"0.0125\"")
        try:
            amount = Decimal(str(value)) if len(str(value)) <= 40 else None
        except InvalidOperation:
            amount = None
        places = digits["decimal_places"]
        limit = Decimal(10) ** (digits["max_digits"] - places)
        if amount is None or not amount.is_finite() or amount < 0 or amount >= limit:
            self.fail(f"field '{name}' must be a decimal number from 0 to below {limit}")
        if amount != amount.quantize(Decimal(1).scaleb(-places)):
            self.fail(f"field '{name}' has more than {places} decimal places")
        return amount.quantize(Decimal(1).scaleb(-places))

    def time(self, name: str, *, null: bool = True) -> datetime | None:
        value = self.data[name]
        if value is None and null:
            return None
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(f"field '{name}' must be a date and time with its offset, like \"2026-11-25T14:03:00Z\"")
        try:
            # Databases store UTC: year 1 at +05:00 or year 9999 at -05:00 has no UTC (an OverflowError).
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail(f"field '{name}' must be a date and time from year 1 to 9999 in UTC")

    def identifier(self, name: str, *, null: bool = False) -> uuid.UUID | None:
        value = self.data[name]
        if value is None and null:
            return None
        try:
            if isinstance(value, str) and len(value) <= 36:
                return uuid.UUID(value)
        except ValueError:
            pass
        self.fail(f"field '{name}' must be an id (a UUID, like \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\")")


def check_text(value: str, where: str) -> None:
    """Refuse what no database column should hold: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ImportRefused(f"{where} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ImportRefused(f"{where} contains an invalid character (a lone surrogate).") from None


def _earlier_attempts(value, where: str) -> list[dict]:
    """Earlier attempts are stored as the app recorded them: flat objects of plain values."""
    if not isinstance(value, list):  # its length was bounded as it was read (IMPORT_MAX_ATTEMPTS)
        raise ImportRefused(f"{where} field 'earlier_attempts' must be a list.")
    entries = []
    for index, entry in enumerate(value, start=1):
        place = f"{where} earlier attempt {index}"
        if not isinstance(entry, dict) or len(entry) > MAX_HISTORY_KEYS:
            raise ImportRefused(f"{place} must be an object of at most {MAX_HISTORY_KEYS} fields.")
        clean = {}
        for key, item in entry.items():
            check_text(key, place)
            if len(key) > 64:
                raise ImportRefused(f"{place} has a field name longer than 64 characters.")
            if isinstance(item, str):
                check_text(item, f"{place} field '{key}'")
                if len(item) > MAX_HISTORY_VALUE_CHARS:
                    raise ImportRefused(f"{place} field '{key}' is longer than {MAX_HISTORY_VALUE_CHARS:,} characters.")
            elif isinstance(item, Decimal):
                if not item.is_finite():
                    raise ImportRefused(f"{place} field '{key}' is not a finite number.")
                item = str(item)  # kept exact; JSONField cannot store a Decimal
            elif not (item is None or isinstance(item, bool | int)):
                raise ImportRefused(f"{place} field '{key}' must be text, a number, true/false or null.")
            clean[key] = item
        entries.append(clean)
    return entries


def _turn(data, where: str, version: int) -> dict:
    check = Checker(data, where, {1: TURN_FIELDS_V1, 2: TURN_FIELDS_V2, 3: TURN_FIELDS_V3}.get(version, TURN_FIELDS))
    status = check.text("status", 16)
    if status not in Turn.Status.values:
        check.fail(f"field 'status' must be one of {', '.join(Turn.Status.values)}")
    turn = {
        "id": check.identifier("id"),
        "prompt": check.text("prompt", settings.MAX_PROMPT_CHARS, blank=False),
        "output_text": check.text("answer", MAX_ANSWER_CHARS),
        "thinking": check.text("thinking", MAX_ANSWER_CHARS) if version >= 3 else "",
        "attachments": import_files.checked_files(data["attachments"], where) if version >= 4 else [],
        "status": status,
        "model": check.text("model", 100),
        "response_id": check.text("response_id", 255),
        "mode": check.text("mode", 12),
        "attempts": check.integer("attempts", null=False),
        **{name: check.integer(name) for name in TOKEN_FIELDS},
        **{name: check.money(name, PRICE) for name in PRICE_FIELDS},
        "cost_usd": check.money("cost_usd", {"max_digits": 12, "decimal_places": 6}),
        "provider_cost_usd": check.money("provider_cost_usd", USD),
        "error_code": check.text("error_code", 64),
        "error_message": check.text("error_message", MAX_ERROR_CHARS),
        "history": _earlier_attempts(data["earlier_attempts"], where),
        **(
            {"parent": check.identifier("parent", null=True)}
            if version >= 2
            else {"superseded_by": check.identifier("superseded_by", null=True)}
        ),
        "created_at": check.time("created_at", null=False),
        "started_at": check.time("started_at"),
        "completed_at": check.time("completed_at"),
        "updated_at": check.time("updated_at", null=False),
    }
    turn["was_active"] = status in Turn.OPEN
    if turn["was_active"]:
        # Arrives in a final state: importing never generates anything.
        turn.update(status=Turn.Status.FAILED, error_code=INTERRUPTED_CODE, error_message=INTERRUPTED_MESSAGE)
    return turn


def checked_conversation(data, number: int, version: int) -> dict:
    where = f"Conversation {number}"
    check = Checker(data, where, CONVERSATION_FIELDS if version >= 2 else CONVERSATION_FIELDS_V1)
    conversation: dict[str, Any] = {
        "id": check.identifier("id"),
        "title": check.text("title", 200),
        "model": check.text("model", 100, blank=False),
        "instructions": check.text("instructions", settings.MAX_INSTRUCTIONS_CHARS),
        "max_output_tokens": check.integer("max_output_tokens", minimum=1),
        "reasoning_effort": check.text("reasoning_effort", 10),
        "created_at": check.time("created_at", null=False),
        "updated_at": check.time("updated_at", null=False),
        "pinned_at": check.time("pinned_at"),
        "archived_at": check.time("archived_at"),
    }
    check.identifier("origin_id", null=True)  # informative only: the file's `id` is what an import remembers
    where = f"{where} (“{conversation['title'][:60]}”)"
    raw_turns = data["turns"]
    if not isinstance(raw_turns, list):  # its length was bounded as it was read (IMPORT_MAX_TURNS)
        raise ImportRefused(f"{where} field 'turns' must be a list.")
    turns = [_turn(raw, f"{where}, turn {index}", version) for index, raw in enumerate(raw_turns, start=1)]
    ids = [turn["id"] for turn in turns]
    if len(set(ids)) != len(ids):
        raise ImportRefused(f"{where} has two turns with the same id.")
    if version < 2:
        for index, turn in enumerate(turns, start=1):
            if turn["superseded_by"] is not None and (
                turn["superseded_by"] not in ids or turn["superseded_by"] == turn["id"]
            ):
                raise ImportRefused(f"{where}, turn {index} is superseded by a turn that is not in this conversation.")
        _parents_from_superseded(turns)
    _check_tree(turns, where)
    conversation["current_turn"] = check.identifier("current_turn", null=True) if version >= 2 else None
    if conversation["current_turn"] is not None and conversation["current_turn"] not in set(ids):
        check.fail("field 'current_turn' is not one of its turns")
    conversation["turns"] = turns
    return conversation


def _parents_from_superseded(turns: list[dict]) -> None:
    """Version 1: a regenerated or edited turn was a new turn at the end; the turn it redid, and every
    later one then shown, were `superseded_by` it. Replayed in creation order, each turn gets its
    `parent`: an ordinary turn follows the last turn shown, a new version takes the parent of the
    first turn it replaced (as migration 0010 did for the database).
    """
    replaced: dict = {}
    for turn in turns:
        if turn["superseded_by"] is not None:
            replaced.setdefault(turn["superseded_by"], []).append(turn["id"])
    line: list = []  # the turns shown at that moment
    place: dict = {}
    for turn in sorted(turns, key=lambda turn: turn["created_at"]):  # stable: ties keep the file's order
        cut = min((place[gone] for gone in replaced.get(turn["id"], ()) if gone in place), default=None)
        if cut is not None:
            for gone in line[cut:]:
                del place[gone]
            del line[cut:]
        turn["parent"] = line[-1] if line else None
        place[turn["id"]] = len(line)
        line.append(turn["id"])
    for turn in turns:
        del turn["superseded_by"]


def _check_tree(turns: list[dict], where: str) -> None:
    """Every `parent` is another turn of the conversation, and following parents always ends."""
    parent = {turn["id"]: turn["parent"] for turn in turns}
    for index, turn in enumerate(turns, start=1):
        if turn["parent"] is not None and (turn["parent"] not in parent or turn["parent"] == turn["id"]):
            raise ImportRefused(f"{where}, turn {index} follows a turn that is not in this conversation.")
    ends: set = set()  # turns whose parents are known to lead to a first turn
    for index, turn in enumerate(turns, start=1):
        walked, step = set(), turn["id"]
        while step is not None and step not in ends:
            if step in walked:
                raise ImportRefused(f"{where}, turn {index} is in a loop of turns that follow each other.")
            walked.add(step)
            step = parent[step]
        ends |= walked


def check_envelope(seen: dict) -> None:
    if seen.get("format") != FORMAT:
        raise ImportRefused(f"This file is not an aimlweb export (its 'format' is not \"{FORMAT}\").")
    version = seen.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ImportRefused("The file's 'version' must be a whole number.")
    if version not in READABLE_VERSIONS:
        raise ImportRefused(
            f"This export is version {version}; this app reads version {max(READABLE_VERSIONS)}"
            f"{' and older' if len(READABLE_VERSIONS) > 1 else ''}. Update the app to import it."
        )
