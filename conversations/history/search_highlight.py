"""Snippets: a window of a message around its first match, matching words in <mark>, all escaped.

Cut and highlighted from the stored text, escaped piece by piece (model output is never marked safe).
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .search_query import WORD, Query, fold

FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
LINE_MARKERS = re.compile(r"^\s{0,3}(?:#{1,6}|>+|[-*+]|\d{1,3}[.)])\s+", re.MULTILINE)
INLINE_MARKERS = re.compile(r"`+|\*{1,3}(?=\S)|(?<=\S)\*{1,3}|~~|\s\|\s|^\||\|$", re.MULTILINE)
LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
SPACE = re.compile(r"\s+")


def plain(text: str) -> str:
    """Markdown as a reader sees it, roughly: link texts kept; fences, headings, quotes, list and
    emphasis markers, table bars and line breaks gone. Anything else (<, &, C#) stays as typed."""
    text = LINK.sub(r"\1", text)
    text = INLINE_MARKERS.sub(" ", LINE_MARKERS.sub("", FENCE.sub(" ", text)))
    return SPACE.sub(" ", text).strip()


def highlight(text: str, query: Query, *, width: int = 220) -> SafeString:
    """A window of `text` around its first matching word, matching words in <mark>, all escaped."""
    # Only the neighbourhood of the first match is cleaned up: answers can be 50 KB long.
    first = query.pattern().search(text)
    around = first.start() if first else 0
    offset = max(0, around - 2 * width)
    text = ("… " if offset else "") + plain(text[offset : around + 3 * width])
    is_match = query.matcher()
    first = query.pattern().search(text)
    start = first.start() if first else 0
    if not first:  # accents or other spellings the index folds: look word by word
        start = next((m.start() for m in WORD.finditer(text) if is_match(fold(m.group()))), 0)
    if start > width // 3:
        start = text.rfind(" ", 0, start - width // 3) + 1
    else:
        start = 0
    window = text[start : start + width]
    if start + width < len(text):
        window = window[: window.rfind(" ")] if " " in window else window
    parts: list[str] = ["…" if start and not window.startswith("…") else ""]
    position = 0
    # The words as typed (any case) in one regex pass; word by word, folding accents, only if none is there.
    spans = [m.span() for m in query.pattern().finditer(window)] or [
        m.span() for m in WORD.finditer(window) if is_match(fold(m.group()))
    ]
    for begin, end in spans:
        parts.append(escape(window[position:begin]))
        parts.append(f"<mark>{escape(window[begin:end])}</mark>")
        position = end
    parts.append(escape(window[position:]))
    if start + len(window) < len(text) or len(text) - (2 if offset else 0) >= 3 * width:
        parts.append("…")
    # Every piece of the text is escaped above; only our own <mark> tags are not (format_html per piece
    # cost more than the search itself on a page of 60 snippets).
    return mark_safe("".join(parts))  # noqa: S308
