"""Every write: create a conversation or turn, run it, cancel, retry, recover.

Rules that keep prompts safe and answers single:
- A turn is committed (status `queued`) before anything talks to the provider.
- The provider is never called inside a database transaction.
- Each state change is a conditional UPDATE (`status=..., attempts=n`), so a
  late worker never overwrites a cancel, a retry or another worker's result.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import tempfile
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ops import metrics

from . import aimlapi, budgets, catalog, rendering, transfer
from .attempts import Attempt
from .breaker import guard as provider_guard
from .models import Charge, Conversation, DailyUsage, Share, Turn

logger = logging.getLogger(__name__)

QUEUED_STALE_AFTER = timedelta(minutes=10)


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


def _title_from(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= 80 else line[:79].rstrip() + "…"


def _turn_by_token(owner, client_token) -> Turn | None:
    if not client_token:
        return None
    return Turn.objects.filter(client_token=client_token, conversation__owner=owner).first()


def _enqueue(turn: Turn) -> None:
    from . import tasks  # tasks imports services

    turn_id = turn.id
    transaction.on_commit(lambda: tasks.turn_run_task(str(turn_id)))


def user_limits_check(*, owner, hourly: bool = True) -> None:
    """Raise UserLimitReached when `owner` may not start another answer now.

    Call inside the transaction that queues the answer: the user's row is locked
    first (PostgreSQL; SQLite's write transaction is exclusive anyway), so two web
    processes cannot both pass the count. One user's prompts can then fill at most
    MAX_ACTIVE_TURNS_PER_USER workers: the rest stay free for everyone else.
    """
    list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
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
            # Raises BudgetExceeded (rolling the turn back) when the prompt could pass a budget.
            budgets.turn_reserve(turn=turn)
            Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=turn.created_at)
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
        return Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token)

    return _create_once(owner=owner, client_token=client_token, create=create)


def turn_create(*, conversation: Conversation, prompt: str, client_token: uuid.UUID | None = None) -> Turn:
    """Add a prompt to a conversation and queue its generation."""
    return _create_once(
        owner=conversation.owner,
        client_token=client_token,
        create=lambda: Turn.objects.create(conversation=conversation, prompt=prompt, client_token=client_token),
    )


def turn_regenerate(*, turn: Turn, prompt: str | None = None, client_token: uuid.UUID | None = None) -> Turn:
    """Ask again (optionally with an edited prompt) as a new turn at the end.

    The earlier turn and every turn after it stay stored, marked superseded:
    the page shows them collapsed and they leave the input sent to the model.
    """
    conversation = turn.conversation

    def create() -> Turn:
        new = Turn.objects.create(
            conversation=conversation, prompt=turn.prompt if prompt is None else prompt, client_token=client_token
        )
        conversation.turns.filter(created_at__gte=turn.created_at, superseded_by__isnull=True).exclude(
            id=new.id
        ).update(superseded_by=new, updated_at=new.created_at)
        return new

    return _create_once(owner=conversation.owner, client_token=client_token, create=create)


# --- Running turns ---------------------------------------------------------------


def conversation_input(turn: Turn) -> list[dict]:
    """Earlier completed turns (prompt, answer) in order, then this turn's prompt."""
    earlier = (
        Turn.objects.filter(
            conversation_id=turn.conversation_id,
            created_at__lt=turn.created_at,
            status=Turn.Status.COMPLETED,
            superseded_by__isnull=True,
        )
        .order_by("created_at")
        .values_list("prompt", "output_text")
    )
    items: list[dict] = []
    for prompt, answer in earlier:
        items.append({"role": "user", "content": prompt})
        items.append({"role": "assistant", "content": answer})
    items.append({"role": "user", "content": turn.prompt})
    return items


def usage_cost(model: str, usage: aimlapi.Usage | None) -> Decimal | None:
    """USD for this usage at the catalogue's current prices (reasoning tokens are output tokens)."""
    if usage is None:
        return None
    return catalog.cost(
        prices=catalog.prices_for(model),
        input_tokens=usage.input_tokens,
        cached_tokens=usage.cached_tokens,
        output_tokens=usage.output_tokens,
    )


def _usage_fields(model: str, usage: aimlapi.Usage | None) -> dict:
    """The turn's usage columns, with the unit prices it is charged at and both costs."""
    if usage is None:
        return {}
    prices = catalog.prices_for(model)
    return {
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": usage.total_tokens,
        "input_price": prices.input,
        "cached_input_price": prices.cached_input,
        "output_price": prices.output,
        "cost_usd": catalog.cost(
            prices=prices,
            input_tokens=usage.input_tokens,
            cached_tokens=usage.cached_tokens,
            output_tokens=usage.output_tokens,
        ),
        "provider_cost_usd": (
            Decimal(str(usage.usd_spent)).quantize(catalog.CENTS6) if usage.usd_spent is not None else None
        ),
    }


def charge_record(*, turn: Turn, status: str, model: str, response_id: str, fields: dict, now=None) -> Charge | None:
    """Write the ledger entry of one attempt that reported usage, once, and add it to the daily rollup.

    `fields` are the usage columns from `_usage_fields`. A second call for the
    same attempt (a late worker, a second sweep) records nothing.
    """
    if not fields or (fields.get("input_tokens") is None and fields.get("output_tokens") is None):
        return None
    now = now or timezone.now()
    owner = turn.conversation.owner
    duration = int((now - turn.started_at).total_seconds() * 1000) if turn.started_at else None
    tokens = {
        name: fields.get(name) or 0
        for name in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")
    }
    if not tokens["total_tokens"]:
        tokens["total_tokens"] = tokens["input_tokens"] + tokens["output_tokens"]
    try:
        with transaction.atomic():
            charge = Charge.objects.create(
                user=owner,
                username=owner.get_username(),
                conversation_id=turn.conversation_id,
                turn=turn,
                attempt=turn.attempts,
                model=model,
                response_id=response_id,
                status=status,
                **tokens,
                input_price=fields.get("input_price"),
                cached_input_price=fields.get("cached_input_price"),
                output_price=fields.get("output_price"),
                cost_usd=fields.get("cost_usd"),
                provider_cost_usd=fields.get("provider_cost_usd"),
                duration_ms=max(duration, 0) if duration is not None else None,
                created_at=now,
            )
            _rollup_add(charge)
    except IntegrityError:
        return None  # this attempt was already charged
    return charge


def _rollup_add(charge: Charge) -> None:
    key = {
        "day": timezone.localdate(charge.created_at),
        "user_id": charge.user_id,
        "model": charge.model,
        "status": charge.status,
    }
    row, _ = DailyUsage.objects.get_or_create(**key)
    DailyUsage.objects.filter(pk=row.pk).update(
        charges=F("charges") + 1,
        input_tokens=F("input_tokens") + charge.input_tokens,
        cached_tokens=F("cached_tokens") + charge.cached_tokens,
        output_tokens=F("output_tokens") + charge.output_tokens,
        reasoning_tokens=F("reasoning_tokens") + charge.reasoning_tokens,
        total_tokens=F("total_tokens") + charge.total_tokens,
        cost_usd=F("cost_usd") + (charge.cost_usd or 0),
        provider_cost_usd=F("provider_cost_usd") + (charge.provider_cost_usd or 0),
        duration_ms=F("duration_ms") + (charge.duration_ms or 0),
    )


def turn_run(*, turn_id) -> None:
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
        error_code="",
        error_message="",
    )
    if not claimed:
        return
    turn = Turn.objects.select_related("conversation").get(id=turn_id)
    _run_attempt(turn, resume=False)


def turn_resume(*, turn_id) -> None:
    """Pick up polling a background-mode turn whose worker died, by its stored response id."""
    turn = Turn.objects.select_related("conversation").filter(id=turn_id, status=Turn.Status.IN_PROGRESS).first()
    if turn is None or turn.mode != "background" or not turn.response_id:
        return
    _run_attempt(turn, resume=True)


def _run_attempt(turn: Turn, *, resume: bool) -> None:
    assert not connection.in_atomic_block, "the provider must never be called inside a transaction"
    with Attempt(turn) as attempt:
        try:
            # The circuit breaker fails fast while the provider is down (not for a resumed, paid answer).
            response = provider_guard(lambda: _call_provider(turn, attempt, resume=resume), check=not resume)
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


def _call_provider(turn: Turn, attempt: Attempt, *, resume: bool) -> aimlapi.Response:
    conversation = turn.conversation
    body: dict = {}
    if not resume:
        body = aimlapi.build_body(
            model=conversation.model,
            input=conversation_input(turn),
            instructions=conversation.instructions,
            max_output_tokens=conversation.max_output_tokens,
            # Only a value the catalogue says the model accepts is sent.
            reasoning_effort=(
                conversation.reasoning_effort
                if conversation.reasoning_effort in catalog.accepted_efforts(conversation.model)
                else ""
            ),
        )
    if turn.mode == "stream":
        return aimlapi.stream_response(body, on_event=attempt.save_progress, abort=attempt.abort)
    if turn.mode == "background":
        if resume:
            response = aimlapi.retrieve_response(turn.response_id, abort=attempt.abort)
        else:
            response = aimlapi.create_response(body, background=True, abort=attempt.abort)
            # Stored at once: any worker can resume polling after a crash without re-sending.
            attempt.mine().update(response_id=response.id, updated_at=timezone.now())
        return _poll(response, attempt)
    return aimlapi.create_response(body, abort=attempt.abort)


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
    base = {
        "response_id": (response.id or turn.response_id)[:255],
        "model": response.model[:100],
        "output_text": text,
        "output_html": html,
        "response_json": {"note": "The provider's response could not be stored as sent; see the worker log."},
        "updated_at": now,
    }
    ok = response.status == "completed" and bool(text)
    outcome = {
        "status": Turn.Status.COMPLETED if ok else Turn.Status.FAILED,
        "completed_at": now,
        "error_code": "" if ok else "store_error",
        "error_message": "" if ok else "The answer arrived but could not be stored completely. Press Retry.",
    }
    try:
        usage = _usage_fields(turn.conversation.model, response.usage)
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
        charge_record(
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
    now = timezone.now()
    # Priced as the conversation's model: the catalogue's id, while the provider
    # may echo another spelling (e.g. without the "openai/" prefix).
    model = turn.conversation.model
    usage = _usage_fields(model, response.usage)
    fields = {
        "response_id": response.id or turn.response_id,
        "model": response.model,
        "output_text": response.text,
        "output_html": rendering.markdown_to_html(response.text),
        "response_json": response.raw or None,
        "updated_at": now,
        **usage,
    }
    charge = {"turn": turn, "model": model, "response_id": fields["response_id"], "fields": usage, "now": now}
    if attempt.mine().update(
        status=status, completed_at=now, error_code=error_code, error_message=error_message, **fields
    ):
        charge_record(status=status, **charge)
        Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=now)
        return
    # The sweeper gave up on this worker (it stalled past its lease), then the paid answer
    # arrived after all: show it, as long as nobody retried the turn meanwhile.
    if Turn.objects.filter(
        id=turn.id, attempts=turn.attempts, status=Turn.Status.FAILED, error_code="interrupted"
    ).update(status=status, completed_at=now, error_code=error_code, error_message=error_message, **fields):
        charge_record(status=status, **charge)
        Conversation.objects.filter(pk=turn.conversation_id).update(updated_at=now)
        return
    # Cancelled (or taken over) meanwhile: keep the cancel, but record what the
    # provider sent and charged, so usage is never lost.
    if not Turn.objects.filter(id=turn.id, status=Turn.Status.CANCELLED, attempts=turn.attempts).update(**fields):
        _keep_late_answer(turn, response, usage, now)
    charge_record(status=Turn.Status.CANCELLED, **charge)


def _keep_late_answer(turn: Turn, response: aimlapi.Response, usage: dict, now) -> None:
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
    if exc.code == "model_deprecated":
        message = _deprecated_message(turn.conversation.model)
    if exc.retryable and "Retry" not in message:
        message += " Press Retry to try again."
    fields = {"updated_at": now}
    if exc.partial_text:
        fields["output_text"] = exc.partial_text
        fields["output_html"] = rendering.markdown_to_html(exc.partial_text)
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
    gone = f"{name} is deprecated: the AI/ML API no longer serves it."
    if successor is None:
        return f"{gone} Choose another model in the conversation settings, then press Retry."
    return f"{gone} Its successor is {successor} ({successor.provider_id}): switch this conversation to it, then Retry."


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
        from . import tasks

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
                budgets.turn_reserve(turn=turn)  # BudgetExceeded rolls the retry back
                _enqueue(turn)
    except IntegrityError:
        raise TurnInFlight from None
    turn.refresh_from_db()
    return turn


def response_cancel(*, response_id: str) -> None:
    try:
        aimlapi.cancel_response(response_id)
    except aimlapi.AimlApiError as exc:
        logger.info("cancel of response %r failed: %s", response_id, exc.message)


def turns_recover(*, now=None) -> dict[str, int]:
    """Take back turns whose worker died; re-queue tasks that may have been lost.

    Background-mode turns have a stored response id: polling resumes without
    sending the prompt again. Others cannot be resumed and fail as interrupted,
    so Retry is offered. Runs periodically and when a worker starts.
    """
    from . import tasks

    now = now or timezone.now()
    counts = {"resumed": 0, "interrupted": 0, "requeued": 0}
    lease = timedelta(seconds=settings.TURN_LEASE_SECONDS)
    stale = Turn.objects.filter(status=Turn.Status.IN_PROGRESS, lease_expires_at__lt=now)
    for turn in stale:
        mine = Turn.objects.filter(
            id=turn.id, status=Turn.Status.IN_PROGRESS, attempts=turn.attempts, lease_expires_at=turn.lease_expires_at
        )
        if turn.mode == "background" and turn.response_id:
            if mine.update(lease_expires_at=now + lease, updated_at=now):
                tasks.turn_resume_task(str(turn.id))
                counts["resumed"] += 1
        elif mine.update(
            status=Turn.Status.FAILED,
            completed_at=now,
            updated_at=now,
            error_code="interrupted",
            error_message="The answer was interrupted because the worker stopped. Press Retry to send it again.",
        ):
            counts["interrupted"] += 1
    for turn_id in Turn.objects.filter(status=Turn.Status.QUEUED, updated_at__lt=now - QUEUED_STALE_AFTER).values_list(
        "id", flat=True
    ):
        # A duplicate task is harmless: only one run can claim a queued turn.
        if Turn.objects.filter(id=turn_id, status=Turn.Status.QUEUED).update(updated_at=now):
            tasks.turn_run_task(str(turn_id))
            counts["requeued"] += 1
    if any(counts.values()):
        logger.info("recovered turns: %s", counts)
    return counts


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
    """Move a conversation from its retired model to the successor the catalogue names.

    A reasoning effort the successor does not accept, or an output cap above its
    maximum, is cleared, so the next request is one the new model takes.
    """
    row = catalog.model_get(conversation.model)
    successor = row.successor if row else None
    if successor is None or not successor.enabled:
        raise NoSuccessor
    fields = {"model": successor.provider_id}
    if conversation.reasoning_effort and conversation.reasoning_effort not in successor.efforts:
        fields["reasoning_effort"] = ""
    cap = successor.max_output_tokens
    if conversation.max_output_tokens and cap and conversation.max_output_tokens > cap:
        fields["max_output_tokens"] = None
    return conversation_update(conversation=conversation, **fields)


def conversation_delete(*, conversation: Conversation) -> None:
    for turn in conversation.turns.filter(status__in=Turn.ACTIVE):
        turn_cancel(turn=turn)
    conversation.delete()


# --- Import and share (formats and reads in transfer.py) ----------------------------------


def conversations_import(*, owner, file) -> transfer.ImportPlan:
    """Import an export file (one conversation or all) for `owner`: all of it, or nothing.

    The whole file is validated, and its answers rendered, before anything is
    written; then one transaction creates the new conversations. A conversation
    already imported (its id is a conversation's `origin_id`) or still the
    owner's own is skipped, so importing twice creates nothing new. Turns arrive
    in their final states and nothing is queued or sent to the model. No ledger
    charge is written: the money was spent, and recorded, where the answers were
    generated. Raises transfer.ImportRefused with the reason.
    """
    mine = Conversation.objects.filter(owner=owner)
    known = set(mine.values_list("id", flat=True)) | set(
        mine.filter(origin_id__isnull=False).values_list("origin_id", flat=True)
    )
    with tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as spool:
        plan = transfer.prepare(file, spool, known_ids=known)
        with transaction.atomic():
            for data in transfer.spooled(spool):
                try:
                    with transaction.atomic():
                        _conversation_insert(owner, data)
                except IntegrityError:
                    # The same file imported by another request meanwhile: already here.
                    plan.skipped += 1
                    plan.turns -= len(data["turns"])
    return plan


def _conversation_insert(owner, data: dict) -> Conversation:
    turns = data.pop("turns")
    origin_id = data.pop("id")
    if catalog.model_get(data["model"]) is None:
        # A model this instance does not offer: the next prompt goes to the default one.
        data["model"] = catalog.default_model_id()
    conversation = Conversation.objects.create(owner=owner, origin_id=origin_id, **data)
    # New ids (the file's may be another user's turns here); versions keep pointing at each other.
    new_ids = {turn["id"]: uuid.uuid4() for turn in turns}
    Turn.objects.bulk_create(
        [
            Turn(
                **{name: value for name, value in turn.items() if name not in ("id", "superseded_by")},
                id=new_ids[turn["id"]],
                superseded_by_id=new_ids.get(turn["superseded_by"]),
                conversation=conversation,
            )
            for turn in turns
        ],
        batch_size=500,
    )
    return conversation


def share_create(*, conversation: Conversation, show_cost: bool = False) -> Share:
    """A read-only link to a snapshot of the conversation as it is now."""
    return Share.objects.create(
        token=secrets.token_urlsafe(24),
        conversation=conversation,
        owner=conversation.owner,
        title=conversation.title or "Untitled",
        snapshot=transfer.share_snapshot(conversation=conversation, show_cost=show_cost),
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
