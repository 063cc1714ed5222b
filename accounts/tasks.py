"""Huey tasks of the accounts app (found by `manage.py run_huey` as each app's `tasks` module): thin wrappers."""

from huey.contrib.djhuey import HUEY, db_task

from . import mail


@db_task()
def email_send_task(email_id: int) -> None:
    email_send_soon(email_id)


def email_send_soon(email_id: int) -> None:
    """In the worker: hand the email to a sender thread (the caller is free at once). Tests, and
    HUEY_IMMEDIATE: here and now."""
    if HUEY.immediate:
        mail.emails_send(email_ids=[email_id], on_retry=_retry_later)
    else:
        sender.submit(email_id)


def _retry_later(email_id: int, seconds: int) -> None:
    """Again later, through the queue's schedule (it outlives this process)."""
    email_send_task.schedule(args=(email_id,), delay=seconds)


sender = mail.Sender(on_retry=_retry_later)
