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
import os
import random
import sqlite3
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from .cli import header, publish
from .export import count_export, download, post_import, signed_in, upload
from .machine import Periodic, RssSampler, machine_busy_seconds, proc_children, wait_for_quiet
from .stack import PYTHON, Stack, started_stack

SOURCE, BROWSER, IMPORTER = "bench0", "bench1", "bench2"
NESTED_PREFIX = b'{"format": "aimlweb-export", "version": 2, "conversations": ['


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def seed(username: str, conversations: int, turns: int, seed_value: int, answer_chars: tuple[int, int]) -> None:
    """`conversations` conversations of `turns` turns each for `username`, spread over two years, answers of
    `answer_chars` characters: the rows `manage.py seed_history` makes (its functions), so that the file
    has a size we choose. Runs in a subprocess, with the app's settings."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import transaction

    from conversations.chat.rendering import markdown_to_html
    from conversations.management.commands.seed_history import answer, seeded_answer, seeded_turn, sentence
    from conversations.models import Conversation, Turn

    rng = random.Random(seed_value)
    # Rendering is slow on purpose (once per answer in the app): render a pool, vary each turn's text.
    pool = [answer(rng, answer_chars) for _ in range(150)]
    pool_html = [markdown_to_html(text) for text in pool]
    user = User.objects.get(username=username)
    now = datetime.now(UTC)
    start = now - timedelta(days=720)
    step = (now - start) / max(conversations, 1)
    made = 0
    for first in range(0, conversations, 250):
        batch = [
            Conversation(
                owner=user,
                title=sentence(rng)[:70],
                model="openai/gpt-5-pro",
                created_at=start + step * index,
                updated_at=start + step * index + timedelta(minutes=turns * 3),
            )
            for index in range(first, min(first + 250, conversations))
        ]
        rows = []
        for conversation in batch:
            for k in range(turns):
                rows.append(seeded_turn(rng, conversation, conversation.created_at + timedelta(minutes=3 * k), made))
                rows[-1].output_text, rows[-1].output_html = seeded_answer(rng, pool, pool_html, made)
                if k:  # each turn follows the one before it
                    rows[-1].parent_id = rows[-2].id
                made += 1
        with transaction.atomic():
            Conversation.objects.bulk_create(batch)
            Turn.objects.bulk_create(rows, batch_size=1000)
    print(json.dumps({"user": username, "conversations": conversations, "turns": made}))


class PageLoader(Periodic):
    """Another user loading pages one after another (a list page, then a conversation), timing each."""

    def __init__(self, stack: Stack, session: requests.Session, paths: list[str], pause: float):
        super().__init__(pause)
        self.stack, self.session, self.paths = stack, session, paths
        self.samples: list[tuple[float, float]] = []  # (when it started, seconds)
        self.errors = 0
        self.index = 0

    def tick(self) -> None:
        path = self.paths[self.index % len(self.paths)]
        self.index += 1
        started = time.perf_counter()
        try:
            ok = self.session.get(f"{self.stack.base_url}{path}", timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        if ok:
            self.samples.append((started, time.perf_counter() - started))
        else:
            self.errors += 1

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for at, seconds in self.samples if start <= at < end]


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
    response = post_import(stack, session, "nested.json", body, timeout=120)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "status": response.status_code, "mb": len(body) / 1e6}


def run(args, argv: list[str] | None) -> dict:
    results: dict = {
        **header("benchmarks.imports", argv),
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "server": args.server,
        "web_workers": args.web_workers,
    }
    with started_stack(
        args,
        "aimlweb-bench-import-",
        users=3,
        huey_workers=args.huey_workers,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        server=args.server,
    ) as stack:
        workdir = stack.workdir
        for username, conversations in ((SOURCE, args.conversations), (BROWSER, 100)):
            command = [PYTHON, "-m", "benchmarks.imports", "--seed", username, "--conversations", str(conversations),
                       "--turns", str(args.turns), "--answer-chars", args.answer_chars]  # fmt: skip
            out = stack.run(f"seed-{username}", command, timeout=3600)
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
        results["quiet"] = wait_for_quiet(args.quiet_wait, args.quiet_threshold, "import")
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
    parser.add_argument("--seed", metavar="USERNAME", help=argparse.SUPPRESS)  # internal: the seeding subprocess
    parser.add_argument("--seed-value", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
        low, high = (int(n) for n in args.answer_chars.split("-"))
        seed(args.seed, args.conversations, args.turns, args.seed_value, (low, high))
        return 0
    results = run(args, argv)
    publish(results, report(results), args.json, args.markdown)
    ok = results["import"]["seconds"] <= 30 and results["nested"]["status"] == 400
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
