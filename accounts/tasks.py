"""Huey tasks of the accounts app (found by `manage.py run_huey` as each app's `tasks` module): thin wrappers."""

from huey.contrib.djhuey import HUEY, db_task

from . import mail


@db_task()
def email_send_task(email_id: int) -> None:
    """Hand the email to a sender thread (mail.Sender): the consumer thread is free at once."""
    if HUEY.immediate:  # tests, and HUEY_IMMEDIATE: here and now
        _send(email_id)
    else:
        mail.sender.submit(_send, email_id)


def _send(email_id: int) -> None:
    outcome = mail.email_send(email_id=email_id)
    if outcome.status == mail.RETRY:  # again later, through the queue (it outlives this process)
        email_send_task.schedule(args=(email_id,), delay=outcome.retry_in)
