"""A worker's hold on the turns it is generating: leases, Stop, progress saves (of the answer's text and
of the model's reasoning summary, `Turn.thinking`).

One watcher thread per worker process checks every running attempt of that
process with a single query per interval (and renews their leases in one
UPDATE), so 200 answers in flight cost one query a second, not 200. When a turn
was stopped or taken over, the watcher cuts that attempt's provider call.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from conversations.chat import rendering
from conversations.models import Turn

from . import aimlapi

logger = logging.getLogger(__name__)

PROGRESS_SAVE_SECONDS = 0.5
# Rendering the partial answer may take at most this share of the time between two saves.
PROGRESS_RENDER_SHARE = 0.1


def progress_interval(render_seconds: float) -> float:
    """Seconds from one progress save to the next: PROGRESS_SAVE_SECONDS, longer when rendering is slow.

    A long answer's re-rendering then costs at most a tenth of a core (benchmarks/render.py).
    """
    return max(PROGRESS_SAVE_SECONDS, render_seconds / PROGRESS_RENDER_SHARE)


class Attempt:
    """One attempt of one turn, run by this process. Use as a context manager."""

    def __init__(self, turn: Turn):
        self.turn = turn
        self.cancelled = threading.Event()
        self.abort = aimlapi.Abort()
        self._last_save = 0.0
        self._interval = PROGRESS_SAVE_SECONDS
        self._saved_text = ""
        # Whether this attempt keeps the model's reasoning summary: its catalogue row says so when it is
        # sent (worker._call_provider); a resumed one asked for it, or not, when it was sent.
        self.wants_thinking = True
        self.thinking = ""
        self._saved_thinking = ""

    def mine(self):
        """This attempt's row, only while it is still ours to write."""
        return Turn.objects.filter(id=self.turn.id, status=Turn.Status.IN_PROGRESS, attempts=self.turn.attempts)

    def __enter__(self):
        _watcher.add(self)
        return self

    def __exit__(self, *exc):
        _watcher.remove(self)

    def stop(self) -> None:
        """The turn was stopped (or taken over): cut the provider call now."""
        self.cancelled.set()
        self.abort.abort()

    def should_stop(self) -> bool:
        return self.cancelled.is_set()

    def sleep(self, seconds: float) -> None:
        self.cancelled.wait(seconds)

    def note_thinking(self, thinking: str) -> None:
        """The reasoning summary so far (a stream's `on_thinking`): saved with the next progress save."""
        self.thinking = thinking

    def thinking_of(self, thinking: str) -> str:
        """What this attempt keeps of a reasoning summary (else of the last one seen, e.g. a cancelled
        response comes back without it): nothing if its model's catalogue row says no."""
        return (thinking or self.thinking) if self.wants_thinking else ""

    def save_progress(self, text: str, response_id: str, thinking: str | None = None) -> None:
        """Save streamed text, rendered, and the reasoning summary so far, at most every `progress_interval`.

        Rendered here, once per save, with the renderer of finished answers: every page
        then shows the partial answer as the same safe Markdown (an open code fence as an
        open code block) and the page's poll renders nothing. The summary is plain text
        (shown escaped). `thinking`: the summary of a polled response (a stream's comes
        through `note_thinking`).
        """
        if thinking is not None:
            self.thinking = thinking
        thinking = self.thinking_of(self.thinking)
        if time.monotonic() - self._last_save < self._interval or (
            text == self._saved_text and thinking == self._saved_thinking
        ):
            return
        fields: dict[str, object] = {"updated_at": timezone.now()}
        if text != self._saved_text:
            started = time.thread_time()
            fields.update(output_text=text, output_html=rendering.markdown_to_html(text))
            self._interval = progress_interval(time.thread_time() - started)
            self._saved_text = text
        if thinking != self._saved_thinking:
            fields["thinking"] = self._saved_thinking = thinking
        self._last_save = time.monotonic()
        if response_id:
            fields["response_id"] = response_id
        try:
            if not self.mine().update(**fields):
                row = Turn.objects.filter(id=self.turn.id).values_list("status", "attempts").first()
                if _stopped_by_user(row, self.turn.attempts):
                    self.stop()
        finally:
            release_connection()


def release_connection() -> None:
    """Give this thread's database connection back while it waits on the provider for minutes.

    Hundreds of answers in flight must not hold hundreds of connections (PostgreSQL allows
    100 by default): on PostgreSQL the connection returns to the process's pool, on SQLite
    reopening one is a file open.
    """
    if not connection.in_atomic_block:
        connection.close()


class _Watcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[Attempt, None] = {}
        self._thread: threading.Thread | None = None
        self._last_lease = 0.0

    def add(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts[attempt] = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="turn-watcher", daemon=True)
                self._thread.start()

    def remove(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.pop(attempt, None)

    def _run(self) -> None:
        while True:
            time.sleep(min(settings.TURN_CANCEL_CHECK_SECONDS, settings.TURN_LEASE_SECONDS / 3))
            with self._lock:
                attempts = list(self._attempts)
            if not attempts:
                continue
            try:
                self.check(attempts)
            except Exception:  # the watcher must never die; the next round tries again
                logger.exception("checking running turns failed")
            finally:
                connection.close()

    def check(self, attempts: list[Attempt]) -> None:
        ids = [attempt.turn.id for attempt in attempts]
        rows = {turn_id: (status, n) for turn_id, status, n in Turn.objects.filter(id__in=ids).values_list(
            "id", "status", "attempts"
        )}  # fmt: skip
        alive = {(turn_id, n) for turn_id, (status, n) in rows.items() if status == Turn.Status.IN_PROGRESS}
        for attempt in attempts:
            if _stopped_by_user(rows.get(attempt.turn.id), attempt.turn.attempts):
                attempt.stop()
            # Taken over (the sweeper gave up on this stalled worker, or a Retry runs a newer attempt):
            # the answer is paid for, so it is read to the end and kept (worker._finish_save), never cut.
        if time.monotonic() - self._last_lease >= settings.TURN_LEASE_SECONDS / 3:
            self._last_lease = time.monotonic()
            live_ids = [turn_id for turn_id, _ in alive]
            Turn.objects.filter(id__in=live_ids, status=Turn.Status.IN_PROGRESS).update(
                lease_expires_at=timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)
            )


def _stopped_by_user(row: tuple[str, int] | None, attempt: int) -> bool:
    """The user pressed Stop on this very attempt, or the turn is gone (its conversation deleted)."""
    return row is None or (row[0] == Turn.Status.CANCELLED and row[1] == attempt)


_watcher = _Watcher()


def release_all() -> int:
    """Expire the leases of this process's running attempts (it is shutting down).

    The next sweep, in this or any worker, then resumes background-mode turns by
    their response id and offers Retry for the others, instead of waiting for
    the leases to run out.
    """
    with _watcher._lock:
        running = list(_watcher._attempts)
    released = 0
    for attempt in running:
        released += attempt.mine().update(lease_expires_at=timezone.now())
    if released:
        logger.info("released %d running turns for the next worker", released)
    return released
