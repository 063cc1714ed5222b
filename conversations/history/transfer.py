"""Take a conversation away and bring it back: the export format, its reader, shares.

The format ("aimlweb-export", version 2) is described field by field in
docs/export-format.md. This module writes it (one conversation, or all of a
user's as a stream of bytes in flat memory), reads and validates it (a streaming
parse, so a 100 MB file never sits in memory), and builds the snapshots that
shares show. It only reads the database: the import's writes are
`services.conversations_import`, share writes `services.share_create/revoke`.
"""

from __future__ import annotations

import itertools
import json
import pickle
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import IO

import ijson
from django.conf import settings
from django.db.models import Q
from django.http import Http404
from django.utils.safestring import mark_safe

from conversations.chat import rendering, selectors
from conversations.models import PRICE, USD, Conversation, Share, Turn

FORMAT = "aimlweb-export"
VERSION = 2
# Versions this app can read (it refuses newer ones: it could not know what they mean).
# Version 1 marked a replaced turn `superseded_by` the newer one; version 2 has each turn's `parent`.
READABLE_VERSIONS = (1, 2)

# Upload limit of the import page (override with settings.IMPORT_MAX_BYTES).
DEFAULT_IMPORT_MAX_BYTES = 100 * 1024 * 1024
# Bounds on what one file may hold, so a hostile file cannot exhaust memory or the database.
MAX_ANSWER_CHARS = 2_000_000
MAX_ERROR_CHARS = 10_000
MAX_HISTORY_KEYS = 50
MAX_HISTORY_VALUE_CHARS = 10_000
MAX_INT = 2_147_483_647  # PositiveIntegerField on every backend
# Any single string in the file, checked while parsing (before a conversation is built).
MAX_STRING_CHARS = max(MAX_ANSWER_CHARS, 1_000_000)

TURN_FIELDS = (
    "id",
    "prompt",
    "answer",
    "status",
    "model",
    "response_id",
    "mode",
    "attempts",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "input_price",
    "cached_input_price",
    "output_price",
    "cost_usd",
    "provider_cost_usd",
    "error_code",
    "error_message",
    "earlier_attempts",
    "parent",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
)
TURN_FIELDS_V1 = tuple("superseded_by" if name == "parent" else name for name in TURN_FIELDS)
CONVERSATION_FIELDS = (
    "id",
    "origin_id",
    "title",
    "model",
    "instructions",
    "max_output_tokens",
    "reasoning_effort",
    "created_at",
    "updated_at",
    "pinned_at",
    "archived_at",
    "current_turn",
    "turns",
)
CONVERSATION_FIELDS_V1 = tuple(name for name in CONVERSATION_FIELDS if name != "current_turn")
HISTORY_ORDER = ("attempt", "status", "error_code", "error_message", "response_id", "input_tokens", "output_tokens",
                 "cost_usd", "started_at", "completed_at")  # fmt: skip
TOKEN_FIELDS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
PRICE_FIELDS = ("input_price", "cached_input_price", "output_price")
# What a turn that was still queued or running when exported becomes: it is never sent again by an import.
INTERRUPTED_CODE = "interrupted"
INTERRUPTED_MESSAGE = (
    "This answer was still being generated when the conversation was exported, so it was imported "
    "without it. Press Retry to send the prompt again."
)


class ImportRefused(Exception):
    """The file is not a valid export: nothing was imported. `message` says why, for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Writing ------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def turn_data(turn: Turn) -> dict:
    """One turn as the export writes it (every field of docs/export-format.md, in its order)."""
    return {
        "id": str(turn.id),
        "prompt": turn.prompt,
        "answer": turn.output_text,
        "status": turn.status,
        "model": turn.model,
        "response_id": turn.response_id,
        "mode": turn.mode,
        "attempts": turn.attempts,
        **{name: getattr(turn, name) for name in TOKEN_FIELDS},
        **{name: _money(getattr(turn, name)) for name in PRICE_FIELDS},
        "cost_usd": _money(turn.cost_usd),
        "provider_cost_usd": _money(turn.provider_cost_usd),
        "error_code": turn.error_code,
        "error_message": turn.error_message,
        "earlier_attempts": turn.history or [],
        "parent": str(turn.parent_id) if turn.parent_id else None,
        "created_at": _time(turn.created_at),
        "started_at": _time(turn.started_at),
        "completed_at": _time(turn.completed_at),
        "updated_at": _time(turn.updated_at),
    }


def conversation_data(conversation: Conversation, turns: Iterable[Turn]) -> dict:
    return {
        "id": str(conversation.id),
        "origin_id": str(conversation.origin_id) if conversation.origin_id else None,
        "title": conversation.title,
        "model": conversation.model,
        "instructions": conversation.instructions,
        "max_output_tokens": conversation.max_output_tokens,
        "reasoning_effort": conversation.reasoning_effort,
        "created_at": _time(conversation.created_at),
        "updated_at": _time(conversation.updated_at),
        "pinned_at": _time(conversation.pinned_at),
        "archived_at": _time(conversation.archived_at),
        "current_turn": str(conversation.current_turn_id) if conversation.current_turn_id else None,
        "turns": [turn_data(turn) for turn in turns],
    }


def _exported_turns(conversation_ids) -> Iterator[Turn]:
    # Neither the rendered HTML (rebuilt on import) nor the provider's raw JSON is exported.
    return (
        Turn.objects.filter(conversation_id__in=conversation_ids)
        .defer("output_html", "response_json")
        .order_by("conversation__created_at", "conversation_id", "created_at", "id")
        .iterator(chunk_size=500)
    )


def _envelope_head(now: datetime) -> str:
    return f'{{"format": "{FORMAT}", "version": {VERSION}, "exported_at": "{_time(now)}", "conversations": [\n'


def export_conversation(*, conversation: Conversation, now: datetime) -> bytes:
    """One conversation as a complete export file (the same format as an export of everything)."""
    data = conversation_data(conversation, _exported_turns([conversation.id]))
    return (_envelope_head(now) + json.dumps(data, ensure_ascii=False) + "\n]}\n").encode()


def _conversation_batches(user, size: int) -> Iterator[list[Conversation]]:
    """The user's conversations, oldest first, in batches (keyset on created_at, id: never OFFSET)."""
    after = None
    while True:
        batch_query = Conversation.objects.filter(owner=user).order_by("created_at", "id")
        if after is not None:
            batch_query = batch_query.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
        batch = list(batch_query[:size])
        if not batch:
            return
        yield batch
        after = (batch[-1].created_at, batch[-1].id)


def export_stream(*, user, now: datetime, batch_size: int = 200) -> Iterator[bytes]:
    """Every conversation of `user` as one export file, chunk by chunk.

    Memory stays flat whatever the number of conversations: one batch of
    conversations and one conversation's turns at a time, the turns read with a
    server-side iterator in the same order as the batch (so they can be merged).
    Two queries per batch of conversations.
    """
    yield _envelope_head(now).encode()
    separator = ""
    for batch in _conversation_batches(user, batch_size):
        by_conversation = itertools.groupby(_exported_turns([c.id for c in batch]), key=lambda t: t.conversation_id)
        pending = next(by_conversation, None)
        for conversation in batch:
            matched = pending is not None and pending[0] == conversation.id
            data = conversation_data(conversation, pending[1] if matched else ())
            if matched:  # only now: advancing groupby ends the group just read
                pending = next(by_conversation, None)
            yield (separator + json.dumps(data, ensure_ascii=False)).encode()
            separator = ",\n"
    yield b"\n]}\n"


# --- Markdown -----------------------------------------------------------------------------


def _usd(value: Decimal | None) -> str:
    return "–" if value is None else f"${value:.6f}".rstrip("0").rstrip(".")


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _turn_markdown(number: int, turn: Turn, ids: dict, tree: selectors.Tree) -> list[str]:
    lines = [f"## {number}. Prompt", "", _quote(turn.prompt), ""]
    notes = []
    if turn.parent_id is not None and ids.get(turn.parent_id) != number - 1:
        notes.append(f"Follows turn {ids.get(turn.parent_id)}.")
    versions = tree.versions(turn.id)
    if versions:
        others = ", ".join(str(ids[other]) for other in tree.children[turn.parent_id] if other != turn.id)
        notes.append(
            f"Version {versions.number} of {versions.count} at this place (an edit or a regeneration; "
            f"the other{'s are turns' if versions.count > 2 else ' is turn'} {others})."
        )
    if notes:
        lines += [f"*{' '.join(notes)}*", ""]
    lines += [f"### Answer ({turn.get_status_display().lower()})", ""]
    if turn.output_text:
        lines += [turn.output_text, ""]
    if turn.error_message:
        lines += [f"**{turn.error_code or turn.status}:** {turn.error_message}", ""]
    details = [
        f"- Model: {turn.model or '–'}; response id: {turn.response_id or '–'}; attempts: {turn.attempts}",
        f"- Created {_time(turn.created_at)}, started {_time(turn.started_at) or '–'}, "
        f"completed {_time(turn.completed_at) or '–'}",
    ]
    if turn.total_tokens is not None or turn.input_tokens is not None:
        details.append(
            f"- Tokens: {turn.input_tokens or 0} in ({turn.cached_tokens or 0} cached), "
            f"{turn.output_tokens or 0} out ({turn.reasoning_tokens or 0} reasoning), {turn.total_tokens or 0} total"
        )
    if turn.cost_usd is not None or turn.provider_cost_usd is not None:
        details.append(
            f"- Cost: {_usd(turn.cost_usd)} (provider's figure: {_usd(turn.provider_cost_usd)}); "
            f"USD per 1M tokens: input {turn.input_price if turn.input_price is not None else '–'}, "
            f"cached input {turn.cached_input_price if turn.cached_input_price is not None else '–'}, "
            f"output {turn.output_price if turn.output_price is not None else '–'}"
        )
    lines += ["<details><summary>Details</summary>", "", *details]
    for entry in turn.history or []:
        # In a fixed order: PostgreSQL's jsonb does not keep the order keys were written in.
        keys = [key for key in HISTORY_ORDER if key in entry] + sorted(set(entry) - set(HISTORY_ORDER))
        summary = ", ".join(f"{key}: {entry[key]}" for key in keys if entry[key] not in (None, ""))
        lines.append(f"- Earlier attempt: {summary}")
    lines += ["", "</details>", ""]
    return lines


def export_markdown(*, conversation: Conversation, now: datetime) -> str:
    """A readable Markdown transcript with every turn's figures (the JSON export is the one to import)."""
    turns = list(_exported_turns([conversation.id]))
    ids = {turn.id: number for number, turn in enumerate(turns, start=1)}
    tree = selectors.Tree((turn.id, turn.parent_id, turn.status) for turn in turns)
    lines = [
        f"# {conversation.title or 'Untitled'}",
        "",
        f"- Model: {conversation.model}",
        f"- Created: {_time(conversation.created_at)}; last updated: {_time(conversation.updated_at)}",
        f"- Exported from aimlweb: {_time(now)}",
    ]
    if conversation.max_output_tokens:
        lines.append(f"- Max output tokens: {conversation.max_output_tokens}")
    if conversation.reasoning_effort:
        lines.append(f"- Reasoning effort: {conversation.reasoning_effort}")
    costs = [turn.cost_usd for turn in turns if turn.cost_usd is not None]
    if costs:
        lines.append(f"- Cost of all turns: {_usd(sum(costs, Decimal(0)))}")
    lines.append("")
    if conversation.instructions:
        lines += ["## Instructions (system prompt)", "", _quote(conversation.instructions), ""]
    for number, turn in enumerate(turns, start=1):
        lines += _turn_markdown(number, turn, ids, tree)
    return "\n".join(lines)


# --- Reading and validating -------------------------------------------------------------------


def _parse_error(exc: Exception) -> ImportRefused:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail).strip().splitlines()[0] if str(detail).strip() else "unreadable"
    return ImportRefused(f"This is not a valid JSON file, or it is cut short ({detail}).")


# The deepest the format nests: envelope > conversations > conversation > turns > turn >
# earlier_attempts > attempt. Deeper is refused as it is read (the parser's cost grew with the depth).
MAX_DEPTH = 7
# What a list or object costs in memory, counted against IMPORT_MAX_CONVERSATION_MB (a scalar: its
# text and a little more). `[{},{},...]` costs ~30x its bytes in Python objects.
CONTAINER_BYTES = 100
SCALAR_BYTES = 16
# Where a conversation may hold a list or an object: (depth inside it, key) -> the container allowed.
CONTAINERS = {(1, "turns"): "start_array", (2, "item"): "start_map", (3, "earlier_attempts"): "start_array",
              (4, "item"): "start_map"}  # fmt: skip


def _events(file: IO[bytes]) -> Iterator[tuple[str, object]]:
    """The parser's events, without prefixes (whose cost grew with the square of the depth)."""
    depth = 0
    try:
        for event, value in ijson.basic_parse(file, use_float=False, buf_size=16 * 1024):
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ImportRefused(
                        f"This file nests lists or objects more than {MAX_DEPTH} deep; an aimlweb export never does."
                    )
            elif event in ("end_map", "end_array"):
                depth -= 1
            elif event == "string" and len(value) > MAX_STRING_CHARS:  # type: ignore[arg-type]
                raise ImportRefused(f"The file has a text of more than {MAX_STRING_CHARS:,} characters.")
            yield event, value
    except ijson.JSONError as exc:
        raise _parse_error(exc) from None
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"The file is not valid UTF-8 text ({exc.reason}).") from None


def _build(first: tuple[str, object], events: Iterator[tuple[str, object]]):
    """A JSON value of the envelope: one plain value (format, version, exported_at)."""
    if first[0] in ("start_map", "start_array"):
        raise ImportRefused(
            "This file is not an aimlweb export (its 'format', 'version' and 'exported_at' are plain values)."
        )
    return first[1]


def _build_conversation(first: tuple[str, object], events: Iterator[tuple[str, object]], where: str):
    """One conversation as Python values, refused as soon as it holds what the format does not
    (a list or object elsewhere than its turns and their earlier attempts), more turns or earlier
    attempts than allowed, or more than IMPORT_MAX_CONVERSATION_MB: memory stays bounded."""
    if first[0] != "start_map":
        raise ImportRefused(f"{where} is not a JSON object.")
    limit = int(settings.IMPORT_MAX_CONVERSATION_MB * 1024 * 1024)
    counts = {1: settings.IMPORT_MAX_TURNS, 3: settings.IMPORT_MAX_ATTEMPTS}
    root: dict = {}
    stack: list = [root]  # the open containers
    size = CONTAINER_BYTES
    key = None
    while stack:
        event, value = _next(events)
        container = stack[-1]
        if event == "map_key":
            key = value
            size += SCALAR_BYTES + len(value)  # type: ignore[arg-type]
            continue
        if event in ("end_map", "end_array"):
            stack.pop()
            continue
        place = key if isinstance(container, dict) else "item"
        depth = len(stack)
        if isinstance(container, list) and depth - 1 in counts and len(container) >= counts[depth - 1]:
            what = "turns" if depth - 1 == 1 else "earlier attempts of a turn"
            setting = "IMPORT_MAX_TURNS" if depth - 1 == 1 else "IMPORT_MAX_ATTEMPTS"
            raise ImportRefused(f"{where} has more than {counts[depth - 1]:,} {what} (the most {setting} allows).")
        if event in ("start_map", "start_array"):
            if CONTAINERS.get((depth, place)) != event:
                raise ImportRefused(f"{where} holds a list or object in {place!r}, where the format has a plain value.")
            value = {} if event == "start_map" else []
            size += CONTAINER_BYTES
        else:
            size += SCALAR_BYTES + (len(value) if isinstance(value, str) else 0)
        if size > limit:
            raise ImportRefused(
                f"{where} is larger than {settings.IMPORT_MAX_CONVERSATION_MB:g} MB, the most one conversation may be "
                "(IMPORT_MAX_CONVERSATION_MB)."
            )
        if isinstance(container, dict):
            container[key] = value
        else:
            container.append(value)
        if event in ("start_map", "start_array"):
            stack.append(value)
    return root


def _next(events: Iterator[tuple[str, object]]) -> tuple[str, object]:
    try:
        return next(events)
    except StopIteration:
        raise ImportRefused("The file is cut short.") from None


class _Checker:
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

    def fail(self, problem: str):
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
    check = _Checker(data, where, TURN_FIELDS if version >= 2 else TURN_FIELDS_V1)
    status = check.text("status", 16)
    if status not in Turn.Status.values:
        check.fail(f"field 'status' must be one of {', '.join(Turn.Status.values)}")
    turn = {
        "id": check.identifier("id"),
        "prompt": check.text("prompt", settings.MAX_PROMPT_CHARS, blank=False),
        "output_text": check.text("answer", MAX_ANSWER_CHARS),
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
    turn["was_active"] = status in Turn.ACTIVE
    if turn["was_active"]:
        # Arrives in a final state: importing never generates anything.
        turn.update(status=Turn.Status.FAILED, error_code=INTERRUPTED_CODE, error_message=INTERRUPTED_MESSAGE)
    return turn


def _conversation(data, number: int, version: int) -> dict:
    where = f"Conversation {number}"
    check = _Checker(data, where, CONVERSATION_FIELDS if version >= 2 else CONVERSATION_FIELDS_V1)
    conversation = {
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


def read(file: IO[bytes]) -> Iterator[dict]:
    """Validated conversations of an export file, one at a time (a streaming parse).

    Raises ImportRefused with the reason at the first problem. `format` and
    `version` must come before `conversations` (as the export writes them), so
    a file of another version is refused before any of its contents is read.
    """
    events = _events(file)
    if _next(events)[0] != "start_map":
        raise ImportRefused("This file is not an aimlweb export (it is not a JSON object).")
    seen: dict[str, object] = {}
    while True:
        event, key = _next(events)
        if event == "end_map":
            break
        if key == "conversations":
            _check_envelope(seen)
            if _next(events)[0] != "start_array":
                raise ImportRefused("The file's 'conversations' must be a list.")
            ids: set[uuid.UUID] = set()
            for number in itertools.count(1):
                first = _next(events)
                if first[0] == "end_array":
                    break
                data = _build_conversation(first, events, f"Conversation {number}")
                conversation = _conversation(data, number, seen["version"])
                if conversation["id"] in ids:
                    raise ImportRefused(f"Conversation {number} appears twice in the file.")
                ids.add(conversation["id"])
                yield conversation
            seen[key] = True
        elif key in ("format", "version", "exported_at"):
            seen[key] = _build(_next(events), events)
        else:
            raise ImportRefused(f"This file is not an aimlweb export (unknown field {str(key)[:40]!r}).")
    if "conversations" not in seen:
        _check_envelope(seen)
        raise ImportRefused("The file has no 'conversations' list.")
    # Trailing data after the object is refused by the parser, read to the end here.
    for _ in events:
        pass


def _check_envelope(seen: dict) -> None:
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


@dataclass
class ImportPlan:
    """What a file holds, once validated: counts, and the new conversations spooled for writing."""

    conversations: int = 0
    turns: int = 0
    skipped: int = 0
    interrupted: int = 0


def prepare(file: IO[bytes], spool: IO[bytes], *, known_ids: set[uuid.UUID]) -> ImportPlan:
    """Validate the whole file and spool each conversation to import, with its answers rendered.

    Everything slow happens here, before any write: the caller then writes the
    spooled conversations in one short transaction. A conversation whose id is
    in `known_ids` (imported before, or still the user's own) is skipped.
    Answers are rendered from their Markdown with rendering.py: a file carries no HTML.
    """
    plan = ImportPlan()
    for conversation in read(file):
        plan.conversations += 1
        if conversation["id"] in known_ids:
            plan.skipped += 1
            continue
        for turn in conversation["turns"]:
            turn["output_html"] = rendering.markdown_to_html(turn["output_text"])
            plan.turns += 1
            plan.interrupted += turn.pop("was_active")
        pickle.dump(conversation, spool, protocol=pickle.HIGHEST_PROTOCOL)
    spool.seek(0)
    return plan


def spooled(spool: IO[bytes]) -> Iterator[dict]:
    """The conversations `prepare` spooled (our own temporary file, so unpickling it is safe)."""
    while True:
        try:
            yield pickle.load(spool)  # noqa: S301
        except EOFError:
            return


# --- Shares -----------------------------------------------------------------------------------


def share_snapshot(*, conversation: Conversation, show_cost: bool) -> list[dict]:
    """The turns a share shows, frozen now: prompt, rendered answer, status (and usage if chosen).

    The version on screen only (the path the owner reads); turns still being generated are
    left out. The rendered answer is the turn's own output_html, produced by rendering.py
    when the answer arrived.
    """
    tree = selectors.conversation_tree(conversation=conversation)
    path = tree.path(tree.leaf(current=conversation.current_turn_id))
    turns = {turn.pk: turn for turn in conversation.turns.filter(pk__in=path).defer("response_json", "history")}
    snapshot = []
    for turn in (turns[turn_id] for turn_id in path if turn_id in turns):
        if turn.status in Turn.ACTIVE:
            continue
        item = {
            "prompt": turn.prompt,
            "answer_html": turn.output_html,
            "answer_text": "" if turn.output_html else turn.output_text,
            "status": turn.status,
            "error_message": turn.error_message if turn.status != Turn.Status.COMPLETED else "",
            "model": turn.model,
            "created_at": _time(turn.created_at),
            "completed_at": _time(turn.completed_at),
        }
        if show_cost:
            item.update({name: getattr(turn, name) for name in TOKEN_FIELDS})
            item["cost_usd"] = _money(turn.cost_usd)
        snapshot.append(item)
    return snapshot


def share_turns(share: Share) -> list[dict]:
    """The snapshot, ready for the template (times parsed, answers marked safe)."""
    turns = []
    for item in share.snapshot:
        turn = dict(item)
        # Produced by rendering.markdown_to_html (sanitised with nh3) when the answer arrived.
        turn["answer_html"] = mark_safe(item.get("answer_html", ""))  # noqa: S308
        turn["status_label"] = Turn.Status(item["status"]).label
        for name in ("created_at", "completed_at"):
            turn[name] = datetime.fromisoformat(item[name]) if item.get(name) else None
        turn["cost_usd"] = Decimal(item["cost_usd"]) if item.get("cost_usd") else None
        turns.append(turn)
    return turns


def share_get(*, token: str) -> Share:
    """A live share for any signed-in user, or 404 (revoked and unknown tokens alike)."""
    share = Share.objects.select_related("owner").filter(token=token, revoked_at__isnull=True).first()
    if share is None:
        raise Http404("No such shared conversation.")
    return share


def share_get_owned(*, user, token: str) -> Share:
    share = Share.objects.filter(token=token, owner=user, revoked_at__isnull=True).first()
    if share is None:
        raise Http404("No such shared conversation.")
    return share


def shares_of(*, conversation: Conversation) -> list[Share]:
    """The conversation's live shares, newest first (for its owner's share panel)."""
    return list(
        Share.objects.filter(conversation=conversation, revoked_at__isnull=True)
        .defer("snapshot")
        .order_by("-created_at", "-id")
    )
