from datetime import datetime

import pytest
import time_machine
from django.contrib.auth.models import User

from tests.fake_aimlapi import FakeAimlApi


@pytest.fixture
def fake_api(settings):
    """A fake AI/ML API on loopback, with the app pointed at it."""
    with FakeAimlApi(latency=0) as fake:
        settings.AIMLAPI_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def clock():
    """Put this process's clock (every thread's, the live server's too) at a fixed instant: `clock(when)`.

    It ticks on from there (pages, timers and leases still see time pass), and is put back after the test.
    A test about "this month" or "yesterday" picks its day, so it means the same on the 1st of January.
    """
    travellers = []

    def travel(when: datetime, *, tick: bool = True):
        traveller = time_machine.travel(when, tick=tick)
        traveller.start()
        travellers.append(traveller)
        return traveller

    yield travel
    for traveller in reversed(travellers):
        traveller.stop()


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


class Worker:
    """A real Huey consumer (`manage.py run_huey`) in a subprocess, on the test database."""

    def __init__(self, env: dict):
        self.env = env
        self.process = None

    def start(self, log_path=None, **extra_env):
        """Start the consumer; its output goes to `log_path` when given, else nowhere."""
        import subprocess
        import sys

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
    import os
    from pathlib import Path

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
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **extra,
    }


@pytest.fixture
def worker(transactional_db, fake_api, settings):
    """Start/kill real consumers; the test process enqueues into the same queue file."""
    from huey.contrib.djhuey import HUEY

    env = subprocess_env(settings, AIMLAPI_BASE_URL=fake_api.base_url, HUEY_WORKERS="4")
    HUEY.immediate = False
    HUEY.flush()
    workers = []

    def make(log_path=None, **extra_env):
        w = Worker(env).start(log_path, **extra_env)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()
    HUEY.flush()
    HUEY.immediate = True


def wait_for(predicate, timeout=20.0, interval=0.05):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(env: dict):
    """The app as `gunicorn` alone serves it in production (gunicorn.conf.py: uvicorn workers), on a free
    port of loopback; returns (process, base URL). DEBUG: static files by their plain names."""
    import subprocess
    import sys
    from pathlib import Path

    import requests

    port = free_port()
    env = {"WEB_CONCURRENCY": "1", **env, "HOST": "127.0.0.1", "PORT": str(port), "DEBUG": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn"], cwd=Path(__file__).resolve().parent.parent, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


def pytest_configure(config):
    """TEST_CLOCK=2027-01-01T00:20:00+00:00 runs the suite as if it were then (this process; its threads).

    For the edges of a day, a month and a year, where "today" and "this month" break: `.ci/run` runs the
    suite's in-process tests once at a year's turn. Subprocesses (a worker, gunicorn) keep the real clock.
    """
    import os

    when = os.environ.get("TEST_CLOCK")
    if when:
        config._test_clock = time_machine.travel(datetime.fromisoformat(when), tick=True)
        config._test_clock.start()


def pytest_unconfigure(config):
    traveller = getattr(config, "_test_clock", None)
    if traveller is not None:
        traveller.stop()
