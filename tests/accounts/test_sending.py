"""Handing the outbox to the mail server (accounts/mail.py `emails_send`, the sender threads' batches) through
a real SMTP server on loopback (tests/mailbox.py): several emails over one connection, read in one query and
marked sent in one write, and a kept connection the server dropped opened again rather than failing.
"""

import pytest
from django.core.mail import get_connection
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import mail
from accounts.models import EmailNotice
from tests import factories
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def written(count: int, start: int = 0) -> list[int]:
    ann = factories.user(f"ann{start}", email=f"ann{start}@example.com")
    drafts = [mail.Draft("answer_done", f"key-{start + n}", f"Answer {start + n}", "notices/answer_done",
                         {"title": f"Answer {start + n}", "link": "https://chat.example.com/c/1/"})
              for n in range(count)]  # fmt: skip
    return [mail.email_create(draft=draft, user=ann).pk for draft in drafts]


def retries() -> tuple[list, object]:
    later: list[tuple[int, int]] = []
    return later, lambda email_id, seconds: later.append((email_id, seconds))


def test_a_batch_goes_over_one_connection_in_one_read_and_one_write(mailbox):
    few, many = written(2), written(20, start=100)
    later, on_retry = retries()
    with CaptureQueriesContext(connection) as two:
        assert [o.status for o in mail.emails_send(email_ids=few, on_retry=on_retry)] == [mail.SENT] * 2
    with CaptureQueriesContext(connection) as twenty:
        assert [o.status for o in mail.emails_send(email_ids=many, on_retry=on_retry)] == [mail.SENT] * 20
    assert len(mailbox.wait_for(22)) == 22 and not later
    assert mailbox.connections == 2  # one per batch, not one per email
    assert len(twenty.captured_queries) == len(two.captured_queries)
    assert not EmailNotice.objects.filter(sent_at__isnull=True).exists()
    assert set(EmailNotice.objects.values_list("attempts", flat=True)) == {1}
    # Sent already: skipped, not sent twice.
    assert {o.status for o in mail.emails_send(email_ids=few, on_retry=on_retry)} == {mail.SKIPPED}
    assert len(mailbox.messages) == 22


def test_a_kept_connection_the_server_dropped_is_opened_again_without_a_failed_attempt(mailbox):
    smtp = get_connection()  # a sender thread's, kept open from one batch to the next
    later, on_retry = retries()
    try:
        assert mail.emails_send(email_ids=written(1), on_retry=on_retry, smtp=smtp)[0].status == mail.SENT
        mailbox.stop()  # the server goes away and comes back: the kept connection is dead
        mailbox.start()
        [second] = written(1, start=1)
        assert mail.emails_send(email_ids=[second], on_retry=on_retry, smtp=smtp)[0].status == mail.SENT
    finally:
        smtp.close()
    first, then = mailbox.wait_for(2)
    assert first.peer != then.peer and not later  # the second went over a new connection, at once
    assert EmailNotice.objects.get(pk=second).attempts == 1


def test_a_server_that_is_down_is_a_failed_attempt_retried_later(mailbox):
    mailbox.stop()
    later, on_retry = retries()
    ids = written(2)
    assert [o.status for o in mail.emails_send(email_ids=ids, on_retry=on_retry)] == [mail.RETRY] * 2
    assert later == [(ids[0], mail.RETRY_FIRST_SECONDS), (ids[1], mail.RETRY_FIRST_SECONDS)]
    assert set(EmailNotice.objects.values_list("attempts", flat=True)) == {1}
    assert not EmailNotice.objects.filter(sent_at__isnull=False).exists()


def test_the_sender_threads_deliver_what_is_submitted(mailbox, settings):
    settings.EMAIL_THREADS = 2
    later, on_retry = retries()
    sender = mail.Sender(on_retry=on_retry)
    ids = written(30)
    for email_id in ids:
        sender.submit(email_id)
    assert len(mailbox.wait_for(30)) == 30 and not later
    assert mailbox.connections <= 2  # each thread keeps its connection
    # The marker thread notes them sent (the senders never wait for that write).
    wait_for(lambda: not EmailNotice.objects.filter(pk__in=ids, sent_at__isnull=True).exists())
    assert set(EmailNotice.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
