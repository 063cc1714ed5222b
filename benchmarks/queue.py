"""The queue (conversations/generation/scheduler.py), and where a prompt's POST spends its time.

    python -m benchmarks.queue pick                          # the pick with 10 and 10,000 prompts queued, EXPLAIN
    python -m benchmarks.queue start                         # a queued prompt's start after a slot frees (real stack)
    python -m benchmarks.queue post                          # POST / profiled in-process: where its time goes
    python -m benchmarks.queue pick post --database-url postgres://u:p@127.0.0.1:5432/aimlweb_bench_queue --redis-url redis://127.0.0.1:6379/7

`pick` and `post` run in this process on a fresh database (SQLite in a temp dir, or the PostgreSQL
database named, which is dropped and created again); `start` starts the app as real processes
(benchmarks/stack.py). The concurrency benchmark (`benchmarks.run --only concurrency`) reports the
same queue figures (`queue_figures`) for its own run. Not part of `make test`; docs/benchmarks.md
has the figures and the commands.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from .figures import pct, summary
from .queue_figures import queue_figures
from .queue_report import report
from .stack import fresh_postgres

# The id a prompt carries back in its echoed answer (the app scrubs "bench", the stack's API key, from it).
TAG = re.compile(r"-id=([\w.-]+)\]")

# --- In-process: a fresh database ----------------------------------------------------------------


def setup_django(workdir: Path, database_url: str, redis_url: str, limit: int) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
            "DATA_DIR": str(workdir),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'db.sqlite3'}",
            "HUEY_FILENAME": str(workdir / "huey.sqlite3"),
            "HUEY_NAME": f"bench-queue-{os.getpid()}",
            "HUEY_IMMEDIATE": "false",
            "AIMLAPI_KEY": "bench",
            "DEBUG": "false",
            "SECRET_KEY": "bench-queue-" + uuid.uuid4().hex * 2,
            "MAX_ACTIVE_TURNS_PER_USER": str(limit),
            "MAX_PROMPTS_PER_HOUR": "0",
            "ALLOWED_HOSTS": "testserver",  # the test client's host (bench_post)
        }
    )
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    if database_url:
        fresh_postgres(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.disable(logging.INFO)  # sign-ins and starts log a line each


def _queue_for(owner, n: int, now, offset: int = 0) -> list:
    """`n` prompts of `owner` waiting in the queue, each in a conversation of its own (bulk)."""
    from datetime import timedelta

    from conversations.models import Conversation, Turn, WaitingTurn

    made = []
    for start in range(0, n, 2000):
        size = min(2000, n - start)
        conversations = Conversation.objects.bulk_create(
            [Conversation(owner=owner, model="openai/gpt-5-pro", title="q") for _ in range(size)]
        )
        turns = Turn.objects.bulk_create(
            [
                Turn(
                    conversation=c,
                    prompt="queued",
                    status="waiting",
                    created_at=now + timedelta(microseconds=offset + start + i),
                )
                for i, c in enumerate(conversations)
            ]
        )
        WaitingTurn.objects.bulk_create([WaitingTurn(turn=t, owner=owner, created_at=t.created_at) for t in turns])
        made += turns
    return made


def _timed(func, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return summary(times)


def bench_pick(sizes: list[int], repeat: int, limit: int) -> dict:
    """The pick (one user's next startable prompt) and a whole start, with `size` prompts queued.

    The user picked has `limit` answers running, each with a follow-up queued behind it (the oldest
    rows, which the pick must skip), and 8 prompts of their own queued; the rest of the `size` rows are
    99 other users' ("others"), or all the user's own ("own": a user with that many queued).
    Timed: the pick's SQL alone (a cursor), the pick through the ORM (what the scheduler calls), and a
    whole start (lock, count, pick, waiting -> queued, budget hold) in a transaction rolled back.
    """
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from conversations.generation import scheduler
    from conversations.models import Conversation, Turn, WaitingTurn

    out = {}
    for size in sizes:
        for whose in ("others", "own") if size > 10 else ("others",):
            Turn.objects.all().delete()
            Conversation.objects.all().delete()
            users = [User.objects.create_user(f"pick-{size}-{whose}-{i}") for i in range(100)]
            me = users[0]
            now = timezone.now()
            for _ in range(limit):
                conversation = Conversation.objects.create(owner=me, model="openai/gpt-5-pro")
                running = Turn.objects.create(
                    conversation=conversation, prompt="running", status="in_progress", created_at=now
                )
                follow_up = Turn.objects.create(
                    conversation=conversation, prompt="follow-up", status="waiting", parent=running, created_at=now
                )
                WaitingTurn.objects.create(turn=follow_up, owner=me, follows=running, created_at=now)
            rest = max(0, size - limit - 8)
            _queue_for(me, 8 + (rest if whose == "own" else 0), now, offset=1)
            if whose == "others":
                for i, user in enumerate(users[1:]):
                    share = rest // 99 + (1 if i < rest % 99 else 0)
                    _queue_for(user, share, now, offset=1 + 10 * size * (i + 1))
            queued = WaitingTurn.objects.count()
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # what autovacuum does soon after a bulk load
                    cursor.execute("ANALYZE")
            sql, params = scheduler.pick(me.pk).values("turn_id")[:1].query.sql_with_params()
            with connection.cursor() as cursor:

                def raw(cursor=cursor, sql=sql, params=params):
                    cursor.execute(sql, params)
                    return cursor.fetchall()

                assert raw(), "nothing to pick"
                explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
                cursor.execute(explain + sql, params)
                plan = [" ".join(str(col) for col in row) for row in cursor.fetchall()]
                sql_time = _timed(raw, repeat)
            orm_time = _timed(lambda me=me: scheduler.next_waiting(me.pk), repeat)

            def start(me=me):
                try:
                    with transaction.atomic():
                        assert scheduler.turns_start(owner_id=me.pk, run=lambda turn_id: None)
                        raise _RolledBack
                except _RolledBack:
                    pass

            Turn.objects.filter(conversation__owner=me, status="in_progress").update(status="completed")
            start_time = _timed(start, min(repeat, 30))
            label = f"{queued:,} (" + ("the user's own" if whose == "own" else "99 other users'") + ")"
            out[label] = {"queued": queued, "sql": sql_time, "orm": orm_time, "start": start_time, "plan": plan}
            print(
                f"[pick] {label}: SQL p50 {sql_time['p50'] * 1000:.2f} ms, ORM p50 {orm_time['p50'] * 1000:.2f} ms, "
                f"start p50 {start_time['p50'] * 1000:.1f} ms; plan: {' | '.join(plan)}",
                flush=True,
            )
    return out


class _RolledBack(Exception):
    pass


# What POST / is made of, by (file, function) in the profile; each measured as its cumulative time per POST.
POST_PARTS = [
    ("the view (form, service, redirect)", "conversations/chat/views.py", "home"),
    ("  the form (validation, the catalogue's models)", "conversations/chat/forms.py", "__init__"),
    ("  conversation_create: one transaction", "conversations/chat/services.py", "_create_once"),
    ("    user row lock + running count", "conversations/chat/services.py", "user_limits_check"),
    ("    hourly limit", "conversations/chat/services.py", "_hourly_check"),
    ("    conversation + turn rows", "conversations/chat/services.py", "create"),
    ("    continuity (a retired model)", "conversations/usage/continuity.py", "turn_continue"),
    ("    budget check (estimate, hold)", "conversations/usage/budgets.py", "turn_reserve"),
    ("    hand-over to the worker (task enqueued at commit)", "huey/api.py", "enqueue"),
    ("    commit", "django/db/backends/base/base.py", "commit"),
    ("  (catalogue reads, in the parts above)", "conversations/usage/catalog.py", "model_get"),
    ("session + user (middleware)", "django/contrib/auth/middleware.py", "get_user"),
]


def bench_post(posts: int, users: int) -> dict:
    """POST / as the test client sends it (middleware, view, service, commit, task enqueue), one at a time:
    wall time per POST, then the same POSTs profiled, split by POST_PARTS."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    # Every prompt starts (none waits), as in the 10 prompts per user at a limit of 10: the
    # turns never end here, so the limit would fill up.
    settings.MAX_ACTIVE_TURNS_PER_USER = 100_000
    clients = []
    for i in range(users):
        user = User.objects.create_user(f"post-{i}")
        client = Client()
        client.force_login(user)
        clients.append(client)

    def send(i: int) -> None:
        response = clients[i % users].post("/", {"prompt": f"Prompt {i}", "client_token": str(uuid.uuid4())})
        assert response.status_code == 302, response.status_code

    for i in range(min(20, posts)):  # warm: imports, caches, prepared connections
        send(i)
    statements = []

    def counted(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):  # survives the reconnect at each request's start
        send(posts)
    walls = []
    for i in range(posts):
        started = time.perf_counter()
        send(i)
        walls.append(time.perf_counter() - started)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(posts):
        send(i)
    profiler.disable()
    profiled = (time.perf_counter() - started) / posts
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = {}
    for label, path, name in POST_PARTS:
        found = [ct for (file, _, func), (_, _, _, ct, _) in stats.items() if file.endswith(path) and func == name]
        parts[label] = max(found, default=0.0) / posts  # nested definitions of a name: the outermost
    print(f"[post] {posts} POSTs: p50 {pct(walls, 50) * 1000:.1f} ms, p95 {pct(walls, 95) * 1000:.1f} ms", flush=True)
    return {
        "posts": posts,
        "users": users,
        "queries": len(statements),
        "wall": summary(walls),
        "profiled_mean": profiled,
        "parts": parts,
    }


# --- A real stack: a queued prompt's start after a slot frees --------------------------------------


def bench_start(args, workdir: Path) -> dict:
    from .client import Browser
    from .stack import BENCH_PASSWORD, Stack

    static_root = workdir / "static"
    Stack(workdir / "collectstatic", static_root, upstream_latency=0, huey_workers=1).collectstatic()
    env = {"MAX_ACTIVE_TURNS_PER_USER": str(args.limit)}
    if args.database_url:
        fresh_postgres(args.database_url)
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    stack = Stack(
        workdir / "start",
        static_root,
        upstream_latency=args.upstream_latency,
        huey_workers=4,
        users=args.users,
        env_overrides=env,
        server="asgi",
    )
    try:
        stack.start()
        browsers = [Browser(stack.base_url) for _ in range(args.users)]
        for i, browser in enumerate(browsers):
            browser.login(f"bench{i}", BENCH_PASSWORD)
        sends: dict[str, float] = {}
        lock = threading.Lock()

        def user_sends(i: int) -> None:
            for n in range(args.prompts):
                tab = browsers[i].tab()
                home, _ = tab.get("/")
                new = tab.send_prompt(f"Queue start {n} of user {i} [bench-id=q-{i}-{n}]", home.text)
                with lock:
                    sends[new.turn_id.replace("-", "")] = new.post_start
                tab.close()

        started = time.time()
        threads = [threading.Thread(target=user_sends, args=(i,)) for i in range(args.users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = time.time() - started
        deadline = time.time() + args.upstream_latency * (args.prompts / args.limit + 2) + 60
        expected = args.users * args.prompts
        while time.time() < deadline:
            turns = stack.turns()
            turns.pop("__conversations__")
            if sum(1 for t in turns.values() if t["status"] == "completed") == expected:
                break
            time.sleep(0.5)
        turns = stack.turns()
        turns.pop("__conversations__")
        fake = stack.fake_stats_after(time.time())
        tags = {TAG.search(t["output_text"] or ""): key for key, t in turns.items()}
        by_tag = {match.group(1): key for match, key in tags.items() if match}
        provider = {by_tag[bench_id]: at for at, bench_id, _ in fake["starts"] if bench_id in by_tag}
        figures = queue_figures(list(turns.values()), sends, provider, args.limit, args.upstream_latency)
        done = sum(1 for t in turns.values() if t["status"] == "completed")
        print(f"[start] {done}/{expected} completed; sent in {sent:.1f} s", flush=True)
        return {
            "users": args.users,
            "prompts": args.prompts,
            "limit": args.limit,
            "upstream_latency": args.upstream_latency,
            "completed": done,
            "expected": expected,
            "posted_once": fake["post_count"] == expected,
            "send_s": sent,
            **figures,
        }
    finally:
        stack.stop()


# --- A real worker: what the generation pool's cap costs ---------------------------------------------

SEED = """
import sys, time, uuid
import django
django.setup()
from django.contrib.auth.models import User
from conversations.chat import services
users, per_user = int(sys.argv[1]), int(sys.argv[2])
owners = list(User.objects.order_by("id")[:users])
started = time.time()
for n in range(per_user):
    for i, owner in enumerate(owners):
        prompt = f"Pool {n} of {i} [bench-id=p-{i}-{n}]"
        services.conversation_create(owner=owner, prompt=prompt, client_token=uuid.uuid4())
print(time.time() - started)
"""


def bench_pool(args, workdir: Path) -> dict:
    """`--users` x `--prompts` prompts accepted as fast as the services take them (no web: in one process
    here), then the worker alone: how many reach the provider, how soon, and the worker's memory and
    threads with them all in flight (the upstream answers after `--upstream-latency`)."""
    from .stack import PYTHON, Sampler, Stack, proc_status

    env = {"MAX_ACTIVE_TURNS_PER_USER": str(args.limit), "GENERATION_THREADS": str(args.threads)}
    if args.database_url:
        fresh_postgres(args.database_url)
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    static_root = workdir / "static"
    Stack(workdir / "collectstatic", static_root, upstream_latency=0, huey_workers=1).collectstatic()
    stack = Stack(
        workdir / "pool", static_root, upstream_latency=args.upstream_latency, huey_workers=4, users=args.users,
        env_overrides=env,
    )  # fmt: skip
    try:
        stack.start()
        idle = proc_status(stack.worker.pid)
        sampler = Sampler({"worker": [stack.worker.pid]}).start()
        started = time.time()
        seconds = float(stack._run("seed", [PYTHON, "-c", SEED, str(args.users), str(args.prompts)], timeout=3600))
        expected = args.users * args.prompts
        in_flight = min(expected, args.users * args.limit)
        deadline = time.time() + args.upstream_latency + 120
        while time.time() < deadline:
            fake = stack.fake_stats_after(time.time())
            if len(fake["starts"]) >= in_flight:
                break
            time.sleep(1)
        time.sleep(2)  # the last threads settle
        sampler.sample()
        sampler.stop()
        status = proc_status(stack.worker.pid)
        fake = stack.fake_stats_after(time.time())
        turns = stack.turns()
        turns.pop("__conversations__")
        created = sorted(t["created_at"] for t in turns.values())
        reached = sorted(at for at, _, _ in fake["starts"])
        # The i-th prompt to reach the provider against the i-th accepted: how far behind the worker is.
        behind = [r - c for r, c in zip(reached, created, strict=False)]
        figures = {
            "users": args.users,
            "prompts": args.prompts,
            "limit": args.limit,
            "threads": args.threads,
            "upstream_latency": args.upstream_latency,
            "accepted": len(turns),
            "accept_s": seconds,
            "reached_provider": len(reached),
            "expected_in_flight": in_flight,
            "first_to_last_reached_s": (reached[-1] - reached[0]) if reached else None,
            "accepted_to_provider": summary(behind),
            "worker_idle_rss_mib": idle.get("VmRSS", 0) / 1024,
            "worker_peak_rss_mib": status.get("VmHWM", 0) / 1024,
            "worker_peak_threads": sampler.peak["worker"].get("Threads"),
            "worker_peak_fds": sampler.peak["worker"].get("fds"),
            "elapsed_s": time.time() - started,
        }
        per = (figures["worker_peak_rss_mib"] - figures["worker_idle_rss_mib"]) / max(1, len(reached))
        figures["mib_per_answer_in_flight"] = per
        print(f"[pool] {json.dumps(figures)}", flush=True)
        return figures
    finally:
        stack.stop()


# --- Report ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue", description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="+", choices=("pick", "start", "post", "pool"))
    parser.add_argument("--threads", default="256", help="pool: GENERATION_THREADS, comma-separated")
    parser.add_argument("--sizes", default="10,10000", help="pick: prompts queued, comma-separated")
    parser.add_argument("--repeat", type=int, default=300, help="pick: picks timed per size")
    parser.add_argument("--posts", type=int, default=300, help="post: POSTs timed (then as many profiled)")
    parser.add_argument("--users", type=int, default=20, help="post, start: users")
    parser.add_argument("--prompts", type=int, default=6, help="start: prompts per user")
    parser.add_argument("--limit", type=int, default=2, help="pick, start: MAX_ACTIVE_TURNS_PER_USER")
    parser.add_argument("--upstream-latency", type=float, default=3.0, help="start: fake upstream seconds")
    parser.add_argument("--database-url", default="", help="PostgreSQL database to recreate and use (default: SQLite)")
    parser.add_argument("--redis-url", default="", help="Huey on Redis (default: a SQLite file)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-queue-"))
    vendor = "PostgreSQL" if args.database_url else "SQLite"
    results: dict = {"command": "python -m benchmarks.queue " + " ".join(argv if argv is not None else sys.argv[1:])}
    try:
        if "start" in args.what:
            results["start"] = bench_start(args, workdir)
        if "pool" in args.what:
            results["pool"] = []
            for threads in args.threads.split(","):
                args.threads = int(threads)
                results["pool"].append(bench_pool(args, workdir / f"pool-{threads}"))
        if {"pick", "post"} & set(args.what):
            setup_django(workdir, args.database_url, args.redis_url, args.limit)
            if "pick" in args.what:
                results["pick"] = {vendor: bench_pick([int(s) for s in args.sizes.split(",")], args.repeat, args.limit)}
            if "post" in args.what:
                results["post"] = {vendor + (" + Redis" if args.redis_url else ""): bench_post(args.posts, args.users)}
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
