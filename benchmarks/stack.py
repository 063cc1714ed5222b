"""The app as real processes on loopback: fake upstream, gunicorn and the Huey consumer.

Each Stack has its own DATA_DIR (database, queue file) in a temp dir. Every
process runs in its own session (process group) and `stop()` ends each group:
SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tests.helpers import free_port, wait_for

from .cli import reported, scratch
from .machine import proc_children, proc_status

ROOT = Path(__file__).resolve().parent.parent
# The app under test: this checkout, or another one (--app-dir, e.g. a patched copy).
APP_DIR = Path(os.environ.get("BENCH_APP_DIR", ROOT)).resolve()
VENV_BIN = Path(sys.executable).parent
PYTHON = sys.executable
ACCESS_LINE = re.compile(r'\[([^\]]+)\] "(GET|POST|HEAD) (\S+) HTTP/[\d.]+" (\d{3}) \S+ ".*" ".*" (\d+)$')

# Settings the benchmark decides itself; any other app variable inherited from
# the caller's environment is dropped so a stray export cannot skew a run.
APP_PREFIXES = ("AIMLAPI_", "HUEY_", "TURN_", "LIVE_", "DJANGO_", "DATABASE_URL", "DATA_DIR", "SECRET_KEY", "WEB_")
BENCH_PASSWORD = "bench-" + secrets.token_hex(8)
# gunicorn's default access log format plus %(D)s, the time the server spent on the
# request in microseconds (from when a thread picked it up to the last byte).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'


def code_fingerprint() -> str:
    """A short hash of the app's code and config, to tell which version a figure belongs to."""
    digest = hashlib.sha256()
    patterns = ("aimlweb/*.py", "conversations/**/*.py", "conversations/templates/**/*.html", "templates/**/*.html",
                "static/js/*.js", "Procfile", "gunicorn.conf.py", "requirements.txt")  # fmt: skip
    for pattern in patterns:
        for path in sorted(APP_DIR.glob(pattern)):
            if "migrations" not in path.parts and path.is_file():
                digest.update(str(path.relative_to(APP_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def wait_until(predicate, timeout: float, what: str):
    """tests.helpers.wait_for (what `predicate` returns, once true), saying what it waited for if it times out."""
    try:
        return wait_for(predicate, timeout=timeout)
    except AssertionError:
        raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}") from None


def base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # The app first; this checkout's `benchmarks` package after it (for benchmarks.settings).
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(APP_DIR), str(ROOT)]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# --- processes ----------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.popen.pid, sig)  # its own session: the process and its children
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children (gunicorn workers) may outlive a killed leader: end the whole group.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Stack:
    """Fake upstream + gunicorn + Huey consumer on a fresh DATA_DIR."""

    workdir: Path
    static_root: Path
    upstream_latency: float
    huey_workers: int
    users: int = 1
    env_overrides: dict[str, str] = field(default_factory=dict)
    web_workers: int = 2
    web_threads: int = 16
    # "wsgi": gunicorn gthread (pages poll); "asgi": uvicorn workers (pages get pushed updates).
    server: str = "wsgi"

    procs: list[Proc] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    web_port: int = 0
    fake_port: int = 0

    def __post_init__(self):
        self.data_dir = self.workdir / "data"
        self.logs = self.workdir / "logs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.fake_stats = self.workdir / "fake-stats.json"
        self.web_port = free_port()
        self.fake_port = free_port()
        self.env = base_env(
            {
                "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
                "BENCH_STATIC_ROOT": str(self.static_root),
                "DATA_DIR": str(self.data_dir),
                "DATABASE_URL": f"sqlite:///{self.data_dir / 'db.sqlite3'}",
                "HUEY_FILENAME": str(self.data_dir / "huey.sqlite3"),
                "HUEY_IMMEDIATE": "false",
                "HUEY_WORKERS": str(self.huey_workers),
                "AIMLAPI_KEY": "bench",
                "AIMLAPI_BASE_URL": f"http://127.0.0.1:{self.fake_port}/v1",
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SIGNUP_ENABLED": "true",
                # Capacity is measured here, not the per-user limits (tests/chat/test_limits.py).
                "MAX_ACTIVE_TURNS_PER_USER": "100000",
                "MAX_PROMPTS_PER_HOUR": "0",
                "PORT": str(self.web_port),
                **self.env_overrides,
            }
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "db.sqlite3"

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv, cwd=APP_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, name: str, argv: list[str], timeout: float = 120) -> str:
        """Run a command of the app (manage.py ..., a seeder) in this stack's environment; its output, logged."""
        result = subprocess.run(argv, cwd=APP_DIR, env=self.env, capture_output=True, text=True, timeout=timeout)
        (self.logs / f"{name}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def collectstatic(self) -> None:
        self.run("collectstatic", [PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"])

    def start(self) -> Stack:
        if self.env["DATABASE_URL"].startswith(("postgres://", "postgresql://")):
            fresh_postgres(self.env["DATABASE_URL"])
        self.fake = self._spawn(
            "fake",
            [
                PYTHON, "-m", "benchmarks.fake_upstream", "--port", str(self.fake_port),
                "--latency", str(self.upstream_latency), "--stats", str(self.fake_stats),
            ],
        )  # fmt: skip
        self.run("migrate", [PYTHON, "manage.py", "migrate", "--noinput"])
        out = self.run("dbsetup", [PYTHON, "-m", "benchmarks.dbsetup", "--users", str(self.users),
                                    "--password", BENCH_PASSWORD])  # fmt: skip
        self.settings = json.loads(out.strip().splitlines()[-1])
        if self.server == "asgi":
            # As gunicorn.conf.py runs it (uvicorn logs its own access format, without the time).
            app = ["aimlweb.asgi:application", "--worker-class", "aimlweb.asgi_worker.Worker"]
        else:
            app = ["aimlweb.wsgi", "--worker-class", "gthread", "--threads", str(self.web_threads)]
        self.web = self._spawn(
            "gunicorn",
            [
                str(VENV_BIN / "gunicorn"), *app, "--bind", f"127.0.0.1:{self.web_port}",
                "--workers", str(self.web_workers),
                "--timeout", "60", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
            ],
        )  # fmt: skip
        self.worker = self._spawn(
            "huey", [PYTHON, "manage.py", "run_huey", "-k", "thread", "-w", str(self.huey_workers)]
        )
        self._wait_ready()
        return self

    def _check_alive(self):
        for proc in self.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")

    def _wait_ready(self) -> None:
        def fake_up():
            self._check_alive()
            return self.fake_stats.exists()

        def web_up():
            self._check_alive()
            try:
                return requests.get(f"{self.base_url}/login/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        def worker_up():
            self._check_alive()
            return "consumer started" in self.worker.log.read_text(errors="replace").lower()

        wait_until(fake_up, 30, "the fake upstream")
        wait_until(web_up, 60, "gunicorn")
        wait_until(worker_up, 60, "the Huey consumer")
        # Its worker threads start right after the banner.
        wait_until(lambda: proc_status(self.worker.pid).get("Threads", 0) > self.huey_workers, 30, "worker threads")

    def access_log(self) -> list[tuple[float, str, str, int, float]]:
        """(time, method, path, status, server seconds) of every request gunicorn logged so far.

        The time is when the request was logged (its end), to the second.
        """
        out = []
        for line in self.web.log.read_text(errors="replace").splitlines():
            match = ACCESS_LINE.search(line)
            if match:
                when, method, path, status, micros = match.groups()
                logged = datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp()
                out.append((logged, method, path, int(status), int(micros) / 1e6))
        return out

    def web_pids(self) -> list[int]:
        return [self.web.pid, *proc_children(self.web.pid)]

    def fake_stats_after(self, moment: float, timeout: float = 5.0) -> dict:
        """The fake's stats as written after `moment` (it rewrites them every 0.5 s)."""

        def fresh():
            try:
                data = json.loads(self.fake_stats.read_text())
            except (FileNotFoundError, ValueError):
                return None
            return data if data["written_at"] > moment else None

        return wait_until(fresh, timeout, "fresh fake upstream stats")

    def signed_in(self, username: str, password: str = BENCH_PASSWORD) -> requests.Session:
        """A `requests` session signed in as `username` (one of dbsetup's users, by default)."""
        session = requests.Session()
        session.get(f"{self.base_url}/login/", timeout=30)
        response = session.post(
            f"{self.base_url}/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{self.base_url}/login/"},
            timeout=30,
        )
        if "sessionid" not in session.cookies:
            raise RuntimeError(f"could not sign in as {username}: {response.status_code}")
        return session

    def turns(self) -> dict[str, dict]:
        """Every turn in the database (SQLite, or PostgreSQL given by --env DATABASE_URL), by id without dashes.

        Times as Unix times; `__conversations__`: how many conversations there are.
        """
        url = self.env["DATABASE_URL"]
        if url.startswith(("postgres://", "postgresql://")):
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(url, row_factory=dict_row) as con:
                rows = con.execute(TURN_COLUMNS).fetchall()
                conversations = con.execute("select count(*) as n from conversations_conversation").fetchone()["n"]
            for turn in rows:
                for key in ("id", "conversation_id"):
                    turn[key] = str(turn[key])
                for key in ("created_at", "started_at", "completed_at"):
                    turn[key] = turn[key].timestamp() if turn[key] else None
        else:
            con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
            try:
                con.row_factory = sqlite3.Row
                rows = [dict(row) for row in con.execute(TURN_COLUMNS).fetchall()]
                conversations = con.execute("select count(*) from conversations_conversation").fetchone()[0]
            finally:
                con.close()
            for turn in rows:
                for key in ("created_at", "started_at", "completed_at"):
                    turn[key] = db_time(turn[key])
        turns: dict = {turn["id"].replace("-", ""): turn for turn in rows}
        turns["__conversations__"] = conversations
        return turns

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def measure_parts(
    parts: dict[str, Callable[[Any, Path, Path], dict]], results: dict, report, args, prefix: str
) -> None:
    """The parts of a run that --only asks for (all without it), each `part(args, static_root, workdir)` on stacks
    of its own in the run's temp dir, with the static files collected once; their figures into `results`, then
    `report(results)` published (see cli.reported)."""
    with reported(results, report, args, prefix) as workdir:
        static_root = workdir / "static"
        Stack(workdir / "collectstatic", static_root, upstream_latency=0, huey_workers=1).collectstatic()
        for name in [args.only] if args.only else parts:
            results[name] = parts[name](args, static_root, workdir)


@contextmanager
def started_stack(args, prefix: str, path: Path | None = None, **options) -> Iterator[Stack]:
    """A stack in the run's temp dir (cli.scratch, with --tmp and --keep; or `path`), its static files collected,
    started; stopped at the end."""
    with (
        scratch(prefix, args.tmp, args.keep, path) as workdir,
        Stack(workdir, workdir / "static", upstream_latency=0, **options) as stack,
    ):
        stack.collectstatic()
        stack.start()
        yield stack


# --- the database, read beside the app --------------------------------------------------

TURN_COLUMNS = (
    "select t.id, t.conversation_id, c.owner_id, t.status, t.attempts, t.response_id, t.output_text, t.error_code,"
    " t.created_at, t.started_at, t.completed_at"
    " from conversations_turn t join conversations_conversation c on c.id = t.conversation_id"
)


def db_time(value: str | None) -> float | None:
    """A datetime column of Django's SQLite backend (naive UTC text) as a Unix time."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def fresh_postgres(url: str) -> None:
    """Drop and create the PostgreSQL database named in `url`: every stack on it starts empty."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        con.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
