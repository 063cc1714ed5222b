"""Pushed live updates: what a person sees in a real browser, and what 200 open tabs cost the server.

    python -m benchmarks.push                          # both (about 5 minutes)
    python -m benchmarks.push --only latency --turns 50
    python -m benchmarks.push --only tabs --stages 50,100,200
    python -m benchmarks.push --env LIVE_EVENTS=false  # the same with pages polling (for comparison)

Both start the app as `make run` does (gunicorn with uvicorn workers, ASGI; see benchmarks/stack.py)
with the fake upstream and the Huey consumer, in a temp dir.

latency: one headless Chromium (Debian's, as the browser tests) signs in and sends --turns prompts
one after the other, each answered by the fake after 1 s + uniform(0, 0.5) s (so answers land at
every phase of the watcher's interval). In the page, a MutationObserver notes when the finished
answer enters the document and the next animation frame after it (painted); the worker notes in
the database when it saved the answer (Turn.completed_at). Added latency = painted - saved.

tabs: tabs are opened in stages (--stages, default 50, 100, 200); each sends a prompt whose answer
is held back until after the last stage, then follows it as live.js does: one event stream per tab
(`/events/`), whose events bring its turn's fragment; under polling (LIVE_EVENTS=false
or a 204 from the server) it polls as turns.js does, every LIVE_POLL_MS, all tabs visible. At each
stage the server's CPU is measured for --window seconds with the tabs alone, then for --window
seconds while someone loads pages in another process (/ and /c/<id>/ back to back, as the
concurrency benchmark does). Then every answer arrives at once and every tab must show it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .cli import env_overrides, header, stop_on_sigterm
from .client import Browser, Browsing, NewTurn, TabState, is_finished, parse, signed_in_browsers
from .figures import summary
from .machine import Sampler, load_average, proc_status
from .push_report import report
from .stack import BENCH_PASSWORD, Stack, code_fingerprint, measure_parts

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
# What the page's stream is doing, as static/js/live.js (the module the page loaded) says.
LIVE_STATE = """async () => {
  const script = document.querySelector("script[data-events-url]");
  return script ? (await import(script.src)).state() : "none";
}"""

# In the page, before any script of the app: when each finished turn entered the document and
# was next painted, when each stream event came, all as Unix times in ms.
RECORDER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = {done: {}, events: []};
  const seen = new Set();
  const look = () => {
    document.querySelectorAll("article.turn").forEach((el) => {
      const status = el.dataset.status;
      if (el.dataset.active || seen.has(el.id)) return;
      seen.add(el.id);
      const entry = {status: status, dom: now(), painted: null};
      window.__bench.done[el.id] = entry;
      requestAnimationFrame(() => { entry.painted = now(); });
    });
  };
  new MutationObserver(look).observe(document, {subtree: true, childList: true, attributes: true,
                                                attributeFilter: ["data-status", "data-active"]});
  const Original = window.EventSource;
  if (Original) {
    function Recording(url, options) {
      const source = new Original(url, options);
      ["hello", "turn"].forEach((type) => source.addEventListener(type, (event) => {
        window.__bench.events.push({type: type, at: now(), data: event.data});
      }));
      return source;
    }
    Recording.prototype = Original.prototype;
    Object.assign(Recording, {CONNECTING: 0, OPEN: 1, CLOSED: 2});
    window.EventSource = Recording;
  }
})();
"""


def new_stack(args, workdir: Path, static_root: Path, name: str, users: int, huey_workers: int) -> Stack:
    return Stack(
        workdir / name,
        static_root,
        upstream_latency=600,
        huey_workers=huey_workers,
        users=users,
        env_overrides=env_overrides(args.env),
        web_workers=args.web_workers,
        server=args.server,
    )


# --- latency, in a real browser ------------------------------------------------------------


def bench_latency(args, static_root: Path, workdir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    stack = new_stack(args, workdir, static_root, "latency", users=1, huey_workers=16)
    rng = random.Random(args.seed)
    try:
        stack.start()
        sampler = Sampler({"web": stack.web_pids(), "worker": [stack.worker.pid], "fake": [stack.fake.pid]}, 1.0)
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(base_url=stack.base_url, viewport={"width": 1280, "height": 800})
            context.add_init_script(RECORDER)
            page = context.new_page()
            page.goto("/login/")
            page.fill("#id_username", "bench0")
            page.fill("#id_password", BENCH_PASSWORD)
            with page.expect_navigation():
                page.press("#id_password", "Enter")
            sampler.start()
            started = time.time()
            for i in range(args.warmup + args.turns):
                latency = round(args.upstream_latency + rng.uniform(0, args.upstream_jitter), 3)
                prompt = f"Push latency {i} [bench-id=push-{i}] [upstream-latency={latency}]"
                page.goto("/")
                page.fill("#id_prompt", prompt)
                with page.expect_navigation():
                    page.press("#id_prompt", "Enter")
                turn_id = page.locator("#turns > article.turn").last.get_attribute("id")
                page.wait_for_function(
                    "(id) => { const d = window.__bench.done[id]; return d && d.painted; }",
                    arg=turn_id,
                    timeout=(latency + 30) * 1000,
                )
                record = page.evaluate("(id) => window.__bench.done[id]", turn_id)
                events = page.evaluate("() => window.__bench.events")
                fetches = page.evaluate(
                    """(id) => performance.getEntriesByType("resource")
                         .filter((e) => e.name.includes("/t/" + id + "/live/"))
                         .map((e) => ({start: performance.timeOrigin + e.startTime,
                                       end: performance.timeOrigin + e.responseEnd}))""",
                    turn_id.removeprefix("turn-"),
                )
                state = page.evaluate(LIVE_STATE)
                rows.append(
                    {"i": i, "turn": turn_id.removeprefix("turn-"), "record": record, "events": events,
                     "fetches": fetches, "state": state}
                )  # fmt: skip
                if args.verbose:
                    print(f"  turn {i}: {record['status']} ({state}), {len(fetches)} fragment requests", flush=True)
            elapsed = time.time() - started
            browser.close()
        sampler.stop()
        saved = stack.turns()
        added, dom, to_event, fetch_to_dom = [], [], [], []
        failures = []
        for row in rows[args.warmup :]:
            db = saved.get(row["turn"].replace("-", ""))
            record = row["record"]
            if not db or db["status"] != "completed" or record["status"] != "completed" or not db["completed_at"]:
                failures.append(f"turn {row['i']}: {record['status']} in the page, {db and db['status']} in the DB")
                continue
            added.append(record["painted"] / 1000 - db["completed_at"])
            dom.append(record["dom"] / 1000 - db["completed_at"])
            done_events = [e for e in row["events"] if e["type"] == "turn" and '"completed"' in e["data"]
                           and row["turn"] in e["data"]]  # fmt: skip
            if done_events:
                to_event.append(done_events[0]["at"] / 1000 - db["completed_at"])
            if row["fetches"]:
                fetch_to_dom.append((record["dom"] - row["fetches"][-1]["start"]) / 1000)
        states = sorted({row["state"] for row in rows})
        return {
            "settings": stack.settings,
            "env_overrides": env_overrides(args.env),
            "server": args.server,
            "web_workers": args.web_workers,
            "turns": len(rows) - args.warmup,
            "warmup": args.warmup,
            "upstream": f"{args.upstream_latency:g} s + uniform(0, {args.upstream_jitter:g}) s",
            "page_states": states,
            "failures": failures,
            "added": summary(added),
            "breakdown": {
                "answer saved -> in the page's document": summary(dom),
                "answer saved -> its event reached the page": summary(to_event),
                "last fragment request -> in the document": summary(fetch_to_dom),
            },
            "fragment_requests_per_turn": summary([len(r["fetches"]) for r in rows[args.warmup :]]),
            "elapsed_s": elapsed,
            "cpu_cores": sampler.cores(started, started + elapsed),
        }
    finally:
        stack.stop()


# --- many tabs, as the server sees them ---------------------------------------------------


EVENTS_URL = re.compile(r'data-events-url="([^"]+)"')
SINCE = re.compile(r'data-since="(\d+)"')


@dataclass
class Tab:
    """One open page waiting on its answer: its stream (or its polls) and what it saw."""

    browser: Browser
    new: NewTurn
    mode: str = ""  # "push" once its stream said hello, "poll" if it had to poll
    visible_at: float | None = None
    status: str = ""
    events: int = 0
    fetches: int = 0
    errors: list[str] = field(default_factory=list)
    stream: http.client.HTTPConnection | None = None
    ready: threading.Event = field(default_factory=threading.Event)


def follow(tab: Tab, deadline: float, stop: threading.Event) -> None:
    """What live.js does for one page: its stream; an event of its turn brings the turn's fragment
    (or, when it could not be drawn, the page fetches it)."""
    html = tab.new.html
    turn = tab.new.turn
    match = EVENTS_URL.search(html)
    since = SINCE.search(html)
    turn_id = turn["id"].removeprefix("turn-")
    url = turn["hx-get"]
    version = url.rsplit("v=", 1)[-1]
    browser = tab.browser
    status = 0
    if match:
        path = f"{match.group(1)}?since={since.group(1) if since else ''}&t={turn_id}.{version}"
        conn = http.client.HTTPConnection(browser.host, browser.port, timeout=max(1.0, deadline - time.time()))
        tab.stream = conn
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                   "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}  # fmt: skip
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            tab.errors.append(f"stream: {exc}")
    if status != 200:
        # The page polls (204: not served under ASGI, or LIVE_EVENTS=false).
        tab.mode = "poll"
        tab.ready.set()
        result = browser.follow(tab.new, deadline=deadline, stop=stop, tab=TabState())
        tab.visible_at, tab.status, tab.fetches = result.visible_at, result.status, len(result.polls)
        return
    fragment_headers = {"HX-Request": "true", "HX-Trigger": turn["id"], "HX-Target": turn["id"], "Accept": "*/*",
                        "HX-Current-URL": browser.base_url + tab.new.conversation_url}  # fmt: skip
    event = ""
    try:
        while not stop.is_set() and time.time() < deadline:
            line = response.readline()
            if not line:
                tab.errors.append("stream ended")
                break
            line = line.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "hello":
                tab.mode = "push"
                tab.ready.set()
            elif line.startswith("data: ") and event == "turn":
                data = json.loads(line[6:])
                if data["id"] != turn_id or str(data["v"]) == version:
                    continue
                tab.events += 1
                html = data.get("html")
                if not html:  # not drawn by the stream: fetched, as live.js does then
                    page, _ = browser.get(url, headers=fragment_headers)
                    tab.fetches += 1
                    html = page.text if page.status_code == 200 else ""
                if html:
                    turns = parse(html).turns
                    if turns:
                        tab.status = turns[0].get("data-status", "")
                        if is_finished(turns[0]):
                            tab.visible_at = time.time()
                            return
                        url = turns[0]["hx-get"]
                        version = url.rsplit("v=", 1)[-1]
            elif not line:
                event = ""
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if not stop.is_set():
            tab.errors.append(f"stream: {exc}")
    finally:
        tab.ready.set()
        conn.close()


def bench_tabs(args, static_root: Path, workdir: Path) -> dict:
    stages = sorted(int(s) for s in args.stages.split(","))
    total = stages[-1]
    stack = new_stack(args, workdir, static_root, "tabs", users=args.users, huey_workers=args.huey_workers or total + 4)
    stop = threading.Event()
    browsing = Browsing(args.page_pause, asked=True)
    tabs: list[Tab] = []
    threads: list[threading.Thread] = []
    try:
        stack.start()
        browsers = signed_in_browsers(stack.base_url, args.users, BENCH_PASSWORD)
        # Every answer is held back until after the last stage's windows, then all arrive together.
        plan_s = (args.send_budget + 2 * args.window + 4) * len(stages) + 10
        answers_at = time.time() + plan_s
        finish_by = answers_at + args.grace
        browsing_pid = browsing.start(stack.base_url, browsers[0].cookies)
        web_pids = stack.web_pids()
        sampler = Sampler(
            {"web": web_pids, "worker": [stack.worker.pid], "fake": [stack.fake.pid],
             "bench client": [os.getpid(), browsing_pid]},
            interval=0.5,
        ).start()  # fmt: skip
        lock = threading.Lock()
        errors: list[str] = []

        def open_tab(i: int) -> None:
            user = i % args.users
            tab_browser = browsers[user].tab()

            def prompt() -> str:  # once the page is loaded: the answer comes when all answers come
                latency = max(1.0, answers_at - time.time())
                return f"Tab {i} of user {user} [bench-id=tab-{i}] [upstream-latency={latency:.3f}]"

            sent = tab_browser.send_from_home(prompt, errors, f"tab {i}")
            if sent is None:
                return
            tab = Tab(tab_browser, sent[0])
            thread = threading.Thread(target=follow, args=(tab, finish_by, stop), name=f"tab-{i}", daemon=True)
            with lock:
                tabs.append(tab)
                threads.append(thread)
            thread.start()

        windows = []
        opened = 0
        for stage in stages:
            t0 = time.time()
            with ThreadPoolExecutor(args.creators) as pool:
                list(pool.map(open_tab, range(opened, stage)))
            opened = stage
            for tab in list(tabs):
                tab.ready.wait(timeout=10)
            sent_s = time.time() - t0
            time.sleep(2)  # let the burst of page loads and stream openings settle
            # First the tabs alone (what waiting costs), then with someone loading pages meanwhile.
            idle = (time.time(), time.time() + args.window)
            time.sleep(args.window)
            browsing.go.set()
            time.sleep(0.5)
            start = time.time()
            time.sleep(args.window)
            end = time.time()
            browsing.go.clear()
            waiting = sum(1 for tab in tabs if tab.visible_at is None)
            modes = {m: sum(1 for t in tabs if t.mode == m) for m in ("push", "poll", "")}
            windows.append(
                {"tabs": stage, "start": start, "end": end, "idle": idle, "waiting": waiting, "open_s": sent_s,
                 "opening": (t0, t0 + sent_s),
                 "modes": modes}
            )  # fmt: skip
            print(f"[tabs] {stage} tabs open ({waiting} waiting), measured 2 x {args.window:g} s", flush=True)
        print(f"[tabs] answers due in {max(0.0, answers_at - time.time()):.0f} s", flush=True)
        for thread in threads:
            thread.join(timeout=max(0.0, finish_by - time.time()))
        done_at = time.time()
        stop.set()
        for tab in tabs:
            if tab.stream is not None:
                tab.stream.close()
        page_loads = browsing.loads()
        sampler.stop()
        web_hwm_kb = sum(proc_status(pid).get("VmHWM", 0) for pid in web_pids)

        saved = stack.turns()
        results_windows = []
        for w in windows:
            loads = [t.seconds for _, t in page_loads if t.status == 200 and w["start"] <= t.start < w["end"]]
            failed = sum(1 for _, t in page_loads if t.status != 200 and w["start"] <= t.start < w["end"])
            results_windows.append({**w, "page_loads": summary(loads), "page_loads_failed": failed,
                                    "cpu_cores": sampler.cores(w["start"], w["end"]),
                                    "idle_cpu_cores": sampler.cores(*w["idle"]),
                                    "opening_cpu_cores": sampler.cores(*w["opening"])})  # fmt: skip
        seen = [t for t in tabs if t.visible_at is not None and t.status == "completed"]
        added = []
        for tab in seen:
            db = saved.get(tab.new.turn_id.replace("-", ""))
            if db and db["completed_at"]:
                added.append(tab.visible_at - db["completed_at"])
        problems = list(errors)
        if len(tabs) != total:
            problems.append(f"{total - len(tabs)} tabs never opened")
        if len(seen) != len(tabs):
            problems.append(f"{len(tabs) - len(seen)} tabs never showed their answer")
        stream_errors = [e for t in tabs for e in t.errors]
        return {
            "settings": stack.settings,
            "env_overrides": env_overrides(args.env),
            "server": args.server,
            "web_workers": args.web_workers,
            "users": args.users,
            "windows": results_windows,
            "answers_s_after_start": plan_s,
            "completed": len(seen),
            "tabs": len(tabs),
            "added_at_once": summary(added),
            "events_per_tab": summary([t.events for t in tabs]),
            "fragment_requests_per_tab": summary([t.fetches for t in tabs]),
            "stream_errors": stream_errors[:10],
            "web_peak_rss_mib_sum": web_hwm_kb / 1024,
            "web_peak_threads": sampler.peak["web"].get("Threads"),
            "problems": problems,
            "all_done_s": done_at - answers_at,
        }
    finally:
        stop.set()
        browsing.end()
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.push", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("latency", "tabs"))
    parser.add_argument("--server", choices=("asgi", "wsgi"), default="asgi")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--upstream-latency", type=float, default=1.0)
    parser.add_argument("--upstream-jitter", type=float, default=0.5)
    parser.add_argument("--stages", default="50,100,200", help="tabs: open tabs, cumulative")
    parser.add_argument("--window", type=float, default=15.0, help="tabs: seconds measured per stage")
    parser.add_argument("--send-budget", type=float, default=30.0, help="tabs: seconds allowed to open a stage")
    parser.add_argument("--grace", type=float, default=60.0, help="tabs: wait for the answers this long")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--creators", type=int, default=8)
    parser.add_argument("--huey-workers", type=int, default=None, help="tabs: default = tabs + 4")
    parser.add_argument("--page-pause", type=float, default=0.1)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    env_overrides(args.env)
    stop_on_sigterm()
    results: dict = {**header("benchmarks.push", argv), "code": code_fingerprint(), "load_before": load_average()}
    measure_parts({"latency": bench_latency, "tabs": bench_tabs}, results, report, args, "aimlweb-bench-push-")
    failed = bool(results.get("latency", {}).get("failures")) or bool(results.get("tabs", {}).get("problems"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
