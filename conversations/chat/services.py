"""User actions, every one a write: create a conversation or turn, cancel, retry,
edit, settings, delete, import, share, pin and archive.

Generating an answer is the worker's side (`worker.py`); charges are written by
`ledger.py`. Rules that keep prompts safe and answers single:
- A turn is committed (status `queued`) before anything talks to the provider.
- The provider is never called from a web request, nor inside a transaction.
- Each state change is a conditional UPDATE (`status=..., attempts=n`), so a
  late worker never overwrites a cancel, a retry or another worker's result.
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import tasks
from conversations.history import importer, sharing
from conversations.models import Charge, Conversation, Share, Turn
from conversations.usage import budgets, catalog, continuity

from . import selectors

logger = logging.getLogger(__name__)


class TurnInFlight(Exception):
    """The conversation already has a turn that is queued or being generated."""

    message = "An answer is still being generated in this conversation. Wait for it or press Stop, then send again."


class TurnNotRetryable(Exception):
    message = "Only failed, incomplete or cancelled answers can be retried."


class FormTokenTaken(TurnInFlight):
    """The form's one-time token belongs to another user's turn (a copied or forged form)."""

    message = "This form had already been used. Your prompt is still in the box: press Send again."


class UserLimitReached(Exception):
    """Too many answers running, or too many prompts this hour, for this user (HTTP 429)."""

    status = 429

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Creating turns --------------------------------------------------------------


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


def _title_from(prompt: str) -> str:
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


def _turn_by_token(owner, client_token) -> Turn | None:
    if not client_token:
        return None
    return Turn.objects.filter(client_token=client_token, conversation__owner=owner).first()


def _enqueue(turn: Turn) -> None:
    turn_id = turn.id
    transaction.on_commit(lambda: tasks.turn_run_task(str(turn_id)))


def user_limits_check(*, owner, hourly: bool = True) -> None:
    """Raise UserLimitReached when `owner` may not start another answer now.

    Call inside the transaction that queues the answer: the user's row is locked
    first (PostgreSQL; SQLite's write transaction is exclusive anyway), so two web
    processes cannot both pass the count. One user's prompts can then fill at most
    MAX_ACTIVE_TURNS_PER_USER workers: the rest stay free for everyone else.
    """
    # FOR NO KEY UPDATE: serialises these checks, yet lets rows that merely reference the user
    # (a worker writing a charge) go on; FOR UPDATE blocked those and could deadlock with them.
    list(get_user_model().objects.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk"))
    mine = Turn.objects.filter(conversation__owner=owner)
    active = mine.filter(status__in=Turn.ACTIVE).count()
    if active >= settings.MAX_ACTIVE_TURNS_PER_USER:
        raise UserLimitReached(
            f"You already have {active} answers being generated (the limit is "
            f"{settings.MAX_ACTIVE_TURNS_PER_USER}). Wait for one to finish, or stop one, then send again."
        )
    limit = settings.MAX_PROMPTS_PER_HOUR
    if hourly and limit:
        since = timezone.now() - timedelta(hours=1)
        recent = list(
            mine.filter(created_at__gte=since).order_by("-created_at").values_list("created_at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            again = timezone.localtime(recent[-1] + timedelta(hours=1))
            raise UserLimitReached(
                f"You sent {limit} prompts in the last hour, the limit here. "
                f"You can send again at {again:%H:%M} ({again.tzname()})."
            )


def _create_once(*, owner, client_token: uuid.UUID | None, create) -> Turn:
    """Run `create()` (which makes and returns a turn) once per form token, then queue the turn.

    A repeated token returns the turn it made (double click, resubmitted form,
    two tabs). Raises TurnInFlight when the conversation already has a running
    turn: the partial unique constraint makes that hold across processes.
    """
    existing = _turn_by_token(owner, client_token)
    if existing:
        return existing
    try:
        with transaction.atomic():
            user_limits_check(owner=owner)  # UserLimitReached: nothing is created
            turn = create()
            # A retired model hands the conversation to its successor before the prompt is priced.
            continuity.turn_continue(turn=turn)
            # Raises BudgetExceeded (rolling the turn back) when the prompt could pass a budget.
            budgets.turn_reserve(turn=turn)
            # The new turn is the version on screen from now on.
            Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=turn.created_at, current_turn=turn)
            _enqueue(turn)
    except IntegrityError:
        # Another request with the same token, or another running turn, won.
        existing = _turn_by_token(owner, client_token)
        if existing:
            return existing
        if client_token and Turn.objects.filter(client_token=client_token).exists():
            raise FormTokenTaken from None
        raise TurnInFlight from None
    return turn


def conversation_create(
    *,
    owner,
    prompt: str,
    client_token: uuid.UUID | None = None,
    model: str = "",
    instructions: str = "",
) -> Turn:
    """Start a conversation with its first turn."""

    def create() -> Turn:
        conversation = Conversation.objects.create(
            owner=owner,
            title=_title_from(prompt),
            model=model or catalog.default_model_id(),
            instructions=instructions,
        )
        return Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token, parent=None)

    return _create_once(owner=owner, client_token=client_token, create=create)


def _leaf_on_screen(conversation: Conversation):
    """The last turn of the version the conversation shows (read now: another tab may have switched)."""
    current = Conversation.objects.filter(pk=conversation.pk).values_list("current_turn_id", flat=True).first()
    return selectors.conversation_tree(conversation=conversation).leaf(current=current)


def turn_create(
    *, conversation: Conversation, prompt: str, client_token: uuid.UUID | None = None, parent: Turn | None = None
) -> Turn:
    """Add a prompt after `parent` (default: the last turn on screen) and queue its generation.

    The page posts the last turn it shows as `parent`, so a prompt continues the version the
    user reads even when another tab switched to another one meanwhile.
    """

    def create() -> Turn:
        after = parent.pk if parent is not None else _leaf_on_screen(conversation)
        return Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token, parent_id=after)

    return _create_once(owner=conversation.owner, client_token=client_token, create=create)


def turn_regenerate(*, turn: Turn, prompt: str | None = None, client_token: uuid.UUID | None = None) -> Turn:
    """Ask again (optionally with an edited prompt) as another version of `turn`.

    The new turn has the same parent, so it follows the same turns and the model sees the same
    earlier exchanges; `turn` and everything after it stay as they are, one switch away.
    """
    conversation = turn.conversation

    def create() -> Turn:
        return Turn.objects.create(
            conversation=conversation,
            prompt=turn.prompt if prompt is None else prompt,
            client_token=client_token,
            parent_id=turn.parent_id,
        )

    return _create_once(owner=conversation.owner, client_token=client_token, create=create)


def turn_show(*, turn: Turn):
    """Show this version: the conversation's page follows the path through it to its newest turn.

    Returns the id of that last turn. The conversation's order in the list does not change.
    """
    leaf = selectors.conversation_tree(conversation=turn.conversation).newest_below(turn.pk)
    Conversation.objects.filter(pk=turn.conversation_id).update(current_turn_id=leaf)
    turn.conversation.current_turn_id = leaf
    return leaf


# --- User actions ---------------------------------------------------------------


def turn_cancel(*, turn: Turn) -> bool:
    """Stop a queued or running turn at once; the worker notices and stops its call."""
    now = timezone.now()
    done = Turn.objects.filter(id=turn.id, status__in=Turn.ACTIVE).update(
        status=Turn.Status.CANCELLED,
        completed_at=now,
        updated_at=now,
        error_code="cancelled",
        error_message="Stopped by the user.",
    )
    turn.refresh_from_db()
    if done and turn.mode == "background" and turn.response_id:
        # The worker cancels upstream too, but it may be gone; never from the web request.
        tasks.response_cancel_task(turn.response_id)
    return bool(done)


def _history_entry(turn: Turn) -> dict:
    return {
        "attempt": turn.attempts,
        "status": turn.status,
        "error_code": turn.error_code,
        "error_message": turn.error_message,
        "response_id": turn.response_id,
        "output_tokens": turn.output_tokens,
        "input_tokens": turn.input_tokens,
        "cost_usd": str(turn.cost_usd) if turn.cost_usd is not None else None,
        "started_at": turn.started_at.isoformat() if turn.started_at else None,
        "completed_at": turn.completed_at.isoformat() if turn.completed_at else None,
    }


def turn_retry(*, turn: Turn) -> Turn:
    """Queue the same prompt again on the same turn; the earlier outcome moves to `history`."""
    if not turn.can_retry:
        raise TurnNotRetryable
    try:
        with transaction.atomic():
            user_limits_check(owner=turn.conversation.owner, hourly=False)
            updated = Turn.objects.filter(id=turn.id, status=turn.status, attempts=turn.attempts).update(
                status=Turn.Status.QUEUED,
                history=[*turn.history, _history_entry(turn)],
                updated_at=timezone.now(),
                completed_at=None,
                error_code="",
                error_message="",
            )
            if updated:
                continuity.turn_continue(turn=turn)
                budgets.turn_reserve(turn=turn)  # BudgetExceeded rolls the retry back
                _enqueue(turn)
    except IntegrityError:
        raise TurnInFlight from None
    turn.refresh_from_db()
    return turn


# --- Conversation management ---------------------------------------------------


def conversation_update(*, conversation: Conversation, **fields) -> Conversation:
    for name, value in fields.items():
        setattr(conversation, name, value)
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=[*fields, "updated_at"])
    return conversation


class NoSuccessor(Exception):
    message = "This conversation's model has no successor to switch to; choose a model in the settings."


def conversation_switch_model(*, conversation: Conversation) -> Conversation:
    """Move a conversation from its retired model to the successor the catalogue names, now.

    (The next prompt would do it anyway: continuity.turn_continue.)
    """
    row = catalog.model_get(conversation.model)
    successor = row.successor if row else None
    if successor is None or not successor.enabled:
        raise NoSuccessor
    return conversation_update(conversation=conversation, **continuity.switch_fields(conversation, successor))


def conversation_delete(*, conversation: Conversation) -> None:
    for turn in conversation.turns.filter(status__in=Turn.ACTIVE):
        turn_cancel(turn=turn)
    conversation.delete()


# --- Import and share (formats and reads in history/) -------------------------------------


def conversations_import(*, owner, file) -> importer.ImportPlan:
    """Import an export file (one conversation or all) for `owner`: all of it, or nothing.

    The whole file is validated before anything is written; then one transaction
    creates the new conversations, and the worker renders their answers afterwards. A conversation
    already imported (its id is a conversation's `origin_id`) or still the
    owner's own is skipped, so importing twice creates nothing new. Turns arrive
    in their final states and nothing is queued or sent to the model. No ledger
    charge is written: the money was spent, and recorded, where the answers were
    generated. Raises history.errors.ImportRefused with the reason.
    """
    mine = Conversation.objects.filter(owner=owner)
    known = set(mine.values_list("id", flat=True)) | set(
        mine.filter(origin_id__isnull=False).values_list("origin_id", flat=True)
    )
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        plan = importer.prepare(file, spool, known_ids=known)
        with transaction.atomic():
            for data in importer.spooled(spool):
                try:
                    with transaction.atomic():
                        _conversation_insert(owner, data)
                except IntegrityError:
                    # The same file imported by another request meanwhile: already here.
                    plan.skipped += 1
                    plan.turns -= len(data["turns"])
    if plan.turns:  # committed: their answers are rendered by the worker (pages render them meanwhile)
        tasks.imported_answers_render_task(owner.pk)
    return plan


def _conversation_insert(owner, data: dict) -> Conversation:
    turns = data.pop("turns")
    origin_id = data.pop("id")
    current = data.pop("current_turn")
    conversation = Conversation.objects.create(owner=owner, origin_id=origin_id, **data)
    # New ids (the file's may be another user's turns here); each turn keeps following its parent.
    new_ids = {turn["id"]: uuid.uuid4() for turn in turns}
    Turn.objects.bulk_create(
        [
            Turn(
                **{name: value for name, value in turn.items() if name not in ("id", "parent")},
                id=new_ids[turn["id"]],
                parent_id=new_ids.get(turn["parent"]),
                conversation=conversation,
                imported=True,
            )
            for turn in turns
        ],
        batch_size=500,
    )
    if current in new_ids:
        Conversation.objects.filter(pk=conversation.pk).update(current_turn_id=new_ids[current])
    return conversation


def _share_title(conversation: Conversation, snapshot: list[dict]) -> str:
    """The title of what is shared: an automatic title made from a first prompt that was since
    edited would show the edited-away wording, so it is made again from the shared first prompt.
    A title the user chose (a rename) is kept."""
    first = conversation.turns.filter(parent__isnull=True).order_by("created_at", "id").first()
    if not snapshot or first is None or snapshot[0]["prompt"] == first.prompt:
        return conversation.title or "Untitled"
    # A title from TITLE_MODEL was made from the first prompt too (a charge with no turn says it was asked).
    automatic = (
        conversation.title == _title_from(first.prompt)
        or Charge.objects.filter(conversation=conversation, turn=None).exists()
    )
    if conversation.title and not automatic:
        return conversation.title
    return _title_from(snapshot[0]["prompt"]) or "Untitled"


def share_create(*, conversation: Conversation, show_cost: bool = False) -> Share:
    """A read-only link to a snapshot of the conversation as it is now (the version on screen)."""
    snapshot = sharing.share_snapshot(conversation=conversation, show_cost=show_cost)
    return Share.objects.create(
        token=secrets.token_urlsafe(24),
        conversation=conversation,
        owner=conversation.owner,
        title=_share_title(conversation, snapshot),
        snapshot=snapshot,
        show_cost=show_cost,
    )


def share_revoke(*, share: Share) -> bool:
    """Turn a share's link off for good (its page answers 404 from now on)."""
    return bool(Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


# --- Organising the list: pin and archive (the order of the list is not changed) ------------


def _organise(conversation: Conversation, **fields) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    for name, value in fields.items():
        setattr(conversation, name, value)
    return conversation


def conversation_pin(*, conversation: Conversation) -> Conversation:
    """Keep it at the top of the list (pinned ones are ordered by when they were pinned)."""
    return _organise(conversation, pinned_at=conversation.pinned_at or timezone.now(), archived_at=None)


def conversation_unpin(*, conversation: Conversation) -> Conversation:
    return _organise(conversation, pinned_at=None)


def conversation_archive(*, conversation: Conversation) -> Conversation:
    """Hide it from the list; search with the Archived filter finds it. Archiving unpins."""
    return _organise(conversation, archived_at=conversation.archived_at or timezone.now(), pinned_at=None)


def conversation_unarchive(*, conversation: Conversation) -> Conversation:
    return _organise(conversation, archived_at=None)
