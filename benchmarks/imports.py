"""Import benchmark (issue 15, "Performance"): a ~95 MB export of 10,000 conversations, through gunicorn.

    python -m benchmarks.imports                        # 10,000 conversations x 2 turns, ~95 MB
    python -m benchmarks.imports --conversations 1000   # a quick look
    python -m benchmarks.imports --quiet-wait 600 --json out.json --markdown out.md

Targets: the file imports in <= 30 s, the web worker's memory stays flat (<= 100 MB above idle),
other users' pages stay at p95 <= 300 ms meanwhile, and a 1 MB file of nested `[` is refused in
<= 1 s.

It starts the app as in production (benchmarks/stack.py: gunicorn, `--web-workers` processes of
`--server` asgi or wsgi, and the Huey worker; a fresh SQLite database in a temp dir), seeds a user
with `--conversations` conversations of `--turns` turns (answers of `--answer-chars` characters,
sized so the export is about 95 MB, under the import page's 100 MB limit), downloads that user's
export through /transfer/export.json, and imports it as another user through /transfer/import/
while a third user loads pages (the conversation list and a conversation) one after another. It
reports the import's time, every web process's resident memory (sampled every 10 ms: growth over
its size before the upload), the pages' latency during the import, then how long the worker takes
to render the imported answers in the background (with the pages' latency meanwhile, and the
worker's memory), and the time to refuse the nested file. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import requests

from .export import PYTHON, RssSampler, count_export, download, signed_in, upload
from .stack import Stack, load_average, machine_busy_seconds, proc_children

SOURCE, BROWSER, IMPORTER = "bench0", "bench1", "bench2"
NESTED_PREFIX = b'{"format": "aimlweb-export", "version": 2, "conversations": ['


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def background_cores(seconds: float = 3.0) -> float:
    """Cores busy on the whole machine over a short window (none of our processes is working)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_for_quiet(limit: float, threshold: float) -> dict:
    """Wait up to `limit` s until other jobs use at most `threshold` cores; say how busy it was."""
    deadline = time.time() + limit
    while True:
        busy = background_cores()
        if busy <= threshold or time.time() >= deadline:
            break
        print(f"machine busy ({busy:.2f} cores used by other processes), waiting", flush=True)
    print(f"background load before the import: {busy:.2f} cores, load average {load_average():.1f}", flush=True)
    return {"background_cores_before": busy, "load_average_before": load_average()}


class PageLoader:
    """Another user loading pages one after another (a list page, then a conversation), timing each."""

    def __init__(self, stack: Stack, session: requests.Session, paths: list[str], pause: float):
        self.stack, self.session, self.paths, self.pause = stack, session, paths, pause
        self.samples: list[tuple[float, float]] = []  # (when it started, seconds)
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        index = 0
        while not self._stop.is_set():
            path = self.paths[index % len(self.paths)]
            index += 1
            started = time.perf_counter()
            try:
                ok = self.session.get(f"{self.stack.base_url}{path}", timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                self.samples.append((started, time.perf_counter() - started))
            else:
                self.errors += 1
            self._stop.wait(self.pause)

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for at, seconds in self.samples if start <= at < end]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def unrendered(db_path: Path, username: str) -> int:
    """Imported answers of `username` still without HTML (read-only, beside the app)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM conversations_turn t JOIN conversations_conversation c ON c.id = t.conversation_id "
            "JOIN auth_user u ON u.id = c.owner_id WHERE u.username = ? AND t.imported AND t.output_html = '' "
            "AND t.output_text != ''",
            [username],
        ).fetchone()
    return count


def latency(values: list[float]) -> dict:
    return {
        "count": len(values),
        "p50_ms": (pct(values, 50) or 0) * 1000,
        "p95_ms": (pct(values, 95) or 0) * 1000,
        "max_ms": max(values, default=0) * 1000,
    }


def nested_refusal(stack: Stack, session: requests.Session) -> dict:
    """The 1 MB file of issue 15: the envelope, then a million `[`."""
    body = NESTED_PREFIX + b"[" * (1024 * 1024 - len(NESTED_PREFIX))
    started = time.perf_counter()
    response = session.post(
        f"{stack.base_url}/transfer/import/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": ("nested.json", body, "application/json")},
        headers={"Referer": f"{stack.base_url}/transfer/"},
        timeout=120,
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "status": response.status_code, "mb": len(body) / 1e6}


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-import-", dir=args.tmp))
    stack = Stack(
        workdir, workdir / "static", upstream_latency=0, huey_workers=args.huey_workers, users=3,
        web_workers=args.web_workers, web_threads=args.web_threads, server=args.server,
    )  # fmt: skip
    results: dict = {
        "command": "python -m benchmarks.imports " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "server": args.server,
        "web_workers": args.web_workers,
    }
    ok = False
    try:
        stack.collectstatic()
        stack.start()
        for username, conversations in ((SOURCE, args.conversations), (BROWSER, 100)):
            argv = [PYTHON, "-m", "benchmarks.export", "--seed", username, "--conversations", str(conversations),
                    "--turns", str(args.turns), "--answer-chars", args.answer_chars]  # fmt: skip
            out = stack._run(f"seed-{username}", argv, timeout=3600)
            print(f"seeded {username}: {out.strip().splitlines()[-1]}", flush=True)
        export = workdir / "export.json"
        results["export"] = download(stack, signed_in(stack, SOURCE), stack.web.pid, export)
        conversations, turns = count_export(export)
        results["file"] = {"mb": export.stat().st_size / 1e6, "conversations": conversations, "turns": turns}
        print(f"export: {results['file']}", flush=True)

        browser = signed_in(stack, BROWSER)
        home = browser.get(f"{stack.base_url}/", timeout=30)
        conversation_paths = sorted({line.split('"')[0] for line in home.text.split('href="/c/')[1:]})
        paths = ["/", f"/c/{conversation_paths[0]}"] if conversation_paths else ["/"]
        importer = signed_in(stack, IMPORTER)
        results["quiet"] = wait_for_quiet(args.quiet_wait, args.quiet_threshold)
        workers = proc_children(stack.web.pid)
        busy_before = machine_busy_seconds()
        with PageLoader(stack, browser, paths, args.pause) as pages:
            time.sleep(2)  # a few pages before, as a baseline
            with ExitStack() as samplers:
                rss = [samplers.enter_context(RssSampler(pid)) for pid in workers]
                worker_rss = samplers.enter_context(RssSampler(stack.worker.pid))
                import_start = time.perf_counter()
                uploaded = upload(stack, importer, stack.web.pid, export)
                import_end = time.perf_counter()
                print(f"import: {uploaded['seconds']:.1f} s", flush=True)
                deadline = time.monotonic() + args.render_timeout
                while unrendered(stack.db_path, IMPORTER) and time.monotonic() < deadline:
                    time.sleep(0.5)
                render_end = time.perf_counter()
                left = unrendered(stack.db_path, IMPORTER)
        busy = (machine_busy_seconds() - busy_before) / (render_end - import_start + 2)
        results["import"] = {
            "seconds": import_end - import_start,
            "mb": uploaded["mb"],
            "web_rss": [
                {"before_mb": r.before / 1024, "peak_mb": r.peak / 1024, "growth_mb": (r.peak - r.before) / 1024}
                for r in rss
            ],  # fmt: skip
            "pages_before": latency(pages.between(0, import_start)),
            "pages_during": latency(pages.between(import_start, import_end)),
        }
        results["render"] = {
            "seconds_after_import": render_end - import_end,
            "left_unrendered": left,
            "worker_rss_before_mb": worker_rss.before / 1024,
            "worker_rss_peak_mb": worker_rss.peak / 1024,
            "pages_during": latency(pages.between(import_end, render_end)),
        }
        results["page_errors"] = pages.errors
        results["machine_cores_busy_during"] = busy
        print(f"import: {results['import']}\nrender: {results['render']}", flush=True)
        results["nested"] = nested_refusal(stack, importer)
        print(f"nested file: {results['nested']}", flush=True)
        ok = True
    finally:
        stack.stop()
        if args.keep or not ok:
            print(f"logs and databases kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report(results: dict) -> str:
    imp, render, file, nested = results["import"], results["render"], results["file"], results["nested"]
    growth = max(r["growth_mb"] for r in imp["web_rss"])
    rss = ", ".join(f"{r['before_mb']:.0f} → {r['peak_mb']:.0f} MB" for r in imp["web_rss"])
    during = imp["pages_during"]
    quiet = results["quiet"]
    lines = [
        f"`{results['command'].strip()}` ({results['started']}; {results['server'].upper()}, "
        f"{results['web_workers']} web processes; other processes used {quiet['background_cores_before']:.2f} "
        f"of the cores before the import, load average {quiet['load_average_before']:.1f}; the machine was "
        f"{results['machine_cores_busy_during']:.2f} cores busy during import and rendering, ours included)",
        "",
        "| measure | figure | target |",
        "|---|---:|---|",
        f"| file | {file['mb']:.1f} MB, {file['conversations']:,} conversations, {file['turns']:,} turns "
        "| ~95 MB, 10,000 |",
        f"| import (upload to redirect) | {imp['seconds']:.1f} s | ≤ 30 s: {verdict(imp['seconds'] <= 30)} |",
        f"| web processes' memory, before → peak | {rss}; growth {growth:.1f} MB "
        f"| ≤ 100 MB: {verdict(growth <= 100)} |",
        f"| another user's pages during the import, p50 / p95 / max ({during['count']} pages) "
        f"| {during['p50_ms']:.0f} / {during['p95_ms']:.0f} / {during['max_ms']:.0f} ms "
        f"| p95 ≤ 300 ms: {verdict(during['count'] > 0 and during['p95_ms'] <= 300)} |",
        f"| the same before the import, p50 / p95 | {imp['pages_before']['p50_ms']:.0f} / "
        f"{imp['pages_before']['p95_ms']:.0f} ms | |",
        f"| answers rendered by the worker afterwards | {render['seconds_after_import']:.1f} s "
        f"({render['left_unrendered']} left) | (background) |",
        f"| pages meanwhile, p50 / p95 ({render['pages_during']['count']} pages) "
        f"| {render['pages_during']['p50_ms']:.0f} / {render['pages_during']['p95_ms']:.0f} ms | |",
        f"| worker memory, before → peak | {render['worker_rss_before_mb']:.0f} → "
        f"{render['worker_rss_peak_mb']:.0f} MB | |",
        f"| 1 MB of nested `[` refused | {nested['seconds'] * 1000:.0f} ms (HTTP {nested['status']}) "
        f"| ≤ 1 s: {verdict(nested['seconds'] <= 1 and nested['status'] == 400)} |",
    ]
    if results["page_errors"]:
        lines.append(f"\n{results['page_errors']} page loads failed.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=2, help="turns per conversation")
    parser.add_argument("--answer-chars", default="2100-4300", help="answer length range, LOW-HIGH")
    parser.add_argument("--server", choices=("asgi", "wsgi"), default="asgi", help="gunicorn with uvicorn or gthread")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (production default: 2)")
    parser.add_argument("--web-threads", type=int, default=16)
    parser.add_argument("--huey-workers", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between the other user's page loads")
    parser.add_argument("--render-timeout", type=float, default=1800, help="longest wait for the background render")
    parser.add_argument("--quiet-wait", type=float, default=0, help="first wait up to this long for a quiet machine")
    parser.add_argument("--quiet-threshold", type=float, default=0.25, help="cores others may use (see --quiet-wait)")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args(argv)
    results = run(args)
    text = report(results)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    ok = results["import"]["seconds"] <= 30 and results["nested"]["status"] == 400
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
