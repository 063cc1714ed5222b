"""Huey tasks: thin wrappers around services, run by `manage.py run_huey`."""

import threading

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from ops import heartbeat

from . import services


@db_task()
def turn_run_task(turn_id: str) -> None:
    services.turn_run(turn_id=turn_id)


@db_task()
def turn_resume_task(turn_id: str) -> None:
    services.turn_resume(turn_id=turn_id)


@db_task()
def response_cancel_task(response_id: str) -> None:
    services.response_cancel(response_id=response_id)


@db_periodic_task(crontab(minute="*"))
def turns_recover_task() -> None:
    services.turns_recover()


_started = threading.Lock()
_recovered_once = False


@HUEY.on_startup()
def recover_on_startup() -> None:
    # Each worker thread runs startup hooks; recover once per consumer process,
    # so turns left by a killed consumer are taken back as soon as a new one starts.
    global _recovered_once
    with _started:
        if _recovered_once:
            return
        _recovered_once = True
    heartbeat.start("worker")
    turns_recover_task()
