"""The worker's side: claim a queued turn, call the provider, poll, finish, recover.

Runs in the worker process only (Huey tasks hand turns to the generation pool
below); web requests never call into it. Rules:
- The provider is never called inside a database transaction.
- Each state change is a conditional UPDATE on (`status`, `attempts`): a late
  attempt never overwrites a cancel, a retry or another attempt's result.
- A paid answer is always stored, and always charged (`ledger.charge_record`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from conversations.chat import rendering
from conversations.models import Conversation, Turn
from conversations.notices import services as notices
from conversations.usage import catalog, continuity, ledger
from ops import metrics
from ops.logs import turn_context

from . import aimlapi, scheduler
from . import title_model as titles
from .attempts import Attempt, release_connection
from .breaker import guard as provider_guard
from .request import conversation_input

logger = logging.getLogger(__name__)

# A queued turn is claimed within a second of being queued; one still queued after this
# lost its task (process killed between commit and enqueue, a wiped queue) and is queued again.
QUEUED_STALE_AFTER = timedelta(seconds=30)


def turn_run(*, turn_id: uuid.UUID | str) -> None:
    """Claim a queued turn and generate its answer. Safe to call twice: only one claims it."""
    now = timezone.now()
    claimed = Turn.objects.filter(id=turn_id, status=Turn.Status.QUEUED).update(
        status=Turn.Status.IN_PROGRESS,
        attempts=F("attempts") + 1,
        mode=settings.AIMLAPI_MODE,
        started_at=now,
        completed_at=None,
        updated_at=now,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
        response_id="",
        output_text="",
        output_html="",
        thinking="",
        error_code="",
        error_message="",
    )
    if not claimed:
        return
    turn = Turn.objects.select_related("conversation").get(id=turn_id)
    _run_attempt(turn, resume=False)


def turn_resume(*, turn_id: uuid.UUID | str) -> None:
    """Pick up polling a background-mode turn whose worker died, by its stored response id."""
    turn = Turn.objects.select_related("conversation").filter(id=turn_id, status=Turn.Status.IN_PROGRESS).first()
    if turn is None or turn.mode != "background" or not turn.response_id:
        return
    _run_attempt(turn, resume=True)


def _run_attempt(turn: Turn, *, resume: bool) -> None:
    assert not connection.in_atomic_block, "the provider must never be called inside a transaction"
    with turn_context(turn.id), Attempt(turn) as attempt:
        try:
            response = _generate(turn, attempt, resume=resume)
        except aimlapi.AimlApiError as exc:
            _finish_error(attempt, exc)
        except Exception:
            logger.exception("turn %s failed with an internal error", turn.id)
            _finish_error(
                attempt,
                aimlapi.AimlApiError("An internal error stopped this answer. Press Retry.", code="internal_error"),
            )
        else:
            _finish(attempt, response)
    scheduler.turn_ended(turn=turn, run=lambda turn_id: pool.start(turn_run, turn_id=turn_id))  # its slot frees
    # A short title from TITLE_MODEL once the first answer is in (off by default; titles.py).
    try:
        titles.title_after_answer(turn_id=turn.id)
    except Exception:
        logger.exception("turn %s: asking for a title failed", turn.id)
    notices.turn_ended(turn_id=turn.id)  # the emails it brings (notices/services.py; never raises)


def _generate(turn: Turn, attempt: Attempt, *, resume: bool) -> aimlapi.Response:
    """The provider's answer. The circuit breaker fails fast while the provider is down (not for a
    resumed, paid answer). A provider that says the model is gone (deprecated, unknown) is asked
    once more, at once, with the successor the catalogue names: that prompt is answered, and charged, once."""
    try:
        return provider_guard(lambda: _call_provider(turn, attempt, resume=resume), check=not resume)
    except aimlapi.AimlApiError as exc:
        # Nothing was generated (the request was refused), so sending it to another model repeats nothing.
        if resume or exc.code not in aimlapi.MODEL_GONE_CODES or attempt.should_stop():
            raise
        if continuity.turn_continue(turn=turn, gone=True) is None:
            raise
        logger.info("turn %s: %s; continuing with %s", turn.id, exc.code, turn.conversation.model)
    return provider_guard(lambda: _call_provider(turn, attempt, resume=False))


def _call_provider(turn: Turn, attempt: Attempt, *, resume: bool) -> aimlapi.Response:
    conversation = turn.conversation
    body: dict[str, Any] = {}
    api = aimlapi.API_RESPONSES
    if not resume:
        row = catalog.model_get(conversation.model)
        # Queued before its model's retirement date, sent after it: the successor answers.
        row = continuity.turn_continue(turn=turn, row=row) or row
        api = row.api if row else api
        mode = aimlapi.effective_mode(api, turn.mode)
        if mode != turn.mode:  # background is a Responses feature: this one streams
            attempt.mine().update(mode=mode)
            turn.mode = mode
        effort = conversation.reasoning_effort
        # The model's thinking: asked for (and kept) only where its catalogue row says it returns it.
        attempt.wants_thinking = row is not None and row.reasoning_summaries
        body = aimlapi.build_body(
            api=api,
            model=conversation.model,
            input=conversation_input(turn),
            instructions=conversation.instructions,
            max_output_tokens=conversation.max_output_tokens,
            # Only a value the catalogue says the model accepts is sent.
            reasoning_effort=effort if row is not None and effort in row.efforts else "",
            reasoning_summary=attempt.wants_thinking,
        )
    release_connection()  # the answer takes minutes: hold no database connection meanwhile
    if turn.mode == "stream":
        return aimlapi.stream_response(
            body, api=api, on_event=attempt.save_progress, on_thinking=attempt.note_thinking, abort=attempt.abort
        )
    if turn.mode == "background":
        if resume:
            response = aimlapi.retrieve_response(turn.response_id, abort=attempt.abort)
        else:
            response = aimlapi.create_response(body, background=True, abort=attempt.abort)
            # Stored at once: any worker can resume polling after a crash without re-sending.
            attempt.mine().update(response_id=response.id, updated_at=timezone.now())
            release_connection()
        return _poll(response, attempt)
    return aimlapi.create_response(body, api=api, abort=attempt.abort)


def _poll(response: aimlapi.Response, attempt: Attempt) -> aimlapi.Response:
    failures = 0
    while not response.is_terminal:
        if attempt.should_stop():
            try:
                return aimlapi.cancel_response(response.id)
            except aimlapi.AimlApiError:
                return response
        attempt.sleep(settings.AIMLAPI_POLL_INTERVAL)
        if attempt.should_stop():
            continue
        try:
            response = aimlapi.retrieve_response(response.id, abort=attempt.abort)
            attempt.save_progress("", response.id, response.thinking)  # its summary may come before its text
            failures = 0
        except aimlapi.AimlApiError as exc:
            if attempt.should_stop():
                continue
            failures += 1
            if not exc.retryable or failures >= settings.AIMLAPI_MAX_ATTEMPTS:
                raise
    return response


def _result_message(response: aimlapi.Response) -> tuple[str, str]:
    if response.status == "failed":
        return (
            response.error_code or "failed",
            f"The model failed to answer: {response.error_message or 'no reason given'}. Press Retry to try again.",
        )
    if response.status == "incomplete":
        reason = response.incomplete_reason or "unknown"
        hint = " Raise the conversation's max output tokens, then Retry." if reason == "max_output_tokens" else ""
        return "incomplete", f"The answer is incomplete (reason: {reason}).{hint}"
    if response.status == "completed" and not response.text:
        return "empty_answer", "The model finished without any answer text. Press Retry to try again."
    return "", ""


def _finish(attempt: Attempt, response: aimlapi.Response) -> None:
    """Store the answer. It was paid for: if storing it fails, store what can be, never nothing."""
    # Values a column cannot hold are dropped (SQLite would store them and fail on every read).
    response = dataclasses.replace(response, usage=aimlapi.usage_checked(response.usage))
    try:
        _finish_save(attempt, response)
    except Exception:
        logger.exception("turn %s: storing the answer failed; storing it in a simpler form", attempt.turn.id)
        _finish_fallback(attempt, response)


def _finish_fallback(attempt: Attempt, response: aimlapi.Response) -> None:
    """The answer's text and what usage can be stored, without the parts that may have failed."""
    from django.utils.html import escape

    turn = attempt.turn
    now = timezone.now()
    text = response.text.replace("\x00", "")
    try:
        html = rendering.markdown_to_html(text)
    except Exception:
        html = f"<pre>{escape(text)}</pre>"
    base: dict[str, Any] = {
        "response_id": (response.id or turn.response_id)[:255],
        "model": response.model[:100],
        "output_text": text,
        "output_html": html,
        "thinking": attempt.thinking_of(response.thinking).replace("\x00", ""),
        "response_json": {"note": "The provider's response could not be stored as sent; see the worker log."},
        "updated_at": now,
    }
    ok = response.status == "completed" and bool(text)
    outcome: dict[str, Any] = {
        "status": Turn.Status.COMPLETED if ok else Turn.Status.FAILED,
        "completed_at": now,
        "error_code": "" if ok else "store_error",
        "error_message": "" if ok else "The answer arrived but could not be stored completely. Press Retry.",
    }
    try:
        usage = ledger.usage_fields(turn.conversation.model, response.usage)
    except Exception:
        logger.exception("turn %s: usage could not be priced", turn.id)
        usage = {}
    for fields in ({**base, **usage}, base):  # with usage first; without, if usage is what fails
        try:
            if attempt.mine().update(**outcome, **fields) or Turn.objects.filter(
                id=turn.id, attempts=turn.attempts, status__in=(Turn.Status.CANCELLED, Turn.Status.FAILED)
            ).update(**fields):
                break
        except Exception:
            logger.exception("turn %s: fallback save failed", turn.id)
    try:
        ledger.charge_record(
            turn=turn, status=outcome["status"], model=turn.conversation.model,
            response_id=base["response_id"], fields=usage, now=now,
        )  # fmt: skip
    except Exception:
        logger.exception("turn %s: the charge could not be recorded", turn.id)


def _finish_save(attempt: Attempt, response: aimlapi.Response) -> None:
    turn = attempt.turn
    status = response.status
    if status == "completed" and not response.text:
        status = Turn.Status.FAILED
    if status not in Turn.Status.values or status in Turn.ACTIVE:
        status = Turn.Status.FAILED
    error_code, error_message = _result_message(response)
    # Priced as the conversation's model: the catalogue's id, while the provider
    # may echo another spelling (e.g. without the "openai/" prefix).
    model = turn.conversation.model
    usage = ledger.usage_fields(model, response.usage)
    fields = {
        "response_id": response.id or turn.response_id,
        "model": response.model,
        "output_text": response.text,
        "output_html": rendering.markdown_to_html(response.text),
        "thinking": attempt.thinking_of(response.thinking),
        "response_json": response.raw or None,
        **usage,
    }
    charged = usage
    if ledger.usage_unreadable(response.usage):
        # Paid, but the figures are unreadable: charge the estimate rather than $0 (flagged).
        charged = ledger.usage_unknown_fields(model, turn.estimate_usd)
    charge = {"turn": turn, "model": model, "response_id": fields["response_id"], "fields": charged}
    outcome: dict[str, Any] = {"status": status, "error_code": error_code, "error_message": error_message}
    email = notices.answer_email_prepare(turn=turn, ended={**fields, **outcome})  # drawn outside the lock
    # The answer and its charge are written together: nobody sees one without the other,
    # and a process that dies here loses neither.
    with transaction.atomic():
        # Stored now: stamped once the transaction holds the write lock (SQLite: BEGIN IMMEDIATE waited for it).
        now = fields["updated_at"] = outcome["completed_at"] = charge["now"] = timezone.now()
        # Ours as planned; or the sweeper gave up on this worker (it stalled past its lease)
        # and the paid answer arrived after all: show it, as long as nobody retried meanwhile.
        interrupted = Turn.objects.filter(
            id=turn.id, attempts=turn.attempts, status=Turn.Status.FAILED, error_code="interrupted"
        )
        if status == Turn.Status.CANCELLED:
            # Only the user's Stop cancels: an interrupted turn keeps its status (and its Retry),
            # with whatever text and usage arrived.
            if interrupted.update(**fields):
                ledger.charge_record(status=Turn.Status.FAILED, **charge)
                return
        if attempt.mine().update(**outcome, **fields) or (
            status != Turn.Status.CANCELLED and interrupted.update(**outcome, **fields)
        ):
            ledger.charge_record(status=status, **charge)
            Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=now)
            notices.answer_email_write(prepared=email)  # handed to the sender threads as this commits
            return
        # Stopped meanwhile: keep the stop, but store what the provider sent and charged.
        if Turn.objects.filter(id=turn.id, status=Turn.Status.CANCELLED, attempts=turn.attempts).update(**fields):
            ledger.charge_record(status=Turn.Status.CANCELLED, **charge)
            return
        # A newer attempt owns the turn (a Retry after an interrupt): keep this paid answer in
        # its history. If this very attempt was already finished (a second poller of it after a
        # resume), there is nothing to keep and its charge exists.
        if Turn.objects.filter(id=turn.id, attempts__gt=turn.attempts).exists():
            _keep_late_answer(turn, response, usage, now)
        ledger.charge_record(status=status, **charge)


def _keep_late_answer(turn: Turn, response: aimlapi.Response, usage: dict[str, Any], now: datetime) -> None:
    """A newer attempt owns the turn: keep this paid answer in its history, where it can be recovered."""
    entry = {
        "attempt": turn.attempts,
        "status": "late_answer",
        "response_id": response.id,
        "output_text": response.text,
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "cost_usd": str(usage["cost_usd"]) if usage.get("cost_usd") is not None else None,
        "completed_at": now.isoformat(),
    }
    with transaction.atomic():
        history = Turn.objects.select_for_update().filter(id=turn.id).values_list("history", flat=True).first()
        if history is not None:
            Turn.objects.filter(id=turn.id).update(history=[*history, entry])


def _finish_error(attempt: Attempt, exc: aimlapi.AimlApiError) -> None:
    turn = attempt.turn
    now = timezone.now()
    message = exc.message
    if exc.code in aimlapi.MODEL_GONE_CODES:
        message = _deprecated_message(turn.conversation.model)
    if exc.retryable and "Retry" not in message:
        message += " Press Retry to try again."
    fields: dict[str, Any] = {"updated_at": now}
    if exc.partial_text:
        fields["output_text"] = exc.partial_text
        fields["output_html"] = rendering.markdown_to_html(exc.partial_text)
    if thinking := attempt.thinking_of(exc.partial_thinking):
        fields["thinking"] = thinking
    if isinstance(exc.raw, dict):
        fields["response_json"] = exc.raw
    if not attempt.mine().update(
        status=Turn.Status.FAILED, completed_at=now, error_code=exc.code, error_message=message, **fields
    ):
        return
    metrics.count_error(exc.code)
    Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=now)


def _deprecated_message(model: str) -> str:
    row = catalog.model_get(model)
    name = f"{row.label} ({model})" if row and row.label else model
    successor = row.successor if row else None
    gone = f"{name} is deprecated or unknown: the AI/ML API no longer serves it."
    if successor is None:
        return f"{gone} Choose another model in the conversation settings, then press Retry."
    return f"{gone} Its successor is {successor} ({successor.provider_id}): switch this conversation to it, then Retry."


def response_cancel(*, response_id: str) -> None:
    try:
        aimlapi.cancel_response(response_id)
    except aimlapi.AimlApiError as exc:
        logger.info("cancel of response %r failed: %s", response_id, exc.message)


@dataclass
class Recovery:
    """What a sweep found: turns to resume by response id, turns to queue again, turns failed as interrupted."""

    resume: list[str] = field(default_factory=list)
    requeue: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)  # failed as interrupted: their end is told (emails)

    @property
    def counts(self) -> dict[str, int]:
        return {"resumed": len(self.resume), "interrupted": len(self.interrupted), "requeued": len(self.requeue)}


def turns_recover(*, now: datetime | None = None) -> Recovery:
    """Take back turns whose worker died; find queued turns whose task may have been lost.

    Background-mode turns have a stored response id: polling resumes without
    sending the prompt again. Others cannot be resumed and fail as interrupted,
    so Retry is offered. The caller (tasks.turns_recover) queues what is found.
    """
    now = now or timezone.now()
    found = Recovery()
    lease = timedelta(seconds=settings.TURN_LEASE_SECONDS)
    stale = Turn.objects.filter(status=Turn.Status.IN_PROGRESS, lease_expires_at__lt=now)
    for turn in stale:
        mine = Turn.objects.filter(
            id=turn.id, status=Turn.Status.IN_PROGRESS, attempts=turn.attempts, lease_expires_at=turn.lease_expires_at
        )
        if turn.mode == "background" and turn.response_id:
            if mine.update(lease_expires_at=now + lease, updated_at=now):
                found.resume.append(str(turn.id))
        elif mine.update(
            status=Turn.Status.FAILED,
            completed_at=now,
            updated_at=now,
            error_code="interrupted",
            error_message="The answer was interrupted because the worker stopped. Press Retry to send it again.",
        ):
            found.interrupted.append(str(turn.id))
    lost = Turn.objects.filter(status=Turn.Status.QUEUED, updated_at__lt=now - QUEUED_STALE_AFTER)
    for turn_id in lost.values_list("id", flat=True):
        # A duplicate task is harmless: only one run can claim a queued turn.
        if Turn.objects.filter(id=turn_id, status=Turn.Status.QUEUED).update(updated_at=now):
            found.requeue.append(str(turn_id))
    if any(found.counts.values()):
        logger.info("recovered turns: %s", found.counts)
    return found


# --- The generation pool -----------------------------------------------------------


class Pool:
    """Threads that generate answers, so the queue needs only a few consumer threads.

    A Huey task hands its turn over and returns at once. Idle threads block on
    an in-process queue (no polling: an idle worker costs no CPU). Each job is
    promised to an idle thread, or else a thread is started for it, up to
    GENERATION_THREADS; past that it waits for the first thread to finish. (Counting
    idle threads as they wait let a job sit unclaimed behind a thread that had just
    taken another one: benchmarks/queue.py pool.) A turn handed over stays
    `queued` until a thread claims it, so if this process dies first the sweeper
    queues it again.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., object], dict[str, Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job that no job was promised to
        self._backlog = 0  # jobs queued while every thread was busy, at the cap

    def start(self, func: Callable[..., object], **kwargs: Any) -> None:
        """Run `func` on a pool thread; here and now in Huey's immediate mode (tests, HUEY_IMMEDIATE)."""
        if HUEY.immediate:
            func(**kwargs)
        else:
            self.submit(func, **kwargs)

    def submit(self, func: Callable[..., object], **kwargs: Any) -> None:
        with self._lock:
            self._jobs.put((func, kwargs))
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < settings.GENERATION_THREADS:
                thread = threading.Thread(target=self._run, name=f"generate-{len(self._threads) + 1}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog += 1

    def _run(self) -> None:
        while True:
            func, kwargs = self._jobs.get()
            try:
                func(**kwargs)
            except Exception:
                logger.exception("generation job %s failed", getattr(func, "__name__", func))
            finally:
                connection.close()
            with self._lock:
                if self._backlog:
                    self._backlog -= 1
                else:
                    self._idle += 1

    @property
    def size(self) -> int:
        return len(self._threads)


pool = Pool()
