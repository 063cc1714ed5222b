"""The import's reader: an export file as a stream of validated conversations, in bounded memory.

The file is parsed as a stream of events (ijson, without prefixes), so a 100 MB file never sits
in memory: one conversation at a time is built as Python values and handed to import_checks.py.
What the format never holds is refused as it is read, before it costs anything: nesting deeper
than the format, a list or object where the format has a plain value, a text longer than any
field allows, more turns or earlier attempts than allowed, a conversation over
IMPORT_MAX_CONVERSATION_MB.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import IO, cast

import ijson
from django.conf import settings

from .errors import ImportRefused
from .import_checks import MAX_ANSWER_CHARS, check_envelope, checked_conversation

# Any single string in the file, checked while parsing (before a conversation is built).
MAX_STRING_CHARS = max(MAX_ANSWER_CHARS, 1_000_000)
# The deepest the format nests: envelope > conversations > conversation > turns > turn >
# earlier_attempts > attempt. Deeper is refused as it is read (the parser's cost grew with the depth).
MAX_DEPTH = 7
# What a list or object costs in memory, counted against IMPORT_MAX_CONVERSATION_MB (a scalar: its
# text and a little more). `[{},{},...]` costs ~30x its bytes in Python objects.
CONTAINER_BYTES = 100
SCALAR_BYTES = 16
# Where a conversation may hold a list or an object: (depth inside it, key) -> the container allowed.
# A turn's files (format version 4) are a list of objects, like its earlier attempts.
CONTAINERS = {(1, "turns"): "start_array", (2, "item"): "start_map", (3, "earlier_attempts"): "start_array",
              (3, "attachments"): "start_array", (4, "item"): "start_map"}  # fmt: skip


def _max_file_chars() -> int:
    """An attachment's bytes as a base64 data URL (ATTACHMENT_MAX_BYTES, its prefix)."""
    return settings.ATTACHMENT_MAX_BYTES * 4 // 3 + 100


def _parse_error(exc: Exception) -> ImportRefused:
    """Why the parser stopped, in plain words (its own message is for programmers: "lexical error: invalid
    char in json text")."""
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail).lower()
    if "premature eof" in detail or not detail.strip():
        reason = "it ends too early, as if cut short: was the download complete?"
    elif "trailing garbage" in detail:
        reason = "something more follows the end of the export in the same file"
    elif "utf8" in detail or "utf-8" in detail:
        reason = "part of its text is not UTF-8, the encoding every export is written in"
    else:
        reason = "it has something that is not an export's text in it: is it the file an aimlweb export gave you?"
    return ImportRefused(f"This is not a valid JSON file: {reason}")


def _events(file: IO[bytes]) -> Iterator[tuple[str, object]]:
    """The parser's events, without prefixes (whose cost grew with the square of the depth)."""
    depth = 0
    longest, key = max(MAX_STRING_CHARS, _max_file_chars()), ""
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
            elif event == "map_key":
                key = value
            elif event == "string" and len(value) > (most := longest if key == "data" else MAX_STRING_CHARS):
                raise ImportRefused(f"The file has a text of more than {most:,} characters.")  # a file's: "data"
            yield event, value
    except ijson.JSONError as exc:
        raise _parse_error(exc) from None
    except UnicodeDecodeError:
        raise ImportRefused(
            "This is not a valid JSON file: part of its text is not UTF-8, the encoding every export is written in."
        ) from None


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
    key = ""  # an object's values come after their key, so it is always set where it is used
    while stack:
        event, value = _next(events)
        container = stack[-1]
        if event == "map_key":
            key = cast(str, value)  # the parser's keys are text
            size += SCALAR_BYTES + len(key)
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
                # The name is cut: a hostile file's keys can be any length, a message cannot.
                name = str(place)[:40]
                raise ImportRefused(f"{where} holds a list or object in {name!r}, where the format has a plain value.")
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
        event, value = _next(events)
        if event == "end_map":
            break
        key = cast(str, value)  # inside an object, the parser's next event is a key (or the end)
        if key == "conversations":
            check_envelope(seen)
            if _next(events)[0] != "start_array":
                raise ImportRefused("The file's 'conversations' must be a list.")
            ids: set[uuid.UUID] = set()
            for number in itertools.count(1):
                first = _next(events)
                if first[0] == "end_array":
                    break
                data = _build_conversation(first, events, f"Conversation {number}")
                conversation = checked_conversation(
                    data, number, cast(int, seen["version"])
                )  # checked by check_envelope
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
        check_envelope(seen)
        raise ImportRefused("The file has no 'conversations' list.")
    # Trailing data after the object is refused by the parser, read to the end here.
    for _ in events:
        pass
