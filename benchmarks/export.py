"""Export and import benchmark: the full export of 10,000 conversations, and imports, through gunicorn.

    python -m benchmarks.export                          # 10,000 x 20 turns, and 100 x 20 to compare
    python -m benchmarks.export --conversations 2000 --import-mb 20
    python -m benchmarks.export --json out.json --markdown out.md

It starts the app as in production (benchmarks/stack.py: gunicorn with one
uvicorn worker process, or `--server wsgi`: one gthread worker with 4 threads;
a fresh SQLite database in a temp dir), seeds a user with `--conversations`
conversations of `--turns` turns on average (with the history benchmark's
`manage.py seed_history`: answers of realistic length, Markdown of a few KB),
and one with 100, signs in as each,
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
import sys
import time
from pathlib import Path

import ijson
import requests

from .cli import header, publish
from .figures import median
from .machine import RssSampler, proc_children
from .stack import PYTHON, Stack, started_stack

BIG, SMALL, IMPORTER = "bench0", "bench1", "bench2"


def signed_in(stack: Stack, username: str) -> requests.Session:
    """A session of `username` whose worker has served the transfer page once (warmed up)."""
    session = stack.signed_in(username)
    session.get(f"{stack.base_url}/transfer/", timeout=30).raise_for_status()
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


def post_import(stack: Stack, session: requests.Session, name: str, content, timeout: float) -> requests.Response:
    """A file (`content`: bytes or an open file) sent as the import page's form sends it; not redirected."""
    return session.post(
        f"{stack.base_url}/transfer/import/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": (name, content, "application/json")},
        headers={"Referer": f"{stack.base_url}/transfer/"},
        timeout=timeout,
        allow_redirects=False,
    )


def upload(stack: Stack, session: requests.Session, worker: int, path: Path) -> dict:
    with RssSampler(worker) as rss, path.open("rb") as file:
        started = time.perf_counter()
        response = post_import(stack, session, "export.json", file, timeout=1800)
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


def run(args, argv: list[str] | None) -> dict:
    results: dict = {
        **header("benchmarks.export", argv),
        "conversations": args.conversations,
        "turns_per_conversation": args.turns,
        "server": args.server,
    }
    with started_stack(
        args, "aimlweb-bench-export-", users=3, huey_workers=1, web_workers=1, web_threads=4, server=args.server
    ) as stack:
        workdir = stack.workdir
        seeded = {}
        for username, conversations in ((BIG, args.conversations), (SMALL, 100)):
            started = time.perf_counter()
            command = [PYTHON, "manage.py", "seed_history", "--username", username,
                       "--conversations", str(conversations), "--turns", str(conversations * args.turns)]  # fmt: skip
            out = stack.run(f"seed-{username}", command, timeout=3600)
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
    args = parser.parse_args(argv)
    results = run(args, argv)
    publish(results, report(results), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
