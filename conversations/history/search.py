"""Full-text search over a user's own conversations: titles, prompts and answers.

Pages call `find(user=, text=, filters=, page=)` and never care which database runs it:

- SQLite (the default): an FTS5 table, `conversations_fts`, kept in step by triggers on the
  turn and conversation tables. It is contentless (the text already lives in the turns), so
  each indexed turn or title gets a stable integer row id from `conversations_searchrow` (our
  primary keys are UUIDs, and SQLite may renumber implicit rowids on VACUUM), in a range of
  its owner's own. That row also carries the filter columns, so a search never reads the big
  turn rows.
- PostgreSQL: tsvector columns the database computes itself (GENERATED ... STORED) on turns
  and conversations, with GIN indexes, queried through django.contrib.postgres.search.

The index is created and kept in step by search_index.py (migration 0005, re-checked after
every `migrate`); `manage.py search_rebuild` rebuilds it from the turns.

What the user types is parsed here (words, "phrases", -excluded, prefix*, a OR b) and passed
to the database only as quoted strings, so FTS syntax (NEAR, column:, ^, parentheses) is just
text. A word matching many thousands of messages is ranked among the newest RANKED_MAX of them,
which keeps a search of a common word fast at any size. Snippets are cut and highlighted here
from the stored text, escaped piece by piece (model output is never marked safe).
"""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property

from django import forms
from django.db import connection
from django.db.models import Expression, Q
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

from conversations.models import Conversation, Turn
from conversations.usage import catalog

from . import search_index

logger = logging.getLogger(__name__)

PAGE = 20
# A search ranks (by relevance, then recency) at most this many of the newest matching messages.
RANKED_MAX = 2000
# Up to this many matches are ranked by bm25; more (a common word) by where the words are.
BM25_MAX = 300
MAX_CHARS = 1000
MAX_TERMS = 24
MIN_PREFIX = 3
# What FTS5's unicode61 tokenizer keeps as a word: letters and digits (not "_").
WORD = re.compile(r"[^\W_]+")
TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')
SURROGATES = re.compile("[\ud800-\udfff]")


class SearchError(ValueError):
    """The search text cannot be searched; `message` says why, for the page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- What the user typed ------------------------------------------------------------------


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


# --- Filters ------------------------------------------------------------------------------

ARCHIVED_CHOICES = [("", "Not archived"), ("only", "Archived only"), ("all", "Archived too")]


@dataclass
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    model: str = ""
    status: str = ""
    archived: str = ""
    min_cost: Decimal | None = None

    @property
    def active(self) -> bool:
        return any(
            value not in (None, "")
            for value in (self.date_from, self.date_to, self.model, self.status, self.archived, self.min_cost)
        )

    @property
    def turns_only(self) -> bool:
        """Filters only a turn can meet (a title hit has no status or cost)."""
        return bool(self.status) or self.min_cost is not None

    def span(self) -> tuple[datetime | None, datetime | None]:
        """The date range as instants: from the start of the first day to the end of the last, in TIME_ZONE."""
        zone = timezone.get_current_timezone()
        start = timezone.make_aware(datetime.combine(self.date_from, time.min), zone) if self.date_from else None
        end = (
            timezone.make_aware(datetime.combine(self.date_to + timedelta(days=1), time.min), zone)
            if self.date_to
            else None
        )
        return start, end


class SearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        strip=True,
        label="Search",
        error_messages={"null_characters_not_allowed": "A search cannot contain NUL characters."},
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    model = forms.ChoiceField(required=False, label="Model")
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *Turn.Status.choices])
    archived = forms.ChoiceField(required=False, label="Conversations", choices=ARCHIVED_CHOICES)
    min_cost = forms.DecimalField(
        required=False,
        label="Cost above (USD)",
        min_value=0,
        max_digits=12,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=RANKED_MAX // PAGE, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Any model")] + [(m.provider_id, str(m)) for m in catalog.models_enabled()]
        # Surrogates cannot even be stored: gone before validation, the rest is searched.
        if self.is_bound and "q" in self.data:
            self.data = self.data.copy()
            self.data["q"] = SURROGATES.sub(" ", self.data["q"])

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            model=data.get("model") or "",
            status=data.get("status") or "",
            archived=data.get("archived") or "",
            min_cost=data.get("min_cost"),
        )

    @property
    def filters_open(self) -> bool:
        return any(self.data.get(name) for name in ("date_from", "date_to", "model", "status", "archived", "min_cost"))


# --- Results ------------------------------------------------------------------------------


@dataclass
class Hit:
    conversation: Conversation
    turn: Turn | None
    title_html: SafeString
    snippet_html: SafeString | str = ""
    snippet_label: str = ""
    model_label: str = ""

    @property
    def url(self) -> str:
        url = self.conversation.get_absolute_url()
        # `?turn=`: the page shows the path through the turn, even on a version not on screen.
        return f"{url}?turn={self.turn.id}#turn-{self.turn.id}" if self.turn else url


@dataclass
class Results:
    hits: list[Hit]
    page: int
    has_more: bool
    total: int  # matches ranked (at most RANKED_MAX)
    capped: bool  # more matched than were ranked

    @property
    def next_page(self) -> int:
        return self.page + 1


def find(*, user, text: str, filters: Filters | None = None, page: int = 1) -> Results | None:
    """The user's messages (and titles) matching `text` and `filters`, best first.

    None when there is nothing to search for (no words, no filters): the page shows the list.
    Raises SearchError with a message for the page when the text cannot be searched.
    """
    results = _find(user=user, text=text, filters=filters, page=page)
    if results is not None and results.hits:
        labels = catalog.labels()  # the models' names, once for the page
        for hit in results.hits:
            hit.model_label = labels.get(hit.conversation.model, hit.conversation.model)
    return results


def _find(*, user, text: str, filters: Filters | None, page: int) -> Results | None:
    filters = filters or Filters()
    page = max(1, min(page, RANKED_MAX // PAGE))
    if not clean(text).strip():
        if not filters.active:
            return None
        return _filtered(user, filters, page)
    query = parse(text)
    if connection.vendor == "postgresql":
        rows, total, capped = _postgres(user, query, filters, page)
    else:
        rows, total, capped = _sqlite(user, query, filters, page)
    hits = _hits(rows[:PAGE], query)
    return Results(hits, page, has_more=len(rows) > PAGE, total=total, capped=capped)


def _filtered(user, filters: Filters, page: int) -> Results:
    """Filters without words: the newest matching messages (archived only: the archived conversations)."""
    offset = (page - 1) * PAGE
    if filters.archived == "only" and not (filters.turns_only or filters.model or filters.date_from or filters.date_to):
        conversations = list(
            Conversation.objects.filter(owner=user, archived_at__isnull=False).order_by("-archived_at", "-id")[
                offset : offset + PAGE + 1
            ]
        )
        hits = [Hit(c, None, escape(c.title or "Untitled")) for c in conversations[:PAGE]]
        return Results(hits, page, has_more=len(conversations) > PAGE, total=len(hits), capped=False)
    turns = Turn.objects.filter(conversation__owner=user).filter(_turn_filters(filters))
    turns = list(
        turns.select_related("conversation")
        .defer("response_json", "output_html", "history")
        .order_by("-created_at", "-id")[offset : offset + PAGE + 1]
    )
    hits = [_hit(turn.conversation, turn, None) for turn in turns[:PAGE]]
    return Results(hits, page, has_more=len(turns) > PAGE, total=len(hits), capped=False)


def _turn_filters(filters: Filters) -> Q:
    """The filters as a Q over Turn."""
    c = "conversation__"
    q = Q()
    if filters.archived == "only":
        q &= Q(**{f"{c}archived_at__isnull": False})
    elif filters.archived != "all":
        q &= Q(**{f"{c}archived_at__isnull": True})
    if filters.model:
        q &= Q(**{f"{c}model": filters.model})
    if filters.status:
        q &= Q(status=filters.status)
    if filters.min_cost is not None:
        q &= Q(cost_usd__gt=filters.min_cost)
    start, end = filters.span()
    if start:
        q &= Q(created_at__gte=start)
    if end:
        q &= Q(created_at__lt=end)
    return q


# --- SQLite: FTS5 ---------------------------------------------------------------------------


def _sqlite(user, query: Query, filters: Filters, page: int) -> tuple[list[tuple], int, bool]:
    """(turn id or None, conversation id) of the page's hits, how many were ranked, and whether more matched.

    1. The newest RANKED_MAX matches of this user: FTS5 seeks to the user's row id range and
       walks it backwards, the filters read from the small search rows beside it.
    2. Ranked: by bm25 when at most BM25_MAX match (bm25 reads every match of each word in the
       whole index to weigh it, which is quick for rare words and slow for common ones); else
       by where the words are (title, then prompt, then answer), two more range-bounded lookups.
       Then newest first.
    """
    low, high = search_index.owner_range(user.pk)
    fts, rows = search_index.FTS, search_index.ROWS
    where = [f"{fts} MATCH %s", f"{fts}.rowid BETWEEN %s AND %s"]
    params: list = [query.fts5(), low, high]
    if filters.archived == "only":
        where.append("r.archived = 1")
    elif filters.archived != "all":
        where.append("r.archived = 0")
    if filters.model:
        where.append("r.model = %s")
        params.append(filters.model)
    if filters.status:
        where.append("r.status = %s")
        params.append(filters.status)
    if filters.min_cost is not None:
        where.append("r.cost_usd > %s")
        params.append(float(filters.min_cost))
    start, end = filters.span()
    if start:
        where.append("r.created_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(start))
    if end:
        where.append("r.created_at < %s")
        params.append(connection.ops.adapt_datetimefield_value(end))
    # Only our own constant SQL is pasted in (table names, column conditions); values are parameters.
    newest = (
        f"SELECT {fts}.rowid FROM {fts} JOIN {rows} r ON r.id = {fts}.rowid WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY {fts}.rowid DESC LIMIT {RANKED_MAX + 1}"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(newest, params)
            ids = [rowid for (rowid,) in cursor.fetchall()]
            capped = len(ids) > RANKED_MAX
            ids = ids[:RANKED_MAX]
            if not ids:
                return [], 0, False
            bounds = [ids[-1], high]
            within = f"SELECT rowid{{}} FROM {fts} WHERE {fts} MATCH %s AND rowid BETWEEN %s AND %s"  # noqa: S608
            if len(ids) <= BM25_MAX:  # bm25: lower is better; columns title, prompt, answer
                cursor.execute(within.format(f", bm25({fts}, 4.0, 2.0, 1.0)"), [query.fts5(), *bounds])
                score = dict(cursor.fetchall())
            else:
                score = dict.fromkeys(ids, 0)
                for column, weight in (("prompt", -1), ("title", -2)):
                    cursor.execute(within.format(""), [query.fts5(column), *bounds])
                    score.update((rowid, weight) for (rowid,) in cursor.fetchall() if rowid in score)
            ranked = sorted(ids, key=lambda rowid: (score.get(rowid, 0), -rowid))
            shown = ranked[(page - 1) * PAGE : page * PAGE + 1]
            cursor.execute(
                f"SELECT id, turn_id, conversation_id FROM {rows} WHERE id IN ({', '.join(['%s'] * len(shown))})",  # noqa: S608
                shown,
            )
            found = {rowid: (_uuid(turn), _uuid(conversation)) for rowid, turn, conversation in cursor.fetchall()}
    except Exception as exc:  # an FTS5 error: our quoting should prevent it, but the page must not 500
        logger.warning("search failed: %s (%r)", exc, query.fts5())
        raise SearchError("That search could not be run. Try plain words.") from None
    return [found[rowid] for rowid in shown if rowid in found], len(ids), capped


def _uuid(value) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


# --- PostgreSQL: tsvector columns + GIN ---------------------------------------------------------


class _Vector(Expression):
    """The search_vector column the database keeps on the current table (not a model field)."""

    def __init__(self):
        from django.contrib.postgres.search import SearchVectorField

        super().__init__(output_field=SearchVectorField())

    def as_sql(self, compiler, connection):
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.search_vector", []


def _postgres(user, query: Query, filters: Filters, page: int) -> tuple[list[tuple], int, bool]:
    from django.contrib.postgres.search import SearchQuery, SearchRank

    tsquery = SearchQuery(query.tsquery(), config="simple", search_type="raw")
    want = page * PAGE + 1
    newest = (
        Turn.objects.annotate(vector=_Vector())
        .filter(conversation__owner=user, vector=tsquery)
        .filter(_turn_filters(filters))
        .order_by("-created_at", "-id")
        .values("pk")[:RANKED_MAX]
    )
    turns = list(
        Turn.objects.filter(pk__in=newest)
        .annotate(rank=SearchRank(_Vector(), tsquery))
        .order_by("-rank", "-created_at", "-id")
        .values_list("id", "conversation_id", "rank", "created_at")[:want]
    )
    total = Turn.objects.filter(pk__in=newest).count()
    titles = []
    if not filters.turns_only:
        conversations = Conversation.objects.annotate(vector=_Vector()).filter(owner=user, vector=tsquery)
        conversations = conversations.filter(_conversation_filters(filters))
        titles = list(
            conversations.annotate(rank=SearchRank(_Vector(), tsquery) * 2)
            .order_by("-rank", "-created_at")
            .values_list("id", "rank", "created_at")[:want]
        )
        total += len(titles)
    merged = [(t, c, rank, at) for t, c, rank, at in turns] + [(None, c, rank, at) for c, rank, at in titles]
    merged.sort(key=lambda row: (-row[2], -row[3].timestamp()))
    offset = (page - 1) * PAGE
    return [(t, c) for t, c, _rank, _at in merged[offset : offset + PAGE + 1]], total, total >= RANKED_MAX


def _conversation_filters(filters: Filters) -> Q:
    q = Q()
    if filters.archived == "only":
        q &= Q(archived_at__isnull=False)
    elif filters.archived != "all":
        q &= Q(archived_at__isnull=True)
    if filters.model:
        q &= Q(model=filters.model)
    start, end = filters.span()
    if start:
        q &= Q(created_at__gte=start)
    if end:
        q &= Q(created_at__lt=end)
    return q


# --- Snippets -------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
LINE_MARKERS = re.compile(r"^\s{0,3}(?:#{1,6}|>+|[-*+]|\d{1,3}[.)])\s+", re.MULTILINE)
INLINE_MARKERS = re.compile(r"`+|\*{1,3}(?=\S)|(?<=\S)\*{1,3}|~~|\s\|\s|^\||\|$", re.MULTILINE)
LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
SPACE = re.compile(r"\s+")


def _plain(text: str) -> str:
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
    text = ("… " if offset else "") + _plain(text[offset : around + 3 * width])
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
    parts: list = ["…" if start and not window.startswith("…") else ""]
    position = 0
    # The words as typed (any case) in one regex pass; word by word, folding accents, only if none is there.
    spans = [m.span() for m in query.pattern().finditer(window)] or [
        m.span() for m in WORD.finditer(window) if is_match(fold(m.group()))
    ]
    for begin, end in spans:
        parts.append(escape(window[position:begin]))
        parts.append(format_html("<mark>{}</mark>", window[begin:end]))
        position = end
    parts.append(escape(window[position:]))
    if start + len(window) < len(text) or len(text) - (2 if offset else 0) >= 3 * width:
        parts.append("…")
    return format_html_join("", "{}", ((part,) for part in parts))


def _hit(conversation: Conversation, turn: Turn | None, query: Query | None) -> Hit:
    title = conversation.title or "Untitled"
    if query is None:
        snippet = _plain(turn.output_text or turn.prompt)[:200] if turn else ""
        label = ("Answer" if turn.output_text else "You") if turn else ""
        return Hit(conversation, turn, escape(title), snippet, label)
    title_html = highlight(title, query, width=200)
    if turn is None:
        return Hit(conversation, None, title_html)
    pattern = query.pattern()
    if turn.output_text and not turn.is_active and not pattern.search(turn.prompt):
        return Hit(conversation, turn, title_html, highlight(turn.output_text, query), "Answer")
    return Hit(conversation, turn, title_html, highlight(turn.prompt, query), "You")


def _hits(rows: list[tuple], query: Query) -> list[Hit]:
    turn_ids = [t for t, _c in rows if t]
    turns = {
        turn.id: turn
        for turn in Turn.objects.filter(id__in=turn_ids)
        .select_related("conversation")
        .defer("response_json", "output_html", "history", "conversation__instructions")
    }
    title_ids = [c for t, c in rows if not t]
    conversations = Conversation.objects.in_bulk(title_ids) if title_ids else {}
    # A title hit says nothing more when one of the conversation's messages is on the page too.
    with_messages = {turn.conversation_id for turn in turns.values()}
    hits = []
    for turn_id, conversation_id in rows:
        if turn_id:
            if turn_id in turns:  # gone since the index was read: skip it
                hits.append(_hit(turns[turn_id].conversation, turns[turn_id], query))
        elif conversation_id in conversations and conversation_id not in with_messages:
            hits.append(_hit(conversations[conversation_id], None, query))
    return hits
