"""What the user typed, as a search: words, "phrases", -excluded, prefix*, a OR b.

The text is parsed into a Query that each database gets only as quoted strings (FTS5 for
SQLite, a raw tsquery for PostgreSQL), so FTS syntax (NEAR, column:, ^, parentheses) is just
text. SearchError (errors.py) says, for the page, why a text cannot be searched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from .errors import SearchError

MAX_CHARS = 1000
MAX_TERMS = 24
MIN_PREFIX = 3
# What FTS5's unicode61 tokenizer keeps as a word: letters and digits (not "_").
WORD = re.compile(r"[^\W_]+")
TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')
SURROGATES = re.compile("[\ud800-\udfff]")


def fold(word: str) -> str:
    """Lower case without accents, roughly as the index compares words."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # as typed (the database folds them its own way)
    prefix: bool = False

    @property
    def folded(self) -> tuple[str, ...]:
        return tuple(fold(w) for w in self.words)

    def fts5(self) -> str:
        # An FTS5 string: the database splits it into words itself; nothing inside is syntax.
        return '"' + " ".join(self.words) + '"' + (" *" if self.prefix else "")

    def tsquery(self) -> str:
        lexemes = [f"'{w.lower()}'" for w in self.words]
        if self.prefix:
            lexemes[-1] += ":*"
        return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


@dataclass
class Query:
    groups: list[list[Term]]  # every group must match; a group matches when one of its terms does
    excluded: list[Term] = field(default_factory=list)

    def fts5(self, column: str = "") -> str:
        """The FTS5 query; with `column`, the wanted words in that column only (no exclusions)."""
        wanted = " AND ".join("(" + " OR ".join(t.fts5() for t in group) + ")" for group in self.groups)
        if column:
            return f"{{{column}}} : ({wanted})"
        if self.excluded:
            wanted = f"({wanted}) NOT ({' OR '.join(t.fts5() for t in self.excluded)})"
        return wanted

    def tsquery(self) -> str:
        wanted = " & ".join("(" + " | ".join(t.tsquery() for t in group) + ")" for group in self.groups)
        if self.excluded:
            wanted += " & !(" + " | ".join(t.tsquery() for t in self.excluded) + ")"
        return wanted

    def matcher(self):
        """A predicate on a folded word: does it match one of the wanted terms?"""
        exact = {w for group in self.groups for term in group for w in term.folded}
        prefixes = tuple(term.folded[-1] for group in self.groups for term in group if term.prefix)
        return lambda word: word in exact or (bool(prefixes) and word.startswith(prefixes))

    @cached_property
    def _pattern(self) -> re.Pattern:
        return self._compile()

    def pattern(self) -> re.Pattern:
        """The wanted words as a regex, to find the first match in a long text quickly."""
        return self._pattern

    def _compile(self) -> re.Pattern:
        alternatives = []
        for group in self.groups:
            for term in group:
                for i, word in enumerate(term.words):
                    tail = r"[^\W_]*" if term.prefix and i == len(term.words) - 1 else ""
                    alternatives.append(re.escape(word) + tail)
        return re.compile(r"(?<![^\W_])(?:" + "|".join(alternatives) + r")(?![^\W_])", re.IGNORECASE)


def clean(text: str) -> str:
    """Drop what no database can take: NUL bytes and lone surrogates."""
    return SURROGATES.sub(" ", text.replace("\x00", " "))


def parse(text: str) -> Query:
    """Words must all appear; "a phrase" in quotes; -word excludes; word* is a prefix; a OR b."""
    text = clean(text).strip()
    if len(text) > MAX_CHARS:
        raise SearchError(
            f"A search can be at most {MAX_CHARS:,} characters long (this one has {len(text):,}). "
            "Search for a few distinctive words instead."
        )
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    join_next = False
    for match in TERM.finditer(text):
        minus, quoted, bare = match.groups()
        if bare is not None:
            if bare == "OR":
                join_next = bool(groups)
                continue
            negated = bare.startswith("-") and len(bare) > 1
            word = bare[1:] if negated else bare
            prefix = word.endswith("*")
            words = tuple(WORD.findall(word))
        else:
            negated, prefix, word = minus == "-", False, quoted
            words = tuple(WORD.findall(quoted))
        if not words:  # only punctuation, a lone quote, * or -: nothing to look for
            join_next = False
            continue
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise SearchError(
                f"Put at least {MIN_PREFIX} letters before * ({word.rstrip('*')}* would match too many words)."
            )
        term = Term(words, prefix)
        if negated:
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    if not groups:
        if excluded:
            raise SearchError("Add a word to look for: -word only leaves out messages that contain it.")
        raise SearchError("Type a word to look for: punctuation and symbols on their own are not searched.")
    if sum(len(g) for g in groups) + len(excluded) > MAX_TERMS:
        raise SearchError(f"Use at most {MAX_TERMS} words: a few distinctive ones find more.")
    return Query(groups, excluded)
