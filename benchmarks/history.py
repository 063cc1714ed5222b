"""History at scale: the sidebar list, search and long conversations, through gunicorn.

    python -m benchmarks.history                          # 10,000 conversations / 200,000 turns, and 100 / 2,000
    python -m benchmarks.history --conversations 2000 --turns 40000
    python -m benchmarks.history --workdir /tmp/history --keep   # seeds once; run it again to measure again

It starts the app as in production (benchmarks/stack.py: gunicorn as in the Procfile, on a
fresh SQLite database in a temp dir), seeds two users with `manage.py seed_history` (one with
`--conversations` and `--turns`, one with 100 conversations and 2,000 turns; answers of
realistic length; the search index built), signs in as each and requests, one at a time, as a
browser does (gzip accepted, `HX-Request` on fragments):

- the first page of the list (the home page, which draws it) and the list fragment a script asks for,
- a page deep in the scroll (the big user: page `--deep` of 50, reached by following the cursors),
- a search for a common word and for a rare one,
- a 20-turn and a 200-turn conversation (and their size on the wire).

Each request is made `--warmup` times unmeasured, then `--repeat` times. Server time is
gunicorn's own (%(D)s, from a thread taking the request to the last byte). Each figure is
compared with its target and with the same figure for the small user (within 2x).
docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import requests

from .cli import header, publish, stop_on_sigterm
from .figures import pct
from .machine import Sampler, proc_cpu_seconds, wait_for_quiet
from .stack import PYTHON, Stack, started_stack

BIG, SMALL = "history-big", "history-small"
PASSWORD = "history-bench-password"  # noqa: S105 (throwaway accounts of a benchmark database)
MORE = re.compile(r'href="(/conversations/\?after=[^"]+)"')
TARGETS_MS = {"list": 100, "deep": 100, "fragment": 100, "common": 100, "rare": 100, "c20": 100, "c200": 150}
MAX_BYTES = 300_000


def deep_cursor(stack: Stack, session: requests.Session, pages: int) -> tuple[str, int]:
    """The URL of list page `pages` (or the last one), found by following each page's cursor."""
    html = session.get(f"{stack.base_url}/", timeout=60).text
    url, reached = "", 1
    while reached < pages:
        match = MORE.search(html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
        html = session.get(f"{stack.base_url}{url}", headers={"HX-Request": "true"}, timeout=60).text
        reached += 1
    return url, reached


def web_cpu(stack: Stack) -> dict[int, float]:
    return {pid: proc_cpu_seconds(pid) for pid in stack.web_pids()}


def cpu_since(stack: Stack, before: dict[int, float]) -> float:
    """CPU seconds the web processes used since `before` (a worker gunicorn recycled meanwhile counts from 0)."""
    return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in web_cpu(stack).items())


def idle_cpu_rate(stack: Stack, seconds: float = 3.0) -> float:
    """CPU seconds per second the web processes use with no request (their watcher threads)."""
    before, started = web_cpu(stack), time.time()
    time.sleep(seconds)
    return cpu_since(stack, before) / (time.time() - started)


def measure(
    stack: Stack, session: requests.Session, path: str, *, warmup: int, repeat: int, idle: float, fragment=False
) -> dict:
    headers = {"HX-Request": "true"} if fragment else {}
    sizes, client, checks = [], [], []
    cpu_before, started = web_cpu(stack), time.time()
    for i in range(warmup + repeat):
        started = time.perf_counter()
        response = session.get(f"{stack.base_url}{path}", headers=headers, timeout=60, stream=True)
        raw = response.raw.read(decode_content=False)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        if i >= warmup:
            client.append(elapsed)
            sizes.append(len(raw))
            checks.append(response.headers.get("Content-Encoding", ""))
    # The server's CPU for these requests, whatever else ran on the machine (requests are sequential).
    cpu = max(0.0, cpu_since(stack, cpu_before) - idle * (time.time() - started)) / (warmup + repeat)
    # gunicorn logs each request when it ends; ours are the last `repeat` lines for this path.
    time.sleep(0.3)
    server = [seconds for _, method, logged, status, seconds in stack.access_log() if logged == path][-repeat:]
    return {
        "path": path,
        "n": repeat,
        "server_p50_ms": pct(server, 50) * 1000,
        "server_p95_ms": pct(server, 95) * 1000,
        "client_p50_ms": pct(client, 50) * 1000,
        "client_p95_ms": pct(client, 95) * 1000,
        "bytes": max(sizes),
        "cpu_ms": cpu * 1000,
        "encoding": sorted(set(checks)),
    }


def content_checks(stack: Stack, session: requests.Session, paths: dict, seeded: dict) -> dict:
    """What the measured pages hold, so a fast page is also a right one."""
    get = lambda path, **h: session.get(f"{stack.base_url}{path}", headers=h, timeout=60).text  # noqa: E731
    return {
        "list_rows": get(paths["list"]).count('class="conversation-row"'),
        "deep_rows": get(paths["deep"], **{"HX-Request": "true"}).count('class="conversation-row"'),
        "common_hits": get(paths["common"]).count('class="search-hit"'),
        "rare_hits": get(paths["rare"]).count('class="search-hit"'),
        "c20_turns": get(paths["c20"]).count('<article class="turn '),
        "c200_turns": get(paths["c200"]).count('<article class="turn '),
    }


def run(args, argv: list[str] | None) -> dict:
    results: dict = {"nice": args.nice, **header("benchmarks.history", argv)}
    with started_stack(args, "aimlweb-bench-history-", args.workdir, huey_workers=1, users=0) as stack:
        workdir = stack.workdir  # static files collected again when reusing --workdir: they may have changed
        marker = workdir / "seeded.json"
        if marker.exists():
            seeded = json.loads(marker.read_text())
        else:
            seeded = {}
            for username, conversations, turns in (
                (BIG, args.conversations, args.turns),
                (SMALL, 100, 2000),
            ):
                out = stack.run(
                    f"seed-{username}",
                    [PYTHON, "manage.py", "seed_history", "--username", username, "--password", PASSWORD,
                     "--conversations", str(conversations), "--turns", str(turns)],
                    timeout=7200,
                )  # fmt: skip
                seeded[username] = json.loads(out.strip().splitlines()[-1])
                print(f"seeded {username}: {seeded[username]}", flush=True)
            marker.write_text(json.dumps(seeded))
        results["seeded"] = seeded
        results["database_mb"] = stack.db_path.stat().st_size / 1e6
        for username in (BIG, SMALL):
            results.setdefault("quiet", {})[username] = wait_for_quiet(args.quiet_wait, args.quiet_threshold, username)
            if args.nice:  # the measured processes ahead of other jobs on a shared machine
                for pid in stack.web_pids() + [os.getpid()]:
                    os.setpriority(os.PRIO_PROCESS, pid, args.nice)
            idle = idle_cpu_rate(stack)
            sampler = Sampler({"web": stack.web_pids(), "bench client": [os.getpid()]}, interval=0.5).start()
            started = time.time()
            session = stack.signed_in(username, PASSWORD)
            session.headers["Accept-Encoding"] = "gzip"
            info = seeded[username]
            deep, reached = deep_cursor(stack, session, args.deep)
            paths = {
                "list": "/",
                "fragment": "/conversations/",
                "deep": deep,
                "common": f"/search/?q={info['common_word']}",
                "rare": f"/search/?q={info['rare_word']}",
                "c20": f"/c/{info['medium']}/",
                "c200": f"/c/{info['long']}/",
            }
            figures = {}
            for key, path in paths.items():
                fragment = key in ("fragment", "deep")
                figures[key] = measure(
                    stack, session, path, warmup=args.warmup, repeat=args.repeat, idle=idle, fragment=fragment
                )
                print(f"{username} {key}: {figures[key]}", flush=True)
            figures["deep"]["page"] = reached
            sampler.stop()
            cores = sampler.cores(started, time.time())
            results[username] = {
                "figures": figures,
                "checks": content_checks(stack, session, paths, seeded),
                "cores": cores,
            }
            print(f"{username} checks: {results[username]['checks']}", flush=True)
    return results


NAMES = {
    "list": "first page of the list (home page)",
    "fragment": "first page of the list (fragment)",
    "deep": "a page deep in the scroll (fragment)",
    "common": "search, common word",
    "rare": "search, rare word",
    "c20": "20-turn conversation",
    "c200": "200-turn conversation",
}


def report(results: dict) -> tuple[str, bool]:
    big, small = results[BIG]["figures"], results[SMALL]["figures"]
    seeded = results["seeded"]
    lines = [
        f"`{results['command'].strip()}` ({results['started']}; database {results['database_mb']:,.0f} MB; "
        f"big user {seeded[BIG]['conversations']:,} conversations / {seeded[BIG]['turns']:,} turns, seeded in "
        f"{seeded[BIG]['seconds_total']:.0f} s; small user {seeded[SMALL]['conversations']:,} / "
        f"{seeded[SMALL]['turns']:,})",
        "",
        f"Server time (gunicorn %(D)s), {big['list']['n']} requests each, one at a time:",
        "",
        "| request | 10,000 conversations: p50 / p95 | 100 conversations: p50 / p95 | p95 ratio "
        "| server CPU per request (big / small) | on the wire (big) | target | |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    passed = True
    for key, name in NAMES.items():
        b, s = big[key], small[key]
        ratio = b["server_p95_ms"] / max(s["server_p95_ms"], 0.001)
        target = TARGETS_MS[key]
        ok = b["server_p95_ms"] < target and ratio <= 2 and (key != "c200" or b["bytes"] < MAX_BYTES)
        passed &= ok
        if key == "deep":
            name += f", page {b['page']} vs {s['page']}"
        lines.append(
            f"| {name} | {b['server_p50_ms']:.1f} / {b['server_p95_ms']:.1f} ms | {s['server_p50_ms']:.1f} / "
            f"{s['server_p95_ms']:.1f} ms | {ratio:.2f} | {b['cpu_ms']:.1f} / {s['cpu_ms']:.1f} ms "
            f"| {b['bytes'] / 1000:,.1f} KB {'+'.join(b['encoding']) or ''} "
            f"| p95 < {target} ms{', < 300 KB' if key == 'c200' else ''}, within 2x | {'PASS' if ok else 'MISS'} |"
        )
    checks_big, checks_small = results[BIG]["checks"], results[SMALL]["checks"]
    lines += [
        "",
        f"What the pages held (big / small user): list rows {checks_big['list_rows']} / {checks_small['list_rows']}, "
        f"deep page rows {checks_big['deep_rows']} / {checks_small['deep_rows']}, common-word hits on the first "
        f"page {checks_big['common_hits']} / {checks_small['common_hits']}, rare-word hits {checks_big['rare_hits']} / "
        f"{checks_small['rare_hits']}, turns drawn on the 20- and 200-turn pages {checks_big['c20_turns']} and "
        f"{checks_big['c200_turns']} (earlier turns load as the reader scrolls up).",
        "",
        "Client time (request to last byte, loopback) p95, big user: "
        + ", ".join(f"{key} {big[key]['client_p95_ms']:.0f} ms" for key in NAMES)
        + ".",
        "",
        f"Priority of the measured processes: nice {results.get('nice', 0)}. "
        "Load while measuring (average cores; the machine has "
        f"{os.cpu_count()}): "
        + "; ".join(
            f"{user}: gunicorn {results[user]['cores'].get('web', 0):.2f}, this client "
            f"{results[user]['cores'].get('bench client', 0):.2f}, other processes "
            f"{results[user]['cores'].get('other processes', 0):.2f}"
            for user in (BIG, SMALL)
        )
        + ".",
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=200_000)
    parser.add_argument("--deep", type=int, default=150, help="list page measured deep in the scroll (50 per page)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--workdir", type=Path, help="keep the seeded database here and reuse it next time")
    parser.add_argument(
        "--quiet-wait", type=float, default=0, help="wait up to this many seconds for other processes to go quiet"
    )
    parser.add_argument("--quiet-threshold", type=float, default=0.25, help="cores others may use (--quiet-wait)")
    parser.add_argument(
        "--nice", type=int, default=0, help="scheduling priority of gunicorn and this client while measuring (e.g. -10)"
    )
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    results = run(args, argv)
    text, passed = report(results)
    publish(results, text, args.json, args.markdown)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
