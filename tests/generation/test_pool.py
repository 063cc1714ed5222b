"""The generation pool (worker.Pool): every job handed over gets a thread at once, up to the cap."""

import threading

from conversations.generation.worker import Pool
from tests.helpers import wait_for


def _job(started: threading.Event, release: threading.Event | None = None):
    def run():
        started.set()
        if release is not None:
            release.wait(10)

    return run


def test_a_job_handed_over_right_after_another_gets_its_own_thread(settings):
    settings.GENERATION_THREADS = 10
    pool = Pool()
    first = threading.Event()
    pool.submit(_job(first))
    wait_for(lambda: first.is_set() and pool._idle == 1)  # its thread finished, and waits for more
    # Two more at once: the waiting thread takes one (and blocks in it), the other needs a thread of its
    # own now, not when the first one ends (it used to wait: the idle thread still counted as idle).
    second, third, release = threading.Event(), threading.Event(), threading.Event()
    pool.submit(_job(second, release))
    pool.submit(_job(third))
    try:
        wait_for(lambda: second.is_set() and third.is_set(), timeout=5)
        assert pool.size == 2
    finally:
        release.set()


def test_past_the_cap_a_job_waits_for_the_first_thread_to_finish(settings):
    settings.GENERATION_THREADS = 1
    pool = Pool()
    first, second, release = threading.Event(), threading.Event(), threading.Event()
    pool.submit(_job(first, release))
    wait_for(first.is_set)
    pool.submit(_job(second))
    assert pool._backlog == 1 and pool.size == 1 and not second.is_set()  # at the cap: it waits, no new thread
    release.set()
    wait_for(second.is_set, timeout=5)
    wait_for(lambda: pool._idle == 1 and pool._backlog == 0)
