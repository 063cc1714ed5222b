"""A conversation's first title, from its first prompt, as a person would write it (no model asked).

Every conversation gets one at once; with TITLE_MODEL set, generation/title_model.py may replace it
once the first answer is in.
"""

from __future__ import annotations

import re

TITLE_CHARS = 60
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url) and ![alt](url): the text
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_INDENTED_CODE = re.compile(r"(?: {4}|\t)")  # a paragraph indented as code
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)  # "## Plan" then text: "Plan: text"
_LINE_MARK = re.compile(r"^[ \t]*(?:>[ \t]?|[-*+][ \t]+\[[ xX]\][ \t]+|[-*+][ \t]+|\d+[.)][ \t]+)", re.M)
# Emphasis and code marks, HTML tags, and rules or table separator rows.
_INLINE_MARK = re.compile(
    r"(\*\*|__|~~|`+|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|<[^>\n]*>|^[ \t]*[-=*_|: ]{3,}[ \t]*$)", re.M
)


def _title_words(text: str) -> str:
    """Text without URLs and Markdown marks, whitespace collapsed ("## Plan" becomes "Plan:")."""
    text = _URL.sub(" ", _LINK.sub(r"\1", text))
    text = _HEADING.sub(lambda m: m.group(1).rstrip(":") + ":", text)
    text = _INLINE_MARK.sub("", _LINE_MARK.sub("", text)).replace("|", " ")
    return " ".join(text.split())


def title_from(prompt: str) -> str:
    """A short title from the first prompt, as a person would write it.

    It comes from the first paragraphs of prose (at least three words): code blocks (fenced or
    indented), Markdown marks and URLs are left out; a prompt that is only code is named by its
    first line of code. A long one is cut at a word boundary.
    """
    text = prompt.replace("\r\n", "\n")
    prose = _FENCE.sub("\n\n", text)
    if not prose.strip():
        code = next((m.group(2) for m in _FENCE.finditer(text) if m.group(2).strip()), "")
        prose = next((line for line in code.splitlines() if line.strip()), "")
    paragraphs = [part for part in re.split(r"\n[ \t]*\n", prose) if part.strip()]
    chosen: list[str] = []
    for paragraph in [part for part in paragraphs if not _INDENTED_CODE.match(part)] or paragraphs:
        if cleaned := _title_words(paragraph):
            chosen.append(cleaned)
        if len(" ".join(chosen).split()) >= 3:
            break
    words = " ".join(chosen).strip(" -:;,")
    if not words:  # nothing but URLs or marks: the prompt itself, without "https://"
        words = " ".join(re.sub(r"https?://", "", text).split())
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[: TITLE_CHARS + 1].rsplit(" ", 1)[0] if " " in words[: TITLE_CHARS + 1] else words[:TITLE_CHARS]
    return cut.rstrip(" ,.;:-–—(") + "…"
