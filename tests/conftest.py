import asyncio
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.db import connection

from conversations.live.reads import release_connections
from conversations.models import Turn
from tests import factories
from tests.fake_aimlapi import FakeAimlApi
from tests.helpers import Worker, deferred_tasks, free_port, gunicorn, subprocess_env, wait_for  # noqa: F401 (re-exported)
from tests.mailbox import Mailbox


@pytest.fixture
def fake_api(settings):
    """A fake AI/ML API on loopback, with the app pointed at it."""
    with FakeAimlApi(latency=0) as fake:
        settings.AIMLAPI_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def mailbox(settings):
    """A real SMTP server on loopback (tests/mailbox.py), with the app's email pointed at it, links to SITE_URL."""
    with Mailbox() as box:
        settings.EMAIL_ENABLED = True
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", box.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.SITE_URL = "https://chat.example.com"
        settings.DEFAULT_FROM_EMAIL = "aimlweb <chat@example.com>"
        yield box


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
def async_connections_closed():
    """For a test whose `asyncio.run` reaches the database through `sync_to_async`: afterwards the connection
    left open in asgiref's thread is closed. That thread lives on for the rest of this worker's tests, and a
    connection kept there holds the SQLite file (its -shm mapped) past the test and any flush."""
    yield
    asyncio.run(sync_to_async(release_connections)())


@pytest.fixture(autouse=True)
def sqlite_shared_memory_kept():
    """Fails the test during which another process deleted this process's SQLite shared memory (-shm) under
    a connection still open here. That only happens when this process lost its locks on the test database,
    which an earlier test on this worker did by opening one of its files directly (README, Tests); without
    this check, that worker's later tests fail one by one with "disk I/O error"."""
    yield
    maps = Path("/proc/self/maps")
    if connection.vendor != "sqlite" or not maps.exists():
        return
    deleted = f"{connection.settings_dict['NAME']}-shm (deleted)"
    if any(line.endswith(deleted) for line in maps.read_text().splitlines()):
        pytest.fail(
            f"{deleted}: this test process's SQLite shared memory was deleted under an open connection. "
            "A test before this one on this worker opened the database's files itself and dropped its locks.",
            pytrace=False,
        )


@pytest.fixture
def alice(db):
    return factories.user("alice")


@pytest.fixture
def bob(db):
    return factories.user("bob")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def worker(transactional_db, fake_api, settings):
    """Start/kill real consumers; the test process enqueues into the same queue file."""
    env = subprocess_env(settings, AIMLAPI_BASE_URL=fake_api.base_url, HUEY_WORKERS="4")
    workers = []

    def make(log_path=None, **extra_env):
        w = Worker(env).start(log_path, **extra_env)
        workers.append(w)
        return w

    with deferred_tasks():
        yield make
        for w in workers:
            w.stop()


@pytest.fixture
def huey_queue():
    """Huey's real queue instead of immediate mode for the whole test (helpers.deferred_tasks)."""
    with deferred_tasks() as queue:
        yield queue


@pytest.fixture
def run_now(transactional_db):
    """Call a service; the tasks it queues run at once (Huey's immediate mode); a turn returned is re-read.

    Real commits, no test transaction: a worker never runs inside a transaction,
    and its heartbeat thread must see the rows on its own connection.
    """

    def run(func, **kwargs):
        result = func(**kwargs)
        if isinstance(result, Turn):
            result.refresh_from_db()
        return result

    return run


@pytest.fixture
def ledger(db):
    """Forty days of spend (tests/factories.py `ledger`)."""
    return factories.ledger()


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
