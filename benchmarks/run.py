"""Latency and concurrency benchmarks of aimlweb, against real processes on loopback.

    python -m benchmarks.run                      # both (2-4 minutes)
    python -m benchmarks.run --only latency --turns 50
    python -m benchmarks.run --only concurrency --concurrency 200
    python -m benchmarks.run --env LIVE_POLL_MS=250   # any app setting, for web and worker
    python -m benchmarks.run usage                    # usage dashboard and admin at 1M turns (benchmarks/usage.py)
    python -m benchmarks.run history                  # list, search, long conversations (benchmarks/history.py)

Each benchmark starts its own stack in a temp dir (fake upstream, gunicorn as
in the Procfile, the Huey consumer), drives it like browsers do (see
benchmarks/client.py), checks the database and the fake upstream, and stops
every process it started. docs/benchmarks.md explains the method and figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shlex
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from . import stack as stack_module
from .client import Browser, Followed, NewTurn, TabState, Timing, browse
from .queue_figures import queue_figures, queue_report
from .stack import (
    BENCH_PASSWORD,
    Sampler,
    Stack,
    background_cores,
    code_fingerprint,
    load_average,
    proc_cpu_seconds,
    proc_status,
)
from .stats import summary

TARGETS = {
    "added_p50_ms": 250,
    "added_p95_ms": 1000,
    "page_p95_ms": 300,
}


# --- small helpers --------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def db_time(value: str | None) -> float | None:
    """A datetime column of Django's SQLite backend (naive UTC text) as a Unix time."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


TURN_COLUMNS = (
    "select t.id, t.conversation_id, c.owner_id, t.status, t.attempts, t.response_id, t.output_text, t.error_code,"
    " t.created_at, t.started_at, t.completed_at"
    " from conversations_turn t join conversations_conversation c on c.id = t.conversation_id"
)


def db_turns(stack: Stack) -> dict[str, dict]:
    """Every turn in the stack's database (SQLite, or PostgreSQL given by --env DATABASE_URL), by id without dashes."""
    url = stack.env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(url, row_factory=dict_row) as con:
            rows = con.execute(TURN_COLUMNS).fetchall()
            conversations = con.execute("select count(*) as n from conversations_conversation").fetchone()["n"]
        turns = {}
        for turn in rows:
            for key in ("id", "conversation_id"):
                turn[key] = str(turn[key])
            for key in ("created_at", "started_at", "completed_at"):
                turn[key] = turn[key].timestamp() if turn[key] else None
            turns[turn["id"].replace("-", "")] = turn
        turns["__conversations__"] = conversations
        return turns
    con = sqlite3.connect(f"file:{stack.db_path}?mode=ro", uri=True, timeout=30)
    try:
        con.row_factory = sqlite3.Row
        rows = con.execute(TURN_COLUMNS).fetchall()
        conversations = con.execute("select count(*) from conversations_conversation").fetchone()[0]
    finally:
        con.close()
    turns = {}
    for row in rows:
        turn = dict(row)
        for key in ("created_at", "started_at", "completed_at"):
            turn[key] = db_time(turn[key])
        turns[turn["id"].replace("-", "")] = turn
    turns["__conversations__"] = conversations
    return turns


def fresh_postgres(url: str) -> None:
    """Drop and create the benchmark's PostgreSQL database (named in DATABASE_URL): every run starts empty."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except StopIteration:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def env_overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env wants KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def wait_for_quiet(args, label: str) -> dict:
    """Wait (up to --quiet-wait s) until other jobs leave the CPUs alone; say how busy it was."""
    deadline = time.time() + args.quiet_wait
    while True:
        busy = background_cores()
        if busy <= args.quiet_threshold or time.time() >= deadline:
            break
        print(f"[{label}] machine busy ({busy:.2f} cores used by other processes), waiting", flush=True)
        time.sleep(5)
    print(f"[{label}] background load before start: {busy:.2f} cores, load average {load_average():.1f}", flush=True)
    return {"background_cores_before": busy, "load_average_before": load_average()}


# --- latency ------------------------------------------------------------------------


def bench_latency(args, static_root: Path, workdir: Path) -> dict:
    """Sequential turns, one conversation each; added latency as a user sees it."""
    stack = Stack(
        workdir / "latency",
        static_root,
        upstream_latency=args.upstream_latency,
        huey_workers=args.latency_huey_workers,
        users=1,
        env_overrides=env_overrides(args.env),
        web_workers=args.web_workers,
        web_threads=args.web_threads,
    )
    try:
        quiet = wait_for_quiet(args, "latency")
        print(f"[latency] starting stack in {stack.workdir}", flush=True)
        if stack.env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            fresh_postgres(stack.env["DATABASE_URL"])
        stack.start()
        interval = stack.settings["LIVE_POLL_MS"] / 1000
        jitter = interval if args.upstream_jitter is None else args.upstream_jitter
        browser = Browser(stack.base_url)
        browser.login("bench0", BENCH_PASSWORD)
        rng = random.Random(args.seed)
        total = args.warmup + args.turns
        # Every loop is bounded: per turn and overall.
        deadline = time.time() + total * (args.upstream_latency + jitter + interval + 5) + 30
        rows = []
        sampler = Sampler(
            {
                "worker": [stack.worker.pid],
                "web": stack.web_pids(),
                "fake": [stack.fake.pid],
                "bench client": [os.getpid()],
            },
            interval=1.0,
        ).start()
        started = time.time()
        for i in range(total):
            if time.time() > deadline:
                print("[latency] out of time, stopping early", flush=True)
                break
            latency = round(args.upstream_latency + rng.uniform(0, jitter), 3)
            bench_id = f"lat-{i}"
            prompt = f"Latency turn {i} [bench-id={bench_id}] [upstream-latency={latency}]"
            home, _ = browser.get("/")  # the page the user types into
            new = browser.send_prompt(prompt, home.text)
            followed = browser.follow(new, deadline=min(deadline, time.time() + latency + 60))
            rows.append({"i": i, "bench_id": bench_id, "latency": latency, "new": new, "followed": followed})
            added = None if followed.visible_at is None else followed.visible_at - new.post_start - latency
            if args.verbose:
                print(f"  turn {i:3d}: upstream {latency:.3f} s, added {ms(added)}, polls {len(followed.polls)}")
        elapsed = time.time() - started
        sampler.stop()
        turns = db_turns(stack)
        measured = rows[args.warmup :]
        added, submit, pickup, overhead, visibility, polls = [], [], [], [], [], []
        failures = []
        for row in measured:
            new: NewTurn = row["new"]
            followed: Followed = row["followed"]
            db = turns.get(new.turn_id.replace("-", ""))
            if (
                followed.visible_at is None
                or followed.status != "completed"
                or row["bench_id"] not in followed.fragment
            ):
                failures.append(f"{row['bench_id']}: saw {followed.status or 'nothing'}")
                continue
            added.append(followed.visible_at - new.post_start - row["latency"])
            polls.append(len(followed.polls))
            if db and db["started_at"] and db["completed_at"]:
                submit.append(db["created_at"] - new.post_start)
                pickup.append(db["started_at"] - db["created_at"])
                overhead.append(db["completed_at"] - db["started_at"] - row["latency"])
                visibility.append(followed.visible_at - db["completed_at"])
        return {
            "settings": stack.settings,
            "env_overrides": env_overrides(args.env),
            "turns": len(measured),
            "warmup": args.warmup,
            "upstream_latency": args.upstream_latency,
            "upstream_jitter": jitter,
            "poll_interval_s": interval,
            "huey_workers": args.latency_huey_workers,
            "web_workers": args.web_workers,
            "web_threads": args.web_threads,
            "elapsed_s": elapsed,
            "failures": failures,
            "added": summary(added),
            "breakdown": {
                "POST start -> turn saved": summary(submit),
                "turn saved -> worker claimed it": summary(pickup),
                "worker overhead (claimed -> saved, minus upstream)": summary(overhead),
                "answer saved -> visible in page": summary(visibility),
            },
            "polls_per_turn": summary(polls),
            "cpu_cores": sampler.cores(started, started + elapsed),
            **quiet,
        }
    finally:
        stack.stop()


# --- concurrency ----------------------------------------------------------------------


def bench_concurrency(args, static_root: Path, workdir: Path) -> dict:
    """N turns at once against a slow upstream, with their pages polling and someone browsing."""
    n = args.concurrency
    upstream = args.concurrency_upstream_latency
    # The app's default consumer (HUEY_WORKERS=4): it hands turns to the generation pool,
    # so answers in flight are not capped by its threads.
    huey_workers = args.huey_workers or 4
    stack = Stack(
        workdir / "concurrency",
        static_root,
        upstream_latency=upstream,
        huey_workers=huey_workers,
        users=args.users,
        env_overrides=env_overrides(args.env),
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        server=args.server,
    )
    stop = threading.Event()
    threads: list[threading.Thread] = []
    mp = multiprocessing.get_context("spawn")
    browse_stop, browse_results = mp.Event(), mp.Queue()
    browser_process = None
    try:
        quiet = wait_for_quiet(args, "concurrency")
        print(f"[concurrency] starting stack in {stack.workdir} ({huey_workers} worker threads)", flush=True)
        if stack.env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            fresh_postgres(stack.env["DATABASE_URL"])
        stack.start()
        web_pids = stack.web_pids()
        browsers = [Browser(stack.base_url) for _ in range(args.users)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda ub: ub[1].login(f"bench{ub[0]}", BENCH_PASSWORD), enumerate(browsers)))

        # The consumer's cost while idle: its few threads poll the queue file; generation threads block.
        idle_start = proc_cpu_seconds(stack.worker.pid)
        time.sleep(3)
        idle_cpu = (proc_cpu_seconds(stack.worker.pid) - idle_start) / 3
        idle_rss_kb = proc_status(stack.worker.pid).get("VmRSS", 0)

        # Someone browsing meanwhile (user 0, in a process of its own), from the first prompt on.
        creation_deadline = time.time() + args.creation_timeout
        follow_deadline = creation_deadline + upstream + args.grace
        browser_process = mp.Process(
            target=browse,
            args=(stack.base_url, browsers[0].cookies, browse_stop, follow_deadline, args.page_pause, browse_results),
            daemon=True,
        )
        browser_process.start()
        sampler = Sampler(
            {
                "worker": [stack.worker.pid],
                "web": web_pids,
                "fake": [stack.fake.pid],
                "bench client": [os.getpid(), browser_process.pid],
            }
        ).start()
        log_mark = len(stack.access_log())
        start = time.time()

        created: dict[int, NewTurn] = {}
        followed: dict[int, Followed] = {}
        creation_pages: list[Timing] = []
        errors: list[str] = []
        lock = threading.Lock()

        last_tab: dict[int, TabState] = {}

        def follow(i: int, tab: Browser, new: NewTurn, state: TabState):
            result = tab.follow(new, deadline=follow_deadline, stop=stop, tab=state)
            with lock:
                followed[i] = result
            tab.close()

        def create(i: int):
            if time.time() > creation_deadline:
                with lock:
                    errors.append(f"turn {i}: not sent, creation took too long")
                return
            user = i % args.users
            tab = browsers[user].tab()
            state = TabState()
            with lock:
                previous, last_tab[user] = last_tab.get(user), state
            if previous is not None and args.visible == "last":
                previous.hide()  # the user moved on to a new tab
            try:
                home, home_timing = tab.get("/")
                prompt = f"Concurrency turn {i} of user {user} [bench-id=conc-{i}]"
                new = tab.send_prompt(prompt, home.text)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"turn {i}: {exc}")
                return
            with lock:
                created[i] = new
                creation_pages.extend([home_timing, *new.timings])
            thread = threading.Thread(target=follow, args=(i, tab, new, state), name=f"poll-{i}", daemon=True)
            with lock:
                threads.append(thread)
            thread.start()

        with ThreadPoolExecutor(args.creators) as pool:
            list(pool.map(create, range(n)))
        burst_end = time.time()
        print(f"[concurrency] {len(created)} turns sent in {burst_end - start:.1f} s; waiting for answers", flush=True)
        for thread in list(threads):
            thread.join(timeout=max(0.0, follow_deadline - time.time()))
        all_visible = time.time()
        stop.set()
        browse_stop.set()
        page_loads = browse_results.get(timeout=30)
        browser_process.join(timeout=10)
        sampler.stop()

        window = all_visible - start
        worker_status = proc_status(stack.worker.pid)
        web_hwm_kb = sum(proc_status(pid).get("VmHWM", 0) for pid in web_pids)

        server = {"GET /t/<id>/live/": [], "GET /": [], "GET /c/<id>/": [], "POST /": []}
        server_polls_waiting = []
        for logged, method, path, _status, seconds in stack.access_log()[log_mark:]:
            if path.startswith("/t/") and logged >= burst_end + 1:
                server_polls_waiting.append(seconds)
            key = f"{method} " + (
                "/t/<id>/live/" if path.startswith("/t/") else "/c/<id>/" if path.startswith("/c/") else path
            )
            if key in server:
                server[key].append(seconds)

        # --- none lost, none duplicated ------------------------------------------------
        turns = db_turns(stack)
        conversations = turns.pop("__conversations__")
        fake = stack.fake_stats_after(time.time())
        problems = list(errors)
        ids = {i: new.turn_id.replace("-", "") for i, new in created.items()}
        if len(created) != n:
            problems.append(f"{n - len(created)} turns were never created")
        if set(turns) != set(ids.values()):
            problems.append(f"database has {len(turns)} turns, the browsers created {len(ids)}")
        if conversations != len(created):
            problems.append(f"{conversations} conversations for {len(created)} turns")
        not_completed = [t for t in turns.values() if t["status"] != "completed"]
        if not_completed:
            codes = sorted({f"{t['status']}/{t['error_code']}" for t in not_completed})
            problems.append(f"{len(not_completed)} turns not completed: {', '.join(codes)}")
        retried = [t for t in turns.values() if t["attempts"] != 1]
        if retried:
            problems.append(f"{len(retried)} turns with attempts != 1")
        response_ids = [t["response_id"] for t in turns.values()]
        if "" in response_ids or len(set(response_ids)) != len(response_ids):
            problems.append(f"{len(set(response_ids) - {''})} distinct response ids for {len(response_ids)} turns")
        wrong_answer = [
            i for i, turn_id in ids.items() if f"conc-{i}]" not in (turns.get(turn_id) or {}).get("output_text", "")
        ]
        if wrong_answer:
            problems.append(f"{len(wrong_answer)} answers are not the echo of their own prompt")
        posts = fake["posts_by_id"]
        if fake["post_count"] != len(created):
            problems.append(f"the fake upstream received {fake['post_count']} POSTs for {len(created)} turns")
        duplicated = {k: v for k, v in posts.items() if v != 1}
        if duplicated:
            problems.append(f"prompts posted more than once or unlabelled: {duplicated}")
        missing = [i for i in created if posts.get(f"conc-{i}") is None]
        if missing:
            problems.append(f"{len(missing)} prompts never reached the upstream")
        seen = {i: f for i, f in followed.items() if f.visible_at is not None and f.status == "completed"}
        if len(seen) != len(created):
            problems.append(f"browsers saw {len(seen)} of {len(created)} answers completed")
        wrong_page = [i for i, f in seen.items() if f"conc-{i}]" not in f.fragment]
        if wrong_page:
            problems.append(f"{len(wrong_page)} pages showed another turn's answer")

        # --- figures --------------------------------------------------------------
        upstream_intervals = [(t, t + lat) for t, _, lat in fake["starts"]]
        db_intervals = [
            (t["started_at"], t["completed_at"]) for t in turns.values() if t["started_at"] and t["completed_at"]
        ]
        pickup = [t["started_at"] - t["created_at"] for t in turns.values() if t["started_at"]]
        added = [f.visible_at - created[i].post_start - upstream for i, f in seen.items()]
        first_to_last_start = (
            max(t for t, _, _ in fake["starts"]) - min(t for t, _, _ in fake["starts"]) if fake["starts"] else None
        )
        pages = [t.seconds for _, t in page_loads if t.status == 200]
        phases = {
            "while sending": [t.seconds for _, t in page_loads if t.status == 200 and t.start < burst_end],
            "while waiting": [t.seconds for _, t in page_loads if t.status == 200 and t.start >= burst_end],
        }
        by_kind = {
            kind: [t.seconds for k, t in page_loads if k == kind and t.status == 200] for kind in ("/", "/c/<id>/")
        }
        polls = [p for f in followed.values() for p in f.polls]
        poll_statuses: dict[str, int] = {}
        for p in polls:
            poll_statuses[str(p.status)] = poll_statuses.get(str(p.status), 0) + 1
        posts_timing = [new.timings[0].seconds for new in created.values()]
        # The queue (issue 17): send -> provider, a queued prompt's start after a slot frees, fairness.
        by_bench = {f"conc-{i}": turn_id for i, turn_id in ids.items()}
        provider = {by_bench[b]: t for t, b, _ in fake["starts"] if b in by_bench}
        sends = {ids[i]: new.post_start for i, new in created.items()}
        limit = int(stack.env["MAX_ACTIVE_TURNS_PER_USER"])
        queue = queue_figures(list(turns.values()), sends, provider, limit, upstream)
        return {
            "server": args.server,
            "queue": queue,
            "settings": stack.settings,
            "env_overrides": env_overrides(args.env),
            "turns": n,
            "users": args.users,
            "creators": args.creators,
            "huey_workers": huey_workers,
            "web_workers": args.web_workers,
            "web_threads": args.web_threads,
            "upstream_latency": upstream,
            "page_pause_s": args.page_pause,
            "visible": args.visible,
            "problems": problems,
            "completed": len(seen),
            "send_burst_s": burst_end - start,
            "window_s": window,
            "upstream_peak_in_flight": peak_overlap(upstream_intervals),
            "db_peak_in_progress": peak_overlap(db_intervals),
            "upstream_first_to_last_start_s": first_to_last_start,
            "pickup": summary(pickup),
            "added": summary(added),
            "worker_idle_cpu_cores": idle_cpu,
            "worker_idle_rss_mib": idle_rss_kb / 1024,
            "worker_peak_rss_mib": worker_status.get("VmHWM", 0) / 1024,
            "worker_peak_threads": sampler.peak["worker"].get("Threads"),
            "worker_peak_fds": sampler.peak["worker"].get("fds"),
            "web_peak_rss_mib_sum": web_hwm_kb / 1024,
            "page_loads": summary(pages),
            "page_loads_failed": sum(1 for _, t in page_loads if t.status != 200),
            "page_phases": {k: summary(v) for k, v in phases.items()},
            "page_kinds": {k: summary(v) for k, v in by_kind.items()},
            "creation_posts": summary(posts_timing),
            "creation_page_loads": summary([t.seconds for t in creation_pages if t.status == 200]),
            "polls": summary([p.seconds for p in polls]),
            "poll_phases": {
                "while sending": summary([p.seconds for p in polls if p.start < burst_end]),
                "while waiting": summary([p.seconds for p in polls if p.start >= burst_end]),
            },
            "poll_statuses": poll_statuses,
            "server_side": {
                **{k: summary(v) for k, v in server.items()},
                "GET /t/<id>/live/ while waiting": summary(server_polls_waiting),
            },
            "poll_rate_per_s": len(polls) / window if window else None,
            **quiet,
            "cpu_cores": {
                "whole window": sampler.cores(start, all_visible),
                "while sending": sampler.cores(start, burst_end),
                "while waiting": sampler.cores(burst_end, all_visible),
            },
        }
    finally:
        stop.set()
        browse_stop.set()
        if browser_process is not None:
            browser_process.join(timeout=10)
            if browser_process.is_alive():
                browser_process.kill()
        stack.stop()


# --- report -------------------------------------------------------------------------


def verdict(value: float | None, target_ms: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value * 1000 < target_ms else "MISS"


def busy_warning(other_cores: float, nproc: int) -> list[str]:
    if other_cores < 0.2:
        return []
    return [
        "",
        f"**Warning: other processes used {other_cores:.2f} of the {nproc} cores on average during this run**; "
        "the figures above are skewed by them. Re-run on a quiet machine (see --quiet-wait).",
    ]


def report(results: dict) -> str:
    """The results as Markdown: readable in a terminal, pasted into docs/benchmarks.md."""
    lines = []
    m = results["machine"]
    lines.append(f"Run {results['started']} on {m['nproc']} CPU ({m['cpu']}), {m['memory_gib']} GiB RAM, "
                 f"Linux {m['kernel']}, Python {m['python']}")  # fmt: skip
    lines.append(f"Command: `{results['command']}`")
    lines.append(
        f"App code fingerprint {results['code']} (sha256 of the app's sources and config), from {results['app_dir']}"
    )
    lines.append("")
    lat = results.get("latency")
    if lat:
        s = lat["settings"]
        lines += [
            f"### Added latency ({lat['turns']} sequential turns, {lat['warmup']} warm-up turns not counted)",
            "",
            f"Upstream latency {lat['upstream_latency']:g} s + uniform 0-{lat['upstream_jitter']:g} s per turn "
            f"(subtracted per turn). LIVE_POLL_MS={s['LIVE_POLL_MS']}, HUEY_MAX_DELAY={s['HUEY_MAX_DELAY']}, "
            f"Huey -w {lat['huey_workers']}, gunicorn gthread {lat['web_workers']}x{lat['web_threads']}, "
            f"AIMLAPI_MODE={s['AIMLAPI_MODE']}"
            + (f", overrides {lat['env_overrides']}" if lat["env_overrides"] else "")
            + ".",
            "",
            "| metric | p50 | p95 | max | target | |",
            "|---|---|---|---|---|---|",
        ]
        a = lat["added"]
        lines.append(
            f"| added latency | {ms(a['p50'])} | {ms(a['p95'])} | {ms(a['max'])} | p50 < 250 ms, p95 < 1 s | "
            f"{verdict(a['p50'], TARGETS['added_p50_ms'])} / {verdict(a['p95'], TARGETS['added_p95_ms'])} |"
        )
        for name, part in lat["breakdown"].items():
            lines.append(f"| {name} | {ms(part['p50'])} | {ms(part['p95'])} | {ms(part['max'])} | | |")
        lines.append("")
        lines.append(
            f"Polls per turn: p50 {lat['polls_per_turn']['p50']:.0f}; failures: {len(lat['failures'])}"
            f"{' ' + '; '.join(lat['failures'][:5]) if lat['failures'] else ''}; "
            f"run took {lat['elapsed_s']:.0f} s. Average CPU use, in cores: "
            + ", ".join(f"{k} {v:.2f}" for k, v in lat["cpu_cores"].items())
            + "."
        )
        lines += busy_warning(lat["cpu_cores"].get("other processes", 0), results["machine"]["nproc"])
        lines.append("")
    con = results.get("concurrency")
    if con:
        s = con["settings"]
        # Only a user's own running limit may hold prompts back: at most users x limit at once.
        in_flight_goal = min(con["turns"], con["users"] * con.get("queue", {}).get("limit", con["turns"]))
        lines += [
            f"### Concurrency ({con['turns']} turns at once, upstream {con['upstream_latency']:g} s each)",
            "",
            f"{con['users']} users, {con['creators']} sending threads; every turn's tab polls, "
            + (
                "all of them in front"
                if con.get("visible") == "all"
                else "each user's newest tab in front and the others hidden"
            )
            + f"; one more tab loads pages back to back ({con['page_pause_s']:g} s pause). "
            f"Huey -w {con['huey_workers']}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
            f"LIVE_POLL_HIDDEN_MS={s.get('LIVE_POLL_HIDDEN_MS')}, HUEY_MAX_DELAY={s['HUEY_MAX_DELAY']}, "
            f"gunicorn gthread {con['web_workers']}x{con['web_threads']}"
            + (f", overrides {con['env_overrides']}" if con["env_overrides"] else "")
            + ".",
            "",
            "| metric | value | target | |",
            "|---|---|---|---|",
            f"| completed, as seen in the pages | {con['completed']} / {con['turns']} | all | "
            f"{'PASS' if con['completed'] == con['turns'] else 'MISS'} |",
            f"| lost or duplicated (DB + upstream checks) | {len(con['problems'])} problems | none | "
            f"{'PASS' if not con['problems'] else 'MISS'} |",
            f"| peak upstream calls in flight | {con['upstream_peak_in_flight']} | {in_flight_goal} | "
            f"{'PASS' if con['upstream_peak_in_flight'] >= in_flight_goal else 'MISS'} |",
            f"| page loads meanwhile: p50 / p95 / max (n={con['page_loads']['n']}) | "
            f"{ms(con['page_loads']['p50'])} / {ms(con['page_loads']['p95'])} / {ms(con['page_loads']['max'])} | "
            f"p95 < 300 ms | {verdict(con['page_loads']['p95'], TARGETS['page_p95_ms'])} |",
        ]
        for phase, part in con["page_phases"].items():
            lines.append(f"| &nbsp; page loads {phase}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / "
                         f"{ms(part['p95'])} | | |")  # fmt: skip
        for kind, part in con["page_kinds"].items():
            lines.append(f"| &nbsp; GET {kind}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / "
                         f"{ms(part['p95'])} | | |")  # fmt: skip
        lines += [
            f"| worker peak RSS (VmHWM) | {con['worker_peak_rss_mib']:.0f} MiB (idle {con['worker_idle_rss_mib']:.0f} "
            f"MiB) | report | |",
            f"| worker peak threads / open files | {con['worker_peak_threads']} / {con['worker_peak_fds']} | | |",
            f"| worker CPU while idle (queue polling) | {con['worker_idle_cpu_cores'] * 100:.0f}% of a core | | |",
            f"| gunicorn peak RSS (master + workers) | {con['web_peak_rss_mib_sum']:.0f} MiB | | |",
            f"| time to send all prompts | {con['send_burst_s']:.1f} s | | |",
            f"| POST -> 302: p50 / p95 | {ms(con['creation_posts']['p50'])} / {ms(con['creation_posts']['p95'])} | | |",
            f"| queue wait (saved -> claimed): p50 / p95 / max | {ms(con['pickup']['p50'])} / "
            f"{ms(con['pickup']['p95'])} / {ms(con['pickup']['max'])} | | |",
            f"| answer visible after the upstream finished, p50 / p95 (fixed upstream latency: depends on the "
            f"phase of the poll timers, indicative only) | {ms(con['added']['p50'])} / {ms(con['added']['p95'])} | | |",
            f"| live polls: {con['polls']['n']} ({con['poll_rate_per_s']:.0f}/s), p50 / p95 | "
            f"{ms(con['polls']['p50'])} / {ms(con['polls']['p95'])} | | |",
        ]
        if con.get("queue"):
            lines += queue_report(con["queue"])
        for phase, part in con["poll_phases"].items():
            lines.append(
                f"| &nbsp; live polls {phase}: p50 / p95 (n={part['n']}) | {ms(part['p50'])} / {ms(part['p95'])} | | |"
            )
        lines += [
            "",
            "Time inside the server (gunicorn's %(D)s: from a thread taking the request to the last byte):",
            "",
        ]
        lines += ["| request | n | p50 | p95 | max |", "|---|---|---|---|---|"]
        for key, part in con["server_side"].items():
            lines.append(f"| {key} | {part['n']} | {ms(part['p50'])} | {ms(part['p95'])} | {ms(part['max'])} |")
        lines += [
            "",
            f"Poll answers: {con['poll_statuses']}. Average CPU use, in cores (of {results['machine']['nproc']}):",
            "",
        ]
        lines += [
            "| phase | " + " | ".join(con["cpu_cores"]["whole window"]) + " | total |",
            "|---" * (len(con["cpu_cores"]["whole window"]) + 2) + "|",
        ]
        for phase, cores in con["cpu_cores"].items():
            lines.append(
                f"| {phase} | " + " | ".join(f"{v:.2f}" for v in cores.values()) + f" | {sum(cores.values()):.2f} |"
            )
        lines += busy_warning(con["cpu_cores"]["whole window"].get("other processes", 0), results["machine"]["nproc"])
        if con["problems"]:
            lines += ["", "Problems:", *[f"- {p}" for p in con["problems"]]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["usage"]:  # `make bench ARGS=usage`: the usage dashboard and admin at 1M turns
        from .usage import main as usage_main

        return usage_main(args[1:])
    if args[:1] == ["history"]:  # `make bench ARGS=history`: list, search and long conversations at 10,000
        from .history import main as history_main

        return history_main(args[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("latency", "concurrency"))
    parser.add_argument("--turns", type=int, default=50, help="measured turns of the latency benchmark")
    parser.add_argument("--warmup", type=int, default=2, help="latency turns run first and not counted")
    parser.add_argument("--upstream-latency", type=float, default=1.0, help="latency benchmark: fake upstream seconds")
    parser.add_argument(
        "--upstream-jitter",
        type=float,
        default=None,
        help="latency benchmark: add uniform 0..J s per turn (default: one poll interval; 0 = fixed)",
    )
    parser.add_argument("--latency-huey-workers", type=int, default=16, help="as the Procfile's default")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--concurrency-upstream-latency", type=float, default=30.0)
    parser.add_argument("--huey-workers", type=int, default=None, help="concurrency: default = the app's (4)")
    parser.add_argument("--users", type=int, default=20, help="concurrency: turns are spread over this many users")
    parser.add_argument("--creators", type=int, default=8, help="concurrency: threads sending prompts")
    parser.add_argument(
        "--visible",
        choices=("last", "all"),
        default="last",
        help="concurrency: which tabs are in front: each user's newest (the others hidden), or all",
    )
    parser.add_argument("--page-pause", type=float, default=0.1, help="concurrency: pause between page loads")
    parser.add_argument("--creation-timeout", type=float, default=90.0)
    parser.add_argument("--grace", type=float, default=60.0, help="concurrency: wait beyond the upstream latency")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn --workers (Procfile: 2)")
    parser.add_argument("--web-threads", type=int, default=16, help="gunicorn --threads (Procfile: 16)")
    parser.add_argument(
        "--server",
        choices=("wsgi", "asgi"),
        default="wsgi",
        help="concurrency: gthread (pages poll) or uvicorn workers as `make run` (pushed updates)",
    )
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="app setting, repeatable")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        help="before each benchmark, wait up to this many seconds for other processes to leave the CPUs idle",
    )
    parser.add_argument("--quiet-threshold", type=float, default=0.25, help="cores others may use (see --quiet-wait)")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument(
        "--app-dir", type=Path, help="benchmark the app in another checkout (e.g. with a change applied)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    parser.add_argument("--tmp", type=Path, default=None, help="where to make the temp dir (default: $TMPDIR or /tmp)")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    env_overrides(args.env)  # fail early on a malformed --env
    if args.app_dir:
        if not (args.app_dir / "manage.py").exists():
            raise SystemExit(f"--app-dir {args.app_dir}: no manage.py there")
        stack_module.APP_DIR = args.app_dir.resolve()
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every started process is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))

    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-", dir=args.tmp))
    results: dict = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.run" + ("" if not argv and len(sys.argv) < 2 else " " + shlex.join(
            argv if argv is not None else sys.argv[1:])),
        "machine": machine(),
        "app_dir": str(stack_module.APP_DIR),
        "code": code_fingerprint(),
    }  # fmt: skip
    ok = False
    try:
        static_root = workdir / "static"
        # Collected once, into the temp dir (benchmarks.settings), for both stacks.
        Stack(workdir / "collectstatic", static_root, upstream_latency=0, huey_workers=1).collectstatic()
        if args.only in (None, "latency"):
            results["latency"] = bench_latency(args, static_root, workdir)
        if args.only in (None, "concurrency"):
            results["concurrency"] = bench_concurrency(args, static_root, workdir)
        ok = True
    finally:
        text = report(results) if ok else ""
        if text:
            print()
            print(text)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str))
        if args.markdown and text:
            args.markdown.write_text(text)
        if args.keep or not ok:
            print(f"logs and databases kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = bool(results.get("concurrency", {}).get("problems")) or bool(results.get("latency", {}).get("failures"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
