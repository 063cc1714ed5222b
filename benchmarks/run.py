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
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import stack as stack_module
from .cli import env_overrides, header, stop_on_sigterm
from .client import Browser, Browsing, Followed, NewTurn, TabState, Timing, signed_in_browsers
from .figures import ms, peak
from .figures import summary as figures_summary
from .machine import Sampler, description, proc_cpu_seconds, proc_status, wait_for_quiet
from .queue_figures import queue_figures
from .run_report import report
from .stack import BENCH_PASSWORD, Stack, code_fingerprint, measure_parts

# --- small helpers --------------------------------------------------------------------


def summary(values: list[float]) -> dict:
    """figures.summary, and the mean."""
    return {**figures_summary(values), "mean": sum(values) / len(values) if values else None}


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
        quiet = wait_for_quiet(args.quiet_wait, args.quiet_threshold, "latency")
        print(f"[latency] starting stack in {stack.workdir}", flush=True)
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
        turns = stack.turns()
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
    browsing = Browsing(args.page_pause)
    try:
        quiet = wait_for_quiet(args.quiet_wait, args.quiet_threshold, "concurrency")
        print(f"[concurrency] starting stack in {stack.workdir} ({huey_workers} worker threads)", flush=True)
        stack.start()
        web_pids = stack.web_pids()
        browsers = signed_in_browsers(stack.base_url, args.users, BENCH_PASSWORD)

        # The consumer's cost while idle: its few threads poll the queue file; generation threads block.
        idle_start = proc_cpu_seconds(stack.worker.pid)
        time.sleep(3)
        idle_cpu = (proc_cpu_seconds(stack.worker.pid) - idle_start) / 3
        idle_rss_kb = proc_status(stack.worker.pid).get("VmRSS", 0)

        # Someone browsing meanwhile (user 0, in a process of its own), from the first prompt on.
        creation_deadline = time.time() + args.creation_timeout
        follow_deadline = creation_deadline + upstream + args.grace
        browsing_pid = browsing.start(stack.base_url, browsers[0].cookies, follow_deadline)
        sampler = Sampler(
            {
                "worker": [stack.worker.pid],
                "web": web_pids,
                "fake": [stack.fake.pid],
                "bench client": [os.getpid(), browsing_pid],
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
            sent = tab.send_from_home(f"Concurrency turn {i} of user {user} [bench-id=conc-{i}]", errors, f"turn {i}")
            if sent is None:
                return
            new, home_timing = sent
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
        page_loads = browsing.loads()
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
        turns = stack.turns()
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
            "upstream_peak_in_flight": peak(upstream_intervals),
            "db_peak_in_progress": peak(db_intervals),
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
        browsing.end()
        stack.stop()


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
    parser.add_argument("--server", choices=("wsgi", "asgi"), default="wsgi", help="concurrency: as `make run`: asgi")
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
    stop_on_sigterm()
    results: dict = {
        **header("benchmarks.run", argv),
        "machine": description(),
        "app_dir": str(stack_module.APP_DIR),
        "code": code_fingerprint(),
    }
    measure_parts({"latency": bench_latency, "concurrency": bench_concurrency}, results, report, args, "aimlweb-bench-")
    failed = bool(results.get("concurrency", {}).get("problems")) or bool(results.get("latency", {}).get("failures"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
