"""Usage dashboard, Usage page and usage admin at scale: server time of the real URLs, and the CSV export's memory.

    make bench ARGS=usage                                  # or: python -m benchmarks.run usage
    python -m benchmarks.usage                             # SQLite and PostgreSQL, 1,000,000 turns each
    python -m benchmarks.usage --db sqlite --repeat 30 --markdown out.md --json out.json
    python -m benchmarks.usage --turns 100000 --sqlite /tmp/usage-100k.sqlite3 --pg-name aimlweb_usage_100k

Each database is seeded once with `manage.py seed_usage` (N turns across U users
and M models over K months, with their ledger and daily rollup) and reused by
later runs: a 1M-turn SQLite file is about 5 GB and takes ~6 minutes to make on
2 cores, PostgreSQL ~25 minutes. PostgreSQL is skipped with a message when it
cannot be reached (start it with `service postgresql start`; the role is the
one .ci/run creates).

For each database a subprocess with the app's own settings (benchmarks/settings.py,
DEBUG off, static files collected into a temp dir) signs in as a superuser and
requests every URL through Django's test client `--repeat` times after
`--warmup` requests, timing each from the request to the last byte of the body
(the server's time, without a network). Then it downloads the CSV export of all
the turns and all the charges and of one user's turns, sampling its own resident
memory every 20 ms: flat memory means the peak growth does not depend on the
number of rows. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .cli import header, publish
from .figures import pct
from .machine import RssSampler

APP_DIR = Path(__file__).resolve().parent.parent
TARGET_P95_S = 1.0
PG_URL = "postgres://aimlweb:aimlweb@127.0.0.1:5432/{name}"


# --- the measuring subprocess (the app's settings, one database) ------------------------------------


def _setup(database_url: str, workdir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(workdir / "data"),
            "BENCH_STATIC_ROOT": str(workdir / "static"),
            "ALLOWED_HOSTS": "testserver",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "HUEY_IMMEDIATE": "true",
        }
    )
    sys.path.insert(0, str(APP_DIR))
    import django

    django.setup()


def _seed_if_needed(args) -> dict:
    from django.core.management import call_command

    from conversations.models import Turn

    call_command("migrate", verbosity=0)
    have = Turn.objects.count()
    seeded_s = None
    if have < args.turns:
        print(f"  seeding {args.turns - have:,} turns (reused by later runs)...", file=sys.stderr, flush=True)
        started = time.monotonic()
        call_command(
            "seed_usage",
            turns=args.turns - have,
            users=args.users,
            models=args.models,
            months=args.months,
            stdout=sys.stderr,
        )
        seeded_s = time.monotonic() - started
    call_command("collectstatic", interactive=False, verbosity=0)
    return {"turns_before": have, "seeded_s": seeded_s}


def _timed(client, make_url, repeat: int, warmup: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(warmup):
        _get(client, make_url(-1 - i))
    with CaptureQueriesContext(connection) as captured:
        _get(client, make_url(-99))
    queries = len(captured.captured_queries)  # read now: the next request clears the log
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        _get(client, make_url(i))
        times.append(time.perf_counter() - started)
    return {
        "n": repeat,
        "p50": pct(times, 50),
        "p95": pct(times, 95),
        "max": max(times),
        "queries": queries,
    }


def _get(client, url: str) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code}")
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def _export(client, url: str) -> dict:
    """Download a CSV export while a thread samples this process's resident memory every 20 ms."""
    import gc

    gc.collect()
    with RssSampler(os.getpid(), interval=0.02) as rss:
        started = time.perf_counter()
        response = client.get(url)
        first = None
        size = lines = 0
        for chunk in response.streaming_content:
            if first is None:
                first = time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")
        total = time.perf_counter() - started
    return {
        "url": url,
        "rows": lines - 1,
        "mb": size / 1e6,
        "first_byte_s": first,
        "seconds": total,
        "rss_before_mib": rss.before / 1024,
        "rss_peak_growth_mib": (rss.peak - rss.before) / 1024,
        "streaming": response.streaming,
    }


def measure(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="aimlweb-usage-bench-"))
    _setup(args.database_url, workdir)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.utils import timezone

    from conversations.models import AIModel, Charge, Conversation, DailyUsage, Turn
    from conversations.usage import periods

    seeding = _seed_if_needed(args)
    rng = random.Random(args.seed)
    first, last = Turn.objects.order_by("created_at").values_list("created_at", flat=True)[:1][0], timezone.now()

    def response_ids(count: int) -> list[str]:
        """Response ids of turns spread over the whole time range (each read on an index)."""
        ids = []
        for _ in range(count):
            when = first + (last - first) * rng.random()
            row = Turn.objects.filter(created_at__gte=when).order_by("created_at").values_list("response_id")[:1]
            ids.extend(r[0] for r in row)
        return ids or ["resp_none"]

    ids = response_ids(args.repeat + args.warmup + 2)
    heavy = (
        DailyUsage.objects.values("user_id").annotate(n=Sum("charges")).order_by("-n").values_list("user_id", flat=True)
    )[0]
    model = AIModel.objects.order_by("-is_default", "provider_id").values_list("provider_id", flat=True)[0]
    month = periods.period_for("30d")
    admin = User.objects.filter(is_superuser=True).order_by("pk").first()
    staff = Client()
    staff.force_login(admin)
    member = Client()
    member.force_login(User.objects.get(pk=heavy))

    def by_id(template: str):
        return lambda i: template.format(ids[i % len(ids)])

    cases = [
        ("dashboard, last 30 days", staff, lambda i: "/usage/admin/?period=30d"),
        ("dashboard, last 12 months", staff, lambda i: "/usage/admin/?period=12m"),
        ("dashboard, 12 months, one user", staff, lambda i: f"/usage/admin/?period=12m&user={heavy}"),
        ("dashboard, 12 months, one model", staff, lambda i: f"/usage/admin/?period=12m&model={model}"),
        ("dashboard CSV (per day, 12 months)", staff, lambda i: "/usage/admin/csv/?period=12m&table=days"),
        ("turn list", staff, lambda i: "/admin/conversations/turn/"),
        ("turn list, status failed", staff, lambda i: "/admin/conversations/turn/?status=failed"),
        ("turn list, one model", staff, lambda i: f"/admin/conversations/turn/?model={model}"),
        ("turn list, one user", staff, lambda i: f"/admin/conversations/turn/?user={heavy}"),
        (
            "turn list, last 30 days",
            staff,
            lambda i: f"/admin/conversations/turn/?from={month.start}&to={month.end}",
        ),
        ("turn list, search by response id", staff, by_id("/admin/conversations/turn/?q={}")),
        ("conversation list", staff, lambda i: "/admin/conversations/conversation/"),
        ("conversation list, one user", staff, lambda i: f"/admin/conversations/conversation/?user={heavy}"),
        ("conversation list, search by response id", staff, by_id("/admin/conversations/conversation/?q={}")),
        ("charge list (ledger)", staff, lambda i: "/admin/conversations/charge/"),
        ("charge list, status failed", staff, lambda i: "/admin/conversations/charge/?status=failed"),
        ("charge list, search by response id", staff, by_id("/admin/conversations/charge/?q={}")),
        ("Usage page (heaviest user), this month", member, lambda i: "/usage/"),
        ("Usage page (heaviest user), last month", member, lambda i: "/usage/?period=last_month"),
    ]
    results = {
        "database": connection.vendor,
        "counts": {
            "turns": Turn.objects.count(),
            "charges": Charge.objects.count(),
            "daily_rows": DailyUsage.objects.count(),
            "conversations": Conversation.objects.count(),
            "users": User.objects.count(),
        },
        "seeding": seeding,
        "requests": {},
        "exports": [],
    }
    load_before = os.getloadavg()[0]
    for name, client, make_url in cases:
        print(f"  {name}", file=sys.stderr, flush=True)
        results["requests"][name] = _timed(client, make_url, args.repeat, args.warmup)
    # Other jobs on the machine slow every figure: say how busy it was (2 cores: above 2 is queueing).
    results["load_average"] = [load_before, os.getloadavg()[0]]
    for url in (
        f"/admin/conversations/turn/export/?user={heavy}",
        "/admin/conversations/turn/export/",
        "/admin/conversations/charge/export/",
    ):
        print(f"  export {url}", file=sys.stderr, flush=True)
        results["exports"].append(_export(staff, url))
    return results


# --- the driver -------------------------------------------------------------------------------------------


def _reachable(database_url: str) -> str:
    """'' when PostgreSQL answers (the database is created when missing), else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    name = database_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=3) as con:
            if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                con.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return ""


def report(runs: dict, command: str) -> str:
    names = list(next(iter(runs.values()))["requests"]) if runs else []
    dbs = list(runs)
    lines = [
        f"Command: `{command}`",
        "",
        "| data | " + " | ".join(dbs) + " |",
        "|---|" + "---|" * len(dbs),
    ]
    for key in ("turns", "charges", "daily_rows", "conversations", "users"):
        lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(f"{runs[d]['counts'][key]:,}" for d in dbs) + " |")
    lines.append(
        "| load average (1 min) before / after the requests | "
        + " | ".join(f"{runs[d]['load_average'][0]:.1f} / {runs[d]['load_average'][1]:.1f}" for d in dbs)
        + f" (on {os.cpu_count()} cores) |"
    )
    lines += [
        "",
        "Server time per request (Django test client, body read to the end), p50 / p95 / max, and the queries of one",
        f"request; target p95 < {TARGET_P95_S:g} s:",
        "",
        "| request | " + " | ".join(f"{d} p50 / p95 / max (queries)" for d in dbs) + " | |",
        "|---|" + "---|" * len(dbs) + "---|",
    ]
    for name in names:
        cells, ok = [], True
        for d in dbs:
            r = runs[d]["requests"][name]
            ok &= r["p95"] < TARGET_P95_S
            cells.append(f"{r['p50'] * 1000:.0f} / {r['p95'] * 1000:.0f} / {r['max'] * 1000:.0f} ms ({r['queries']})")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'PASS' if ok else 'MISS'} |")
    lines += [
        "",
        "CSV export, streamed (rows, size, time to the first byte and to the last, resident memory of the process"
        " before and its peak growth while streaming):",
        "",
        "| database | export | rows | MB | first byte | total | RSS before | peak growth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in dbs:
        for e in runs[d]["exports"]:
            lines.append(
                f"| {d} | `{e['url']}` | {e['rows']:,} | {e['mb']:.0f} | {e['first_byte_s'] * 1000:.0f} ms | "
                f"{e['seconds']:.1f} s | {e['rss_before_mib']:.0f} MiB | {e['rss_peak_growth_mib']:.1f} MiB |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.usage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sqlite", type=Path, default=APP_DIR / "data" / "bench-usage" / "usage.sqlite3")
    parser.add_argument("--pg-name", default="aimlweb_usage_bench", help="PostgreSQL database (created if missing)")
    parser.add_argument("--pg-url", default=None, help="instead of --pg-name: a full postgres:// URL")
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per URL")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--measure", metavar="DATABASE_URL", help=argparse.SUPPRESS)  # internal: one database
    args = parser.parse_args(argv)

    if args.measure:
        args.database_url = args.measure
        print(json.dumps(measure(args), default=str))
        return 0

    targets = {}
    if args.db in ("sqlite", "both"):
        args.sqlite.parent.mkdir(parents=True, exist_ok=True)
        targets["SQLite"] = f"sqlite:///{args.sqlite.resolve()}"
    if args.db in ("postgresql", "both"):
        url = args.pg_url or PG_URL.format(name=args.pg_name)
        problem = _reachable(url)
        if problem:
            print(f"PostgreSQL skipped ({problem}): `service postgresql start`, role as in .ci/run", file=sys.stderr)
        else:
            targets["PostgreSQL"] = url
    passed = [
        "--turns", str(args.turns), "--users", str(args.users), "--models", str(args.models), "--months",
        str(args.months), "--repeat", str(args.repeat), "--warmup", str(args.warmup), "--seed", str(args.seed),
    ]  # fmt: skip
    runs = {}
    for label, url in targets.items():
        print(f"{label}: {url.split('@')[-1]}", file=sys.stderr, flush=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.usage", "--measure", url, *passed],
            cwd=APP_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        runs[label] = json.loads(out.stdout.strip().splitlines()[-1])
    called = header("benchmarks.usage", argv)
    text = f"{called['started']}\n\n" + report(runs, called["command"])
    publish(runs, text, args.json, args.markdown)
    missed = [
        name for run in runs.values() for name, r in run["requests"].items() if r["p95"] >= TARGET_P95_S
    ]  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
