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
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .client import Browser, NewTurn, TabState, Timing, is_finished, parse
from .run import env_overrides, ms
from .stack import BENCH_PASSWORD, Sampler, Stack, code_fingerprint, load_average, proc_status
from .stats import summary

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
# What the page's stream is doing, as static/js/live.js (the module the page loaded) says.
LIVE_STATE = """async () => {
  const script = document.querySelector("script[data-events-url]");
  return script ? (await import(script.src)).state() : "none";
}"""
TARGETS = {"added_p50_ms": 50, "added_p95_ms": 150, "page_p95_ms": 300}

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


def db_completed(db_path: Path) -> dict[str, dict]:
    """Each turn's status and save time (Turn.completed_at), by id without dashes."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("select id, status, completed_at from conversations_turn").fetchall()
    finally:
        con.close()
    out = {}
    for turn_id, status, completed_at in rows:
        saved = datetime.fromisoformat(completed_at).replace(tzinfo=UTC).timestamp() if completed_at else None
        out[turn_id.replace("-", "")] = {"status": status, "saved": saved}
    return out


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
        saved = db_completed(stack.db_path)
        added, dom, to_event, fetch_to_dom = [], [], [], []
        failures = []
        for row in rows[args.warmup :]:
            db = saved.get(row["turn"].replace("-", ""))
            record = row["record"]
            if not db or db["status"] != "completed" or record["status"] != "completed" or not db["saved"]:
                failures.append(f"turn {row['i']}: {record['status']} in the page, {db and db['status']} in the DB")
                continue
            added.append(record["painted"] / 1000 - db["saved"])
            dom.append(record["dom"] / 1000 - db["saved"])
            done_events = [e for e in row["events"] if e["type"] == "turn" and '"completed"' in e["data"]
                           and row["turn"] in e["data"]]  # fmt: skip
            if done_events:
                to_event.append(done_events[0]["at"] / 1000 - db["saved"])
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


def browse_when_asked(base_url: str, cookies: dict, go, stop, pause: float, results) -> None:
    """client.browse (someone loading pages back to back), only while `go` is set."""
    import random

    tab = Browser(base_url, cookies)
    loads = []
    links: list[str] = []
    k = 0
    while not stop.is_set():
        if not go.wait(0.1):
            continue
        path = "/" if k % 2 == 0 or not links else random.choice(links)
        kind = "/" if path == "/" else "/c/<id>/"
        try:
            resp, timing = tab.get(path)
            if path == "/" and resp.status_code == 200:
                links = parse(resp.text).conversation_links
        except (OSError, http.client.HTTPException):
            timing = Timing(time.time(), float("nan"), -1)
            tab.close()
        loads.append((kind, timing))
        k += 1
        stop.wait(pause)
    results.put(loads)


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
    mp = multiprocessing.get_context("spawn")
    browse_stop, browse_go, browse_results = mp.Event(), mp.Event(), mp.Queue()
    browser_process = None
    tabs: list[Tab] = []
    threads: list[threading.Thread] = []
    try:
        stack.start()
        browsers = [Browser(stack.base_url) for _ in range(args.users)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda ub: ub[1].login(f"bench{ub[0]}", BENCH_PASSWORD), enumerate(browsers)))
        # Every answer is held back until after the last stage's windows, then all arrive together.
        plan_s = (args.send_budget + 2 * args.window + 4) * len(stages) + 10
        answers_at = time.time() + plan_s
        finish_by = answers_at + args.grace
        browser_process = mp.Process(
            target=browse_when_asked,
            args=(stack.base_url, browsers[0].cookies, browse_go, browse_stop, args.page_pause, browse_results),
            daemon=True,
        )
        browser_process.start()
        web_pids = stack.web_pids()
        sampler = Sampler(
            {"web": web_pids, "worker": [stack.worker.pid], "fake": [stack.fake.pid],
             "bench client": [os.getpid(), browser_process.pid]},
            interval=0.5,
        ).start()  # fmt: skip
        lock = threading.Lock()
        errors: list[str] = []

        def open_tab(i: int) -> None:
            user = i % args.users
            tab_browser = browsers[user].tab()
            try:
                home, _ = tab_browser.get("/")
                latency = max(1.0, answers_at - time.time())
                prompt = f"Tab {i} of user {user} [bench-id=tab-{i}] [upstream-latency={latency:.3f}]"
                new = tab_browser.send_prompt(prompt, home.text)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    errors.append(f"tab {i}: {exc}")
                return
            tab = Tab(tab_browser, new)
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
            browse_go.set()
            time.sleep(0.5)
            start = time.time()
            time.sleep(args.window)
            end = time.time()
            browse_go.clear()
            waiting = sum(1 for tab in tabs if tab.visible_at is None)
            modes = {m: sum(1 for t in tabs if t.mode == m) for m in ("push", "poll", "")}
            windows.append(
                {"tabs": stage, "start": start, "end": end, "idle": idle, "waiting": waiting, "open_s": sent_s,
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
        browse_stop.set()
        page_loads = browse_results.get(timeout=30)
        browser_process.join(timeout=10)
        sampler.stop()
        web_hwm_kb = sum(proc_status(pid).get("VmHWM", 0) for pid in web_pids)

        saved = db_completed(stack.db_path)
        results_windows = []
        for w in windows:
            loads = [t.seconds for _, t in page_loads if t.status == 200 and w["start"] <= t.start < w["end"]]
            failed = sum(1 for _, t in page_loads if t.status != 200 and w["start"] <= t.start < w["end"])
            results_windows.append({**w, "page_loads": summary(loads), "page_loads_failed": failed,
                                    "cpu_cores": sampler.cores(w["start"], w["end"]),
                                    "idle_cpu_cores": sampler.cores(*w["idle"])})  # fmt: skip
        seen = [t for t in tabs if t.visible_at is not None and t.status == "completed"]
        added = []
        for tab in seen:
            db = saved.get(tab.new.turn_id.replace("-", ""))
            if db and db["saved"]:
                added.append(tab.visible_at - db["saved"])
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
        browse_stop.set()
        if browser_process is not None:
            browser_process.join(timeout=10)
            if browser_process.is_alive():
                browser_process.kill()
        stack.stop()


# --- report ---------------------------------------------------------------------------------


def verdict(value: float | None, target_ms: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value * 1000 <= target_ms else "MISS"


def report(results: dict) -> str:
    lines = [f"Run {results['started']}; command: `{results['command']}`; app code {results['code']}; load average "
             f"before {results['load_before']:.2f}, after {results.get('load_after', 0):.2f}.", ""]  # fmt: skip
    lat = results.get("latency")
    if lat:
        s = lat["settings"]
        a = lat["added"]
        lines += [
            f"#### Added latency in a real browser ({lat['turns']} turns, {lat['warmup']} warm-up)",
            "",
            f"Server {lat['server']} x{lat['web_workers']}, LIVE_EVENTS={s.get('LIVE_EVENTS')}, "
            f"LIVE_EVENTS_INTERVAL_MS={s.get('LIVE_EVENTS_INTERVAL_MS')}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
            f"upstream {lat['upstream']}; pages: {', '.join(lat['page_states'])}"
            + (f"; overrides {lat['env_overrides']}" if lat["env_overrides"] else "")
            + ".",
            "",
            "| metric | p50 | p95 | max | target | |",
            "|---|---|---|---|---|---|",
            f"| answer saved -> painted in the page | {ms(a['p50'])} | {ms(a['p95'])} | {ms(a['max'])} | "
            f"p50 ≤ 50 ms, p95 ≤ 150 ms | {verdict(a['p50'], TARGETS['added_p50_ms'])} / "
            f"{verdict(a['p95'], TARGETS['added_p95_ms'])} |",
        ]
        for name, part in lat["breakdown"].items():
            lines.append(f"| {name} | {ms(part['p50'])} | {ms(part['p95'])} | {ms(part['max'])} | | |")
        f = lat["fragment_requests_per_turn"]
        lines += [
            "",
            f"Fragment requests per turn: p50 {f['p50']:.0f}, max {f['max']:.0f}. Failures: {len(lat['failures'])}. "
            "CPU (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in lat["cpu_cores"].items()) + ".",
            "",
        ]
    tabs = results.get("tabs")
    if tabs:
        s = tabs["settings"]
        lines += [
            f"#### {tabs['tabs']} visible tabs waiting on running answers",
            "",
            f"Server {tabs['server']} x{tabs['web_workers']}, LIVE_EVENTS={s.get('LIVE_EVENTS')}, "
            f"LIVE_EVENTS_INTERVAL_MS={s.get('LIVE_EVENTS_INTERVAL_MS')}, LIVE_POLL_MS={s['LIVE_POLL_MS']}, "
            f"{tabs['users']} users" + (f"; overrides {tabs['env_overrides']}" if tabs["env_overrides"] else "") + ".",
            "",
            "| tabs waiting | pushed / polling | web CPU, tabs alone (cores) | page loads meanwhile p50 / p95 / max (n)"
            " | target p95 | web CPU with the page loads | worker | other processes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for w in tabs["windows"]:
            p = w["page_loads"]
            cpu = w["cpu_cores"]
            lines.append(
                f"| {w['waiting']} | {w['modes']['push']} / {w['modes']['poll']} | "
                f"{w['idle_cpu_cores'].get('web', 0):.3f} | {ms(p['p50'])} / {ms(p['p95'])} / {ms(p['max'])} "
                f"({p['n']}) | {verdict(p['p95'], TARGETS['page_p95_ms'])} | {cpu.get('web', 0):.3f} | "
                f"{cpu.get('worker', 0):.3f} | {cpu.get('other processes', 0):.3f} |"
            )
        a = tabs["added_at_once"]
        lines += [
            "",
            f"Then all {tabs['tabs']} answers arrived at once: {tabs['completed']} / {tabs['tabs']} shown; answer "
            f"saved -> shown p50 {ms(a['p50'])}, p95 {ms(a['p95'])}, max {ms(a['max'])}. Events per tab p50 "
            f"{tabs['events_per_tab']['p50']}, fragment requests per tab p50 "
            f"{tabs['fragment_requests_per_tab']['p50']}. Web processes peak RSS {tabs['web_peak_rss_mib_sum']:.0f} "
            f"MiB, {tabs['web_peak_threads']} threads. Problems: {tabs['problems'] or 'none'}.",
            "",
        ]
    return "\n".join(lines)


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
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-push-"))
    results: dict = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.push" + ("" if not argv and len(sys.argv) < 2 else " " + shlex.join(
            argv if argv is not None else sys.argv[1:])),
        "code": code_fingerprint(),
        "load_before": load_average(),
    }  # fmt: skip
    ok = False
    try:
        static_root = workdir / "static"
        Stack(workdir / "collectstatic", static_root, upstream_latency=0, huey_workers=1).collectstatic()
        if args.only in (None, "latency"):
            results["latency"] = bench_latency(args, static_root, workdir)
        if args.only in (None, "tabs"):
            results["tabs"] = bench_tabs(args, static_root, workdir)
        ok = True
    finally:
        results["load_after"] = load_average()
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
    failed = bool(results.get("latency", {}).get("failures")) or bool(results.get("tabs", {}).get("problems"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
