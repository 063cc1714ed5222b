"""The email of an answer through the real worker process (`manage.py run_huey`): its sender threads hand it
to a real SMTP server on loopback; a server that is down never fails the answer, and the retry waits in the
queue's schedule.
"""

import pytest

from accounts.models import EmailNotice
from conversations.chat import services
from conversations.models import Turn
from tests import factories
from tests.helpers import wait_for
from tests.mailbox import Mailbox

pytestmark = pytest.mark.slow


def _email_env(port: int) -> dict:
    return {"EMAIL_URL": f"smtp://127.0.0.1:{port}", "SITE_URL": "https://chat.example.com"}


def test_the_worker_emails_an_answer_nobody_watched(worker, fake_api):
    ann = factories.user("ann", email="ann@example.com")
    with Mailbox() as box:
        worker(**_email_env(box.port))
        turn = services.conversation_create(owner=ann, prompt="Through the worker")
        [message] = box.wait_for(1, timeout=60)
    turn.refresh_from_db()
    assert turn.status == Turn.Status.COMPLETED
    assert message.rcpt_tos == ["ann@example.com"]
    assert f"https://chat.example.com/c/{turn.conversation_id}/?turn={turn.pk}#turn-{turn.pk}" in message.text
    assert "Echo: Through the worker" in message.text
    # The server has the message before the worker writes down that it was sent: wait for that write.
    notice = wait_for(lambda: EmailNotice.objects.filter(sent_at__isnull=False).first(), timeout=30)
    assert notice.to == "ann@example.com" and EmailNotice.objects.count() == 1
    assert message.at - turn.completed_at.timestamp() < 10


def test_with_the_mail_server_down_the_worker_completes_the_answer_and_schedules_the_retry(
    worker, fake_api, huey_queue
):
    ann = factories.user("ann", email="ann@example.com")
    closed = Mailbox()  # its port, with nothing listening
    worker(**_email_env(closed.port))
    turn = services.conversation_create(owner=ann, prompt="Mail is down")
    wait_for(lambda: Turn.objects.filter(pk=turn.pk, status=Turn.Status.COMPLETED).exists(), timeout=60)
    notice = wait_for(lambda: EmailNotice.objects.filter(attempts=1).first(), timeout=30)
    assert notice.sent_at is None and "Connection" in notice.error
    # The retry waits in the queue's schedule (the queue file this test shares with the worker).
    scheduled = wait_for(lambda: huey_queue.scheduled(), timeout=10)
    assert [task.args for task in scheduled] == [(notice.pk,)]
