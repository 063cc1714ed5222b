"""Pushed live updates: one watcher per web process finds what changed for every open page (stream.py).

A page (static/js/live.js) opens `GET /events/` listing the turns it shows running. The stream
tells it what changed:

- `turn`: one of its running (or queued) turns changed (text arrived, it started, it ended), with the turn's
  fragment, drawn by the renderer of `/t/<id>/live/` (chat/fragments.py) with the stream's own request (the page's user
  and session, as a fetch would be). Without it (it could not be drawn) the page fetches
  `/t/<id>/live/` itself, as the polling fallback does.
- `conversation`: a row of its sidebar changed (title, running or done, order), in any of the
  user's conversations, from any tab or device. The event carries the row (rows hold no form and
  only the user's own data; a stream only ever carries its own user's rows).

What changed is read by ONE watcher per process for every open page: an asyncio task, started by
the first subscriber and stopped when none is left. Every LIVE_EVENTS_INTERVAL_MS it asks the
database whether anything was committed since its last read (a probe that reads no table:
SQLite's data_version, PostgreSQL's current snapshot) and if so (or a second passed) reads what
changed with at most two queries (reads.py), whatever the number of pages:

1. the running turns of the connected users that changed or ended (by primary key), and those
   not known yet (started on another device, or retried), by the status index;
2. the connected users' conversations updated since the last check, plus those whose turn ended
   or started.

A turn's end is found exactly (its status, not a clock); the time window of the rest overlaps the
previous one by LIVE_EVENTS_OVERLAP seconds, so a write committed a little after its timestamp
(another process, another machine's clock) is still seen; what was already told is not repeated.

Streams exist only under ASGI (gunicorn's uvicorn workers; `make run`): under WSGI an endless
response would hold a server thread for good, so the endpoint answers 204 and the page polls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from conversations.chat.fragments import Shared
from conversations.models import Turn
from conversations.notices import selectors as notice_rules
from conversations.notices import services as notices

from . import sessions
from .reads import Changes, Plan, commits_seen, read_catch_up, read_changes, release_connections, row_key, stamp

logger = logging.getLogger(__name__)

# The most turns one page may ask about (a conversation page shows one running turn).
MAX_TURNS_PER_PAGE = 20
# Events a page has not read yet before its stream is ended (it reconnects and catches up).
QUEUE_LIMIT = 500
# When nothing was committed, the watcher still reads this often (its probe is only a shortcut).
IDLE_READ_SECONDS = 1.0
# Turn fragments the streams of one process draw at once (each in its request's thread).
DRAW_AT_ONCE = 4
# Longest wait (s) for SQLite's write lock when noting which turns the pages show (notices/selectors.py).
SEEN_LOCK_WAIT = 0.2


def sse(event: str, data: dict, event_id: int | None = None) -> str:
    lines = f"event: {event}\n"
    if event_id is not None:
        lines += f"id: {event_id}\n"
    return lines + f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


@dataclass(eq=False)
class Subscriber:
    """One open page: its user, the versions of the turns it shows running, its unread events.

    `session_key`: the page's sign-in, which the watcher re-reads (sessions.py); `signed_out` once
    it no longer holds, and the stream ends.
    """

    user_id: int
    turns: dict[uuid.UUID, int]
    session_key: str | None = None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False
    signed_out: bool = False

    def put(self, message) -> None:
        """Queue an event: SSE text, or a TurnEvent (its fragment is drawn by the stream)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A page that stopped reading: end its stream; it reconnects and catches up.
            self.overflowed = True

    def sign_out(self) -> None:
        """Its sign-in is gone: end the stream now (an empty message wakes it; it sends nothing more)."""
        self.signed_out = True
        self.put("")


@dataclass
class TurnEvent:
    """A running turn of the page changed. The stream draws its fragment for the page's user.

    `shared`: what the fragments of this change have in common for every page of that user (the
    budget line, the next prompt's estimate: chat/fragments.py), drawn once for all of them.
    """

    data: dict
    event_id: int
    shared: Shared | None = None


# --- The watcher ------------------------------------------------------------------------------


class Watcher:
    """The one reader of changes for every open page of this process (and this event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.interval = settings.LIVE_EVENTS_INTERVAL_MS / 1000
        self.overlap = timedelta(seconds=settings.LIVE_EVENTS_OVERLAP)
        # One thread, one database connection, for all the reads of this process.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-watcher")
        # The pages' sign-ins are re-read in a thread of their own, so that never delays a change.
        self.sessions_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-sessions")
        self.sessions_task: asyncio.Task | None = None
        self.subscribers: set[Subscriber] = set()
        # Per connected user: their running turns (turn id -> conversation id).
        self.running: dict[int, dict[uuid.UUID, uuid.UUID]] = {}
        # Last version of each sidebar row told (so the overlapping window repeats nothing).
        self.rows_told: dict[str, tuple] = {}
        self.checked_at = timezone.now()
        self.seen_due = 0.0  # when the turns the pages show are next noted (loop time; notices/selectors.py)
        self.sessions_due = 0.0  # when the pages' sign-ins are next re-read (loop time; sessions.py)
        self.session_checks = 0
        self.task: asyncio.Task | None = None
        self.checks = 0
        self.probes = 0  # ticks that found nothing committed, so read nothing
        # Fragments drawn at once by this process's streams (200 answers may end together).
        self.drawing = asyncio.Semaphore(DRAW_AT_ONCE)

    def close(self, wait: bool = False) -> None:
        """Give back the thread and its connection (the loop this watcher served is gone)."""
        for executor in (self.executor, self.sessions_executor):
            executor.submit(release_connections)
            executor.shutdown(wait=wait)

    def _read(self, function, *args, **kwargs):
        return self.loop.run_in_executor(self.executor, lambda: function(*args, **kwargs))

    # ---- subscribers ----

    async def subscribe(self, subscriber: Subscriber, since: datetime) -> int:
        """Register a page, then tell it what changed since `since` (its page load, or its last event).

        Returns the event id that says "up to here": a reconnect with it catches up from there.
        """
        read_at = timezone.now()
        self.subscribers.add(subscriber)
        self.running.setdefault(subscriber.user_id, {})
        if self.task is None or self.task.done():
            self.checked_at = timezone.now()
            # A stream's sign-in was just read by its request: the first re-read is one period on.
            self.sessions_due = self.loop.time() + settings.LIVE_EVENTS_SESSION_CHECK_SECONDS
            self.task = self.loop.create_task(self._run(), name="live-watcher")
        running, turns, rows = await self._read(
            read_catch_up, user_id=subscriber.user_id, turn_ids=list(subscriber.turns), since=since - self.overlap
        )
        event_id = stamp(read_at)
        if subscriber not in self.subscribers:  # gone while we read
            return event_id
        self.running[subscriber.user_id].update(running)
        await self.note_shown([t for t in subscriber.turns if t in running])
        for turn in turns:
            self._tell_turn(subscriber, turn, event_id, force=True)
        for row in rows:
            subscriber.put(sse("conversation", _public(row), event_id))
        return event_id

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not any(s.user_id == subscriber.user_id for s in self.subscribers):
            self.running.pop(subscriber.user_id, None)

    # ---- the loop ----

    async def _run(self) -> None:
        failures = 0
        commits = None  # the last value of commits_seen() read
        read_at = 0.0
        while True:
            await asyncio.sleep(self.interval if not failures else min(5.0, self.interval * 2**failures))
            if not self.subscribers:
                # Idle: give the connection back. No await between the last look and the end,
                # so a page subscribing meanwhile either is seen here or starts a new task.
                await self._read(release_connections)
                await self.loop.run_in_executor(self.sessions_executor, release_connections)
                if not self.subscribers:
                    self.rows_told.clear()
                    return
                continue
            try:
                if self.loop.time() >= self.seen_due:
                    self.seen_due = self.loop.time() + notice_rules.SEEN_TOUCH_SECONDS
                    await self.note_shown(self.shown_turns())
                if self.loop.time() >= self.sessions_due and (self.sessions_task is None or self.sessions_task.done()):
                    self.sessions_due = self.loop.time() + settings.LIVE_EVENTS_SESSION_CHECK_SECONDS
                    self.sessions_task = self.loop.create_task(self.check_sessions(), name="live-sessions")
                # Nothing committed since the last read: nothing to read (but look at least every
                # second, in case a write escaped the probe).
                seen = await self._read(commits_seen)
                if seen is not None and seen == commits and self.loop.time() - read_at < IDLE_READ_SECONDS:
                    self.probes += 1
                    continue
                commits, read_at = seen, self.loop.time()
                await self.check()
                failures = 0
            except Exception:  # a database hiccup must not end every stream of the process
                failures += 1
                commits = None
                logger.warning("live watcher: reading changes failed (%s in a row)", failures, exc_info=True)
                await self._read(release_connections)

    async def check_sessions(self) -> None:
        """End the streams whose sign-in no longer holds: one read for every page of the process."""
        pages = list(self.subscribers)
        sign_ins = [(s.session_key, s.user_id) for s in pages]
        try:
            holding = await self.loop.run_in_executor(self.sessions_executor, sessions.sign_ins_holding, sign_ins)
        except Exception:  # a database hiccup ends no stream: the next check reads again
            logger.warning("live: could not re-read the pages' sign-ins", exc_info=True)
            await self.loop.run_in_executor(self.sessions_executor, release_connections)
            return
        self.session_checks += 1
        for subscriber in pages:
            if (subscriber.session_key, subscriber.user_id) not in holding:
                subscriber.sign_out()

    def shown_turns(self) -> list[uuid.UUID]:
        """The running turns the open pages show (each its owner's: `running` is read from the database)."""
        return [t for s in self.subscribers for t in s.turns if t in self.running.get(s.user_id, {})]

    async def note_shown(self, turn_ids: list[uuid.UUID]) -> None:
        """Note that pages show these turns (their end then sends no email); never fails a stream."""
        if not turn_ids:
            return
        try:
            await self._read(notices.turns_seen_record, turn_ids=turn_ids, lock_wait=SEEN_LOCK_WAIT)
        except Exception:
            logger.warning("live: could not note the turns pages show", exc_info=True)

    def plan(self) -> Plan:
        turn_ids = sorted({turn for turns in self.running.values() for turn in turns})
        return Plan(
            turn_ids=turn_ids, user_ids=sorted(self.running), since=self.checked_at - self.overlap, told=self.rows_told
        )

    async def check(self) -> None:
        """One check for every open page: read (at most two queries), then tell each page its part."""
        plan = self.plan()
        now = timezone.now()
        changes = await self._read(read_changes, plan)
        self.checked_at = now
        self.checks += 1
        self.dispatch(changes, stamp(now))

    def dispatch(self, changes: Changes, event_id: int) -> None:
        by_user: dict[int, list[Subscriber]] = {}
        for subscriber in self.subscribers:
            by_user.setdefault(subscriber.user_id, []).append(subscriber)
        # One Shared per user and check: N open pages of a user draw its budget and estimate once.
        shared: dict[int, Shared] = {}
        for *turn, user in changes.turns:
            if user not in self.running:
                continue
            turn_id, conversation_id, status, _ = turn
            if status in Turn.OPEN:
                self.running[user][turn_id] = conversation_id
            else:
                self.running[user].pop(turn_id, None)
            for subscriber in by_user.get(user, ()):
                self._tell_turn(subscriber, tuple(turn), event_id, shared=shared.setdefault(user, Shared(user)))
        for row in changes.rows:
            user = row["owner"]
            if user not in self.running:
                continue
            if row["running_turn"]:
                self.running[user][uuid.UUID(row["running_turn"])] = uuid.UUID(row["id"])
            key = row_key(row)
            if self.rows_told.get(row["id"]) == key:
                continue
            self.rows_told[row["id"]] = key
            message = sse("conversation", _public(row), event_id)
            for subscriber in by_user.get(user, ()):
                subscriber.put(message)
        if len(self.rows_told) > 10_000:
            self.rows_told.clear()

    @staticmethod
    def _tell_turn(
        subscriber: Subscriber, turn: tuple, event_id: int, force: bool = False, shared: Shared | None = None
    ) -> None:
        turn_id, conversation_id, status, updated_at = turn
        known = subscriber.turns.get(turn_id)
        if known is None:
            return
        version = stamp(updated_at)
        ended = status not in Turn.OPEN
        if version > known or (force and (ended or version != known)):
            subscriber.turns[turn_id] = version
            data = {"id": str(turn_id), "v": version, "status": status, "conversation": str(conversation_id)}
            subscriber.put(TurnEvent(data, event_id, shared))
        if ended:
            subscriber.turns.pop(turn_id, None)


def _public(row: dict) -> dict:
    """What a page receives of a row (the owner id and the running turn's id stay here)."""
    return {k: v for k, v in row.items() if k not in ("owner", "running_turn")}


_watcher: Watcher | None = None


def watcher() -> Watcher:
    """The watcher of this process's event loop (a new loop, as in tests, gets its own)."""
    global _watcher
    loop = asyncio.get_running_loop()
    if _watcher is None or _watcher.loop is not loop:
        if _watcher is not None:
            _watcher.close()
        _watcher = Watcher(loop)
    return _watcher
