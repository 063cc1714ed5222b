"""Web server throughput: requests/s and latency of pages under 50 concurrent clients on loopback.

    python -m benchmarks.web                                   # the whole matrix (about 10 minutes)
    python -m benchmarks.web --servers asgi,wsgi:16 --workers 2 --databases sqlite --duration 10

For each server (gthread WSGI with T threads per process: `wsgi:T`; uvicorn ASGI: `asgi`, or
`asgi:N` with at most N requests inside Django at once per process, see aimlweb/asgi.py), number
of web processes and database, it starts gunicorn as in production (no access log), opens
--clients kept-alive connections as one signed-in user, and for each endpoint sends requests back
to back on every connection for --duration seconds after --warmup seconds:

- page: the conversation page (GET /c/<id>/, 12 turns with Markdown answers, the sidebar);
- live: the live endpoint of a running turn with nothing new (GET /t/<id>/live/?v=..., 204) —
  what every page polls when pushed updates are off.

It reports requests/s, p50/p95/max of the time from sending a request to its last byte, and the
server's CPU per request. The databases are seeded once and reused (SQLite under --dir, PostgreSQL
database aimlweb_bench_web via --pg-url) so runs can be repeated with one command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from pathlib import Path

from tests.helpers import free_port

from .cli import header, publish
from .figures import pct
from .machine import proc_children, proc_cpu_seconds
from .stack import APP_DIR, PYTHON, VENV_BIN, Proc, base_env, wait_until

DEFAULT_PG = "postgres://aimlweb:aimlweb@127.0.0.1:5432/aimlweb_bench_web"


# --- a small HTTP/1.1 client: kept-alive connections, as cheap as possible per request -------


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _client(host, port, request: bytes, until: float, warm_until: float, out: list, errors: list):
    reader = writer = None
    while time.monotonic() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            start = time.monotonic()
            writer.write(request)
            status = await _read_response(reader)
            end = time.monotonic()
            if status >= 400:
                errors.append(status)
            elif start >= warm_until and end <= until:
                out.append(end - start)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(type(exc).__name__)
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


async def load(host: str, port: int, path: str, cookie: str, clients: int, warmup: float, duration: float):
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
        "Accept: text/html\r\nUser-Agent: aimlweb-bench-web\r\n\r\n"
    ).encode()
    now = time.monotonic()
    warm_until, until = now + warmup, now + warmup + duration
    out: list[float] = []
    errors: list = []
    await asyncio.gather(*(_client(host, port, request, until, warm_until, out, errors) for _ in range(clients)))
    return out, errors


# --- the app under test --------------------------------------------------------------------


class Site:
    """One database (seeded once) and the environment of the processes that use it."""

    def __init__(self, database: str, workdir: Path, pg_url: str):
        self.database = database
        self.dir = workdir / database
        self.dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{self.dir / 'db.sqlite3'}" if database == "sqlite" else pg_url
        self.env = base_env(
            {
                "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
                "BENCH_STATIC_ROOT": str(workdir / "static"),
                "DATA_DIR": str(self.dir),
                "DATABASE_URL": url,
                "HUEY_FILENAME": str(self.dir / "huey.sqlite3"),
                "SECRET_KEY": "bench-web-" + "k" * 50,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "AIMLAPI_KEY": "bench",
                "AIMLAPI_BASE_URL": "http://127.0.0.1:9/v1",
                "DEBUG": "false",
            }
        )

    def run(self, argv: list[str]) -> str:
        import subprocess

        result = subprocess.run(argv, cwd=APP_DIR, env=self.env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self) -> dict:
        if self.database == "postgres":
            self._create_pg_database()
        self.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"])
        return json.loads(self.run([PYTHON, "-m", "benchmarks.web_seed"]).strip().splitlines()[-1])

    def _create_pg_database(self) -> None:
        from urllib.parse import urlsplit

        import psycopg

        parts = urlsplit(self.env["DATABASE_URL"])
        name = parts.path.lstrip("/")
        admin = parts._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                conn.execute(f'create database "{name}"')


def start_server(site: Site, server: str, workers: int, port: int, log: Path) -> Proc:
    import subprocess

    kind, _, limit = server.partition(":")
    if kind == "asgi":
        argv = [str(VENV_BIN / "gunicorn"), "aimlweb.asgi:application", "--worker-class", "aimlweb.asgi_worker.Worker"]
    else:
        threads = server.partition(":")[2] or "16"
        argv = [str(VENV_BIN / "gunicorn"), "aimlweb.wsgi", "--worker-class", "gthread", "--threads", threads]
    argv += [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
        "--access-logfile",
        "/dev/null",
    ]
    # Under ASGI, WEB_THREADS is how many requests may be inside Django at once (aimlweb/asgi.py).
    env = {**site.env, "WEB_SERVER": kind, "WEB_THREADS": limit or "0"}
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv, cwd=APP_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    proc = Proc(server, popen, log)

    def up():
        import http.client

        if not proc.alive():
            raise RuntimeError(f"gunicorn exited:\n{proc.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login/")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok and len(proc_children(proc.pid)) >= workers
        except OSError:
            return False

    wait_until(up, 60, "gunicorn")
    return proc


def measure(args, site: Site, seed: dict, server: str, workers: int) -> dict:
    port = free_port()
    log = site.dir / "gunicorn.log"
    log.unlink(missing_ok=True)  # this cell's only
    proc = start_server(site, server, workers, port, log)
    try:
        pids = [proc.pid, *proc_children(proc.pid)]
        cookie = f"sessionid={seed['session']}"
        results = {}
        for endpoint in args.endpoints:
            path = seed["page"] if endpoint == "page" else seed["live"]
            # Warm every worker up (first requests compile templates, open connections).
            asyncio.run(load("127.0.0.1", port, path, cookie, args.clients, 0, 1.0))
            cpu0 = sum(proc_cpu_seconds(p) for p in pids)
            t0 = time.monotonic()
            times, errors = asyncio.run(load("127.0.0.1", port, path, cookie, args.clients, args.warmup, args.duration))
            wall = time.monotonic() - t0
            cpu = sum(proc_cpu_seconds(p) for p in pids) - cpu0
            results[endpoint] = {
                "requests": len(times),
                "rps": len(times) / args.duration,
                "p50_ms": pct(times, 50) * 1000 if times else None,
                "p95_ms": pct(times, 95) * 1000 if times else None,
                "max_ms": max(times) * 1000 if times else None,
                "errors": len(errors),
                "error_kinds": sorted({str(e) for e in errors})[:5],
                # CPU over the whole load (warm-up included), per request completed in it.
                "server_cpu_cores": cpu / wall,
            }
            line = results[endpoint]
            print(
                f"  {site.database:8} {server:8} x{workers} {endpoint:5} {line['rps']:7.1f} req/s "
                f"p50 {line['p50_ms'] or 0:6.1f} ms p95 {line['p95_ms'] or 0:6.1f} ms "
                f"cpu {line['server_cpu_cores']:.2f} cores, errors {line['errors']}",
                flush=True,
            )
        return results
    finally:
        proc.stop()


def report(results: dict) -> str:
    lines = [
        f"Command: `{results['command']}`, {results['clients']} clients, {results['duration']:g} s per cell "
        f"after {results['warmup']:g} s warm-up; load average before {results['load_before']:.2f}, "
        f"after {results['load_after']:.2f}.",
        "",
        "| database | server | processes | endpoint | requests/s | p50 ms | p95 ms | max ms | server CPU (cores) "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        for endpoint, r in row["endpoints"].items():
            lines.append(
                f"| {row['database']} | {row['server']} | {row['workers']} | {endpoint} | {r['rps']:.0f} | "
                f"{r['p50_ms'] or 0:.0f} | {r['p95_ms'] or 0:.0f} | {r['max_ms'] or 0:.0f} | "
                f"{r['server_cpu_cores']:.2f} | {r['errors']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        default="wsgi:1,wsgi:4,wsgi:16,asgi,asgi:1,asgi:4",
        help="wsgi:<threads>, asgi (no limit) or asgi:<requests inside Django at once>",
    )
    parser.add_argument("--workers", default="1,2", help="web processes, comma list")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--endpoints", default="page,live")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    # A fixed place, so the seeded databases are reused by the next run.
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aimlweb-bench-web"), help="seeded data")  # noqa: S108
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    args.endpoints = [e for e in args.endpoints.split(",") if e]
    args.dir.mkdir(parents=True, exist_ok=True)
    results = {
        "command": header("benchmarks.web", argv)["command"],
        "clients": args.clients,
        "duration": args.duration,
        "warmup": args.warmup,
        "load_before": os.getloadavg()[0],
        "rows": [],
    }
    first = Site("sqlite", args.dir, args.pg_url)
    first.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"])
    for database in args.databases.split(","):
        site = Site(database, args.dir, args.pg_url)
        try:
            seed = site.prepare()
        except Exception as exc:  # noqa: BLE001 (no PostgreSQL here: the SQLite figures still count)
            if database != "postgres":
                raise
            print(f"PostgreSQL not reachable at {args.pg_url} ({exc}); skipped", flush=True)
            continue
        for server in args.servers.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                endpoints = measure(args, site, seed, server, workers)
                if any(e["errors"] for e in endpoints.values()):
                    # On a shared machine a server may be killed from outside: measure that cell again.
                    print("  errors: measuring this cell again", flush=True)
                    endpoints = measure(args, site, seed, server, workers)
                results["rows"].append(
                    {"database": database, "server": server, "workers": workers, "endpoints": endpoints}
                )
    results["load_after"] = os.getloadavg()[0]
    publish(results, report(results), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
