"""What tests share besides rows (those are tests/factories.py) and fixtures (tests/conftest.py).

Waiting for a condition (never a fixed sleep), Huey's real queue for a while, signed-in clients, form
tokens, free ports, and the app's own processes (a worker, gunicorn) on the test's database.
Django is imported where it is used: the fake server's self-test imports this without it.
"""

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage_check(data_dir, **env) -> subprocess.CompletedProcess:
    """`manage.py check` in a fresh process with `env` over this one's (the app's own settings, none of the
    tests'), as a deployment starts: what start-up says of bad configuration."""
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "HUEY_", "DEBUG", "SECRET_KEY"))},
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATA_DIR": str(data_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


def wait_for(predicate, timeout=20.0, interval=0.05):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def once(condition, action) -> threading.Thread:
    """In a thread: `action()` as soon as `condition()` holds (as a user presses Stop once a call is out)."""
    thread = threading.Thread(target=lambda: wait_for(condition) and action(), daemon=True)
    thread.start()
    return thread


async def until(condition, timeout=10.0, interval=0.005) -> None:
    """`wait_for` inside an event loop: yield to it until `condition()` holds, or fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


@contextmanager
def deferred_tasks():
    """Huey's real queue instead of immediate mode: a task is enqueued, not run, and dropped at the end.

    For a test that drives the worker itself, or sees whether anything was enqueued (yields the queue).
    """
    from huey.contrib.djhuey import HUEY

    immediate = HUEY.immediate
    HUEY.immediate = False
    HUEY.flush()
    try:
        yield HUEY
    finally:
        HUEY.flush()
        HUEY.immediate = immediate


def client_for(user):
    """A test client signed in as `user`."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def form_token(page) -> str:
    """The form token (`client_token`) of a page: a response or its HTML."""
    html = page if isinstance(page, str) else page.content.decode()
    return re.search(r'name="client_token" value="([^"]+)"', html).group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Worker:
    """A real Huey consumer (`manage.py run_huey`) in a subprocess, on the test database."""

    def __init__(self, env: dict):
        self.env = env
        self.process = None

    def start(self, log_path=None, **extra_env):
        """Start the consumer; its output goes to `log_path` when given, else nowhere."""
        env = {**self.env, **{k: str(v) for k, v in extra_env.items()}}
        output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed by the child's exit)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey", "-k", "thread", "-w", env.get("HUEY_WORKERS", "4")],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self):
        """SIGKILL: no clean shutdown, as when a machine or container dies."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except Exception:
                self.process.kill()


def subprocess_env(settings, **extra) -> dict:
    """The environment of a process of the app (a worker, gunicorn) on this test's database and queue."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATABASE_URL": database_url,
        "HUEY_IMMEDIATE": "false",
        # The queue of this test process: its SQLite file, or (REDIS_URL) its own queue name in Redis.
        "HUEY_FILENAME": settings.HUEY.get("filename", ""),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def gunicorn(env: dict):
    """The app as `gunicorn` alone serves it in production (gunicorn.conf.py: uvicorn workers), on a free
    port of loopback; returns (process, base URL). DEBUG: static files by their plain names."""
    import requests

    port = free_port()
    env = {"WEB_CONCURRENCY": "1", **env, "HOST": "127.0.0.1", "PORT": str(port), "DEBUG": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return process.poll() is not None  # exited: stop waiting, the caller sees it

    wait_for(up, timeout=30)
    assert process.poll() is None, "gunicorn exited at start-up"
    return process, base


# --- Usage figures: what a report says, next to what the rows behind it add up to ------------------

SUMMED = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd")


def q6(value) -> Decimal:
    """SQLite sums decimals as floats: compare money to the micro-dollar the columns store."""
    return Decimal(str(value or 0)).quantize(Decimal("0.000001"))


def expected(charges) -> dict:
    """The figures a report should show for `charges` (a queryset of the ledger), summed here."""
    from django.db.models import Count, Sum

    row = charges.aggregate(n=Count("id"), **{name: Sum(name) for name in (*SUMMED, "provider_cost_usd")})
    return {
        "charges": row["n"],
        **{name: row[name] or 0 for name in SUMMED[:-1]},
        "cost_usd": q6(row["cost_usd"]),
        "provider_cost_usd": q6(row["provider_cost_usd"]),
        "failed": charges.filter(status="failed").count(),
    }


def figures(f) -> dict:
    """A report's `Figures`, comparable with `expected`."""
    return {
        "charges": f.charges,
        **{name: getattr(f, name) for name in SUMMED[:-1]},
        "cost_usd": q6(f.cost_usd),
        "provider_cost_usd": q6(f.provider_cost_usd),
        "failed": f.failed,
    }
