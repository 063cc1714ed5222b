"""Export and import benchmark: the full export of 10,000 conversations, and imports, through gunicorn.

    python -m benchmarks.export                          # 10,000 x 20 turns, and 100 x 20 to compare
    python -m benchmarks.export --conversations 2000 --import-mb 20
    python -m benchmarks.export --json out.json --markdown out.md

It starts the app as in production (benchmarks/stack.py: gunicorn with one
uvicorn worker process, or `--server wsgi`: one gthread worker with 4 threads;
a fresh SQLite database in a temp dir), seeds a user with `--conversations`
conversations of `--turns` turns on average (with the history benchmark's
`manage.py seed_history` when the app has it, else with `seed` below; answers
of realistic length, Markdown of a few KB), and one with 100, signs in as each,
and downloads /transfer/export.json `--repeat` times, measuring the time (first
byte, last byte), the bytes, and the gunicorn worker's resident memory sampled
every 10 ms (peak, and growth over its size before the download). Each file is
read back with a streaming parser to check it holds every conversation and turn.
Then, as a third user, it imports the small user's export, and a slice of the
big export of about `--import-mb` MB (just under the import page's 100 MB
limit), twice, through /transfer/import/, with the same measurements.
docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ijson
import requests

from .stack import APP_DIR, BENCH_PASSWORD, PYTHON, Stack, proc_children, proc_status

BIG, SMALL, IMPORTER = "bench0", "bench1", "bench2"


# --- seeding (runs in a subprocess, with the app's settings) ------------------------------------

WORDS = (
    "the a migration plan database index query cache latency budget answer model token cost request "
    "response stream worker queue retry timeout replica schema table column invoice customer report "
    "deploy rollback feature flag metric alert threshold review risk owner step"
).split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
    return " ".join(words).capitalize() + "."


def _answer(rng: random.Random, chars: tuple[int, int] = (1500, 4000)) -> str:
    """A gpt-5-pro-like answer: a heading, paragraphs, a list, sometimes a table or code, 1.5 to 4 KB."""
    parts = [f"## {_sentence(rng)[:-1]}"]
    target = rng.randint(*chars)
    while sum(len(p) for p in parts) < target:
        kind = rng.random()
        if kind < 0.5:
            parts.append(" ".join(_sentence(rng) for _ in range(rng.randint(2, 5))))
        elif kind < 0.75:
            parts.append("\n".join(f"- **{rng.choice(WORDS)}**: {_sentence(rng)}" for _ in range(rng.randint(3, 6))))
        elif kind < 0.9:
            rows = "\n".join(f"| {rng.choice(WORDS)} | {rng.randint(1, 999)} | {rng.choice(WORDS)} |" for _ in range(4))
            parts.append(f"| item | value | note |\n|---|---|---|\n{rows}")
        else:
            parts.append("```python\ndef step(x):\n    return x * 2  # " + rng.choice(WORDS) + "\n```")
    return "\n\n".join(parts)


def seed(
    username: str, conversations: int, turns: int, seed_value: int, answer_chars: tuple[int, int] = (1500, 4000)
) -> None:
    import django

    django.setup()
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.db import transaction

    from conversations.chat.rendering import markdown_to_html
    from conversations.models import Conversation, Turn

    rng = random.Random(seed_value)
    # Rendering is slow on purpose (once per answer in the app): render a pool, vary each turn's text.
    pool = [_answer(rng, answer_chars) for _ in range(150)]
    pool_html = [markdown_to_html(text) for text in pool]
    user = User.objects.get(username=username)
    now = datetime.now(UTC)
    start = now - timedelta(days=720)
    step = (now - start) / max(conversations, 1)
    made = 0
    for first in range(0, conversations, 250):
        with transaction.atomic():
            batch = []
            for index in range(first, min(first + 250, conversations)):
                created = start + step * index
                batch.append(
                    Conversation(
                        owner=user,
                        title=_sentence(rng)[:70],
                        model="openai/gpt-5-pro",
                        created_at=created,
                        updated_at=created + timedelta(minutes=turns * 3),
                    )
                )
            Conversation.objects.bulk_create(batch)
            rows = []
            for conversation in batch:
                for k in range(turns):
                    at = conversation.created_at + timedelta(minutes=3 * k)
                    choice = rng.randrange(len(pool))
                    status = "completed" if rng.random() > 0.03 else rng.choice(["failed", "cancelled"])
                    input_tokens, output_tokens = rng.randint(200, 20_000), rng.randint(300, 9_000)
                    made += 1
                    rows.append(
                        Turn(
                            conversation=conversation,
                            prompt=" ".join(_sentence(rng) for _ in range(rng.randint(1, 4))),
                            status=status,
                            attempts=1 if rng.random() > 0.05 else 2,
                            mode="stream",
                            response_id=f"resp_{made:012d}",
                            model="openai/gpt-5-pro-2025-10-06",
                            output_text=f"{pool[choice]}\n\n(turn {made})",
                            output_html=f"{pool_html[choice]}<p>(turn {made})</p>",
                            input_tokens=input_tokens,
                            cached_tokens=0,
                            output_tokens=output_tokens,
                            reasoning_tokens=output_tokens * 3 // 4,
                            total_tokens=input_tokens + output_tokens,
                            input_price=Decimal("20.631"),
                            output_price=Decimal("165.048"),
                            cost_usd=(Decimal(input_tokens) * Decimal("20.631") + output_tokens * Decimal("165.048"))
                            / 1_000_000,
                            error_code="" if status == "completed" else "interrupted",
                            error_message="" if status == "completed" else "Stopped.",
                            created_at=at,
                            started_at=at + timedelta(seconds=1),
                            completed_at=at + timedelta(seconds=rng.randint(30, 240)),
                            updated_at=at + timedelta(seconds=240),
                        )
                    )
                    if k:  # each turn follows the one before it
                        rows[-1].parent_id = rows[-2].id
            Turn.objects.bulk_create(rows, batch_size=1000)
    print(json.dumps({"user": username, "conversations": conversations, "turns": made}))


def seed_command(username: str, conversations: int, turns: int) -> list[str]:
    """The history benchmark's seeder (`manage.py seed_history`) when the app has it, else ours."""
    if (APP_DIR / "conversations" / "management" / "commands" / "seed_history.py").exists():
        return [PYTHON, "manage.py", "seed_history", "--username", username,
                "--conversations", str(conversations), "--turns", str(conversations * turns)]  # fmt: skip
    return [PYTHON, "-m", "benchmarks.export", "--seed", username,
            "--conversations", str(conversations), "--turns", str(turns)]  # fmt: skip


# --- measuring -------------------------------------------------------------------------------------


class RssSampler:
    """Peak resident memory of one process, sampled every 10 ms from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = proc_status(pid).get("VmRSS", 0)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))


def signed_in(stack: Stack, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{stack.base_url}/login/", timeout=30)
    response = session.post(
        f"{stack.base_url}/login/",
        data={"username": username, "password": BENCH_PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{stack.base_url}/login/"},
        timeout=30,
    )
    if "sessionid" not in session.cookies:
        raise RuntimeError(f"could not sign in as {username}: {response.status_code}")
    session.get(f"{stack.base_url}/transfer/", timeout=30).raise_for_status()  # warm the worker up
    return session


def count_export(path: Path) -> tuple[int, int]:
    """(conversations, turns) of an export file, read as a stream (also proves it is complete JSON)."""
    conversations = turns = 0
    with path.open("rb") as file:
        for conversation in ijson.items(file, "conversations.item"):
            conversations += 1
            turns += len(conversation["turns"])
    return conversations, turns


def download(stack: Stack, session: requests.Session, worker: int, path: Path) -> dict:
    with RssSampler(worker) as rss:
        started = time.perf_counter()
        first_byte = None
        size = 0
        with session.get(f"{stack.base_url}/transfer/export.json", stream=True, timeout=600) as response:
            response.raise_for_status()
            with path.open("wb") as out:
                for chunk in response.iter_content(256 * 1024):
                    if first_byte is None:
                        first_byte = time.perf_counter() - started
                    size += len(chunk)
                    out.write(chunk)
        total = time.perf_counter() - started
    return {
        "seconds": total,
        "first_byte_ms": (first_byte or total) * 1000,
        "mb": size / 1e6,
        "rss_before_mb": rss.before / 1024,
        "rss_peak_mb": rss.peak / 1024,
        "rss_growth_mb": (rss.peak - rss.before) / 1024,
    }


def upload(stack: Stack, session: requests.Session, worker: int, path: Path) -> dict:
    with RssSampler(worker) as rss, path.open("rb") as file:
        started = time.perf_counter()
        response = session.post(
            f"{stack.base_url}/transfer/import/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            files={"file": ("export.json", file, "application/json")},
            headers={"Referer": f"{stack.base_url}/transfer/"},
            timeout=1800,
            allow_redirects=False,
        )
        total = time.perf_counter() - started
    if response.status_code != 302:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[-2000:]}")
    return {
        "seconds": total,
        "mb": path.stat().st_size / 1e6,
        "rss_before_mb": rss.before / 1024,
        "rss_peak_mb": rss.peak / 1024,
        "rss_growth_mb": (rss.peak - rss.before) / 1024,
    }


def slice_export(source: Path, target: Path, megabytes: float) -> tuple[int, int]:
    """The first conversations of an export that fit in `megabytes`, as an export file of its own."""
    limit = int(megabytes * 1e6)
    conversations = turns = 0
    with source.open("rb") as file:
        version = next(ijson.items(file, "version"))  # the slice keeps the format version the app wrote
    with source.open("rb") as file, target.open("w", encoding="utf-8") as out:
        head = (
            f'{{"format": "aimlweb-export", "version": {version}, "exported_at": "2026-01-01T00:00:00Z", '
            '"conversations": [\n'
        )
        out.write(head)
        written = len(head)
        for conversation in ijson.items(file, "conversations.item", use_float=True):
            line = json.dumps(conversation, ensure_ascii=False)
            if written + len(line.encode()) + 8 > limit:
                break
            out.write((",\n" if conversations else "") + line)
            written += len(line.encode()) + 2
            conversations += 1
            turns += len(conversation["turns"])
        out.write("\n]}\n")
    return conversations, turns


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-bench-export-", dir=args.tmp))
    static_root = workdir / "static"
    stack = Stack(
        workdir, static_root, upstream_latency=0, huey_workers=1, users=3, web_workers=1, web_threads=4,
        server=args.server,
    )  # fmt: skip
    results: dict = {
        "command": "python -m benchmarks.export " + " ".join(sys.argv[1:]),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "server": args.server,
    }
    ok = False
    try:
        stack.collectstatic()
        stack.start()
        seeded = {}
        for username, conversations in ((BIG, args.conversations), (SMALL, 100)):
            started = time.perf_counter()
            out = stack._run(f"seed-{username}", seed_command(username, conversations, args.turns), timeout=3600)
            seeded[username] = json.loads(out.strip().splitlines()[-1]) | {"seconds": time.perf_counter() - started}
            print(f"seeded {username}: {seeded[username]}", flush=True)
        results["seeded"] = seeded
        results["database_mb"] = stack.db_path.stat().st_size / 1e6
        [worker] = proc_children(stack.web.pid)
        for username in (SMALL, BIG):
            session = signed_in(stack, username)
            runs = []
            for attempt in range(args.repeat):
                path = workdir / f"export-{username}.json"
                runs.append(download(stack, session, worker, path))
                print(f"export {username} #{attempt + 1}: {runs[-1]}", flush=True)
            found = count_export(path)
            expected = (seeded[username]["conversations"], seeded[username]["turns"])
            if found != expected:
                raise RuntimeError(f"export of {username} holds {found}, expected {expected}")
            results[f"export_{username}"] = {
                "runs": runs,
                "seconds_median": median([r["seconds"] for r in runs]),
                "rss_peak_mb_max": max(r["rss_peak_mb"] for r in runs),
                "rss_growth_mb_max": max(r["rss_growth_mb"] for r in runs),
                "turns_per_second": expected[1] / median([r["seconds"] for r in runs]),
                "conversations": expected[0],
                "turns": expected[1],
            }
        importer = signed_in(stack, IMPORTER)
        small = upload(stack, importer, worker, workdir / f"export-{SMALL}.json")
        results["import_small"] = small | {"conversations": 100, "turns": seeded[SMALL]["turns"]}
        print(f"import of {SMALL}'s export: {small}", flush=True)
        if args.import_mb:
            sliced = workdir / "slice.json"
            conversations, turns = slice_export(workdir / f"export-{BIG}.json", sliced, args.import_mb)
            big = upload(stack, importer, worker, sliced)
            results["import_big"] = big | {"conversations": conversations, "turns": turns}
            print(f"import of {conversations} conversations: {big}", flush=True)
            again = upload(stack, importer, worker, sliced)
            results["import_big_again"] = again
            print(f"the same import again (all skipped): {again}", flush=True)
        ok = True
    finally:
        stack.stop()
        if args.keep or not ok:
            print(f"logs and databases kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def report(results: dict) -> str:
    big, small = results[f"export_{BIG}"], results[f"export_{SMALL}"]
    lines = [
        f"`{results['command'].strip()}` ({results['started']}; {results['server'].upper()}; "
        f"database {results['database_mb']:.0f} MB)",
        "",
        "| | conversations | turns | file | time (median) | first byte | worker RSS before → peak | growth |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, data in (("export, small user", small), ("export, big user", big)):
        run = data["runs"][0]
        lines.append(
            f"| {name} | {data['conversations']:,} | {data['turns']:,} | {run['mb']:.1f} MB "
            f"| {data['seconds_median']:.2f} s | {median([r['first_byte_ms'] for r in data['runs']]):.0f} ms "
            f"| {run['rss_before_mb']:.0f} → {data['rss_peak_mb_max']:.0f} MB | {data['rss_growth_mb_max']:.1f} MB |"
        )
    for key, name in (("import_small", "import, small"), ("import_big", "import, big slice")):
        if key in results:
            data = results[key]
            lines.append(
                f"| {name} | {data['conversations']:,} | {data['turns']:,} | {data['mb']:.1f} MB "
                f"| {data['seconds']:.2f} s | | {data['rss_before_mb']:.0f} → {data['rss_peak_mb']:.0f} MB "
                f"| {data['rss_growth_mb']:.1f} MB |"
            )
    if "import_big_again" in results:
        again = results["import_big_again"]
        lines.append(
            f"| same import again (all skipped) | | | {again['mb']:.1f} MB | {again['seconds']:.2f} s | "
            f"| {again['rss_before_mb']:.0f} → {again['rss_peak_mb']:.0f} MB | {again['rss_growth_mb']:.1f} MB |"
        )
    lines += [
        "",
        f"Throughput: {big['turns_per_second']:,.0f} turns/s for the big user, "
        f"{small['turns_per_second']:,.0f} turns/s for the small one "
        f"(ratio {small['turns_per_second'] / big['turns_per_second']:.2f}); peak worker RSS "
        f"{big['rss_peak_mb_max']:.0f} MB vs {small['rss_peak_mb_max']:.0f} MB "
        f"(ratio {big['rss_peak_mb_max'] / small['rss_peak_mb_max']:.2f}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--turns", type=int, default=20, help="turns per conversation")
    parser.add_argument("--repeat", type=int, default=3, help="downloads per user")
    parser.add_argument("--server", choices=("asgi", "wsgi"), default="asgi", help="gunicorn with uvicorn or gthread")
    parser.add_argument("--import-mb", type=float, default=95, help="size of the big import (0: skip it)")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--seed", metavar="USERNAME", help=argparse.SUPPRESS)  # internal: the seeding subprocess
    parser.add_argument("--seed-value", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--answer-chars", default="1500-4000", help=argparse.SUPPRESS)  # with --seed: LOW-HIGH
    args = parser.parse_args(argv)
    if args.seed:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
        low, high = (int(n) for n in args.answer_chars.split("-"))
        seed(args.seed, args.conversations, args.turns, args.seed_value, (low, high))
        return 0
    results = run(args)
    text = report(results)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
