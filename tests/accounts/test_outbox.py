"""The outbox is pruned (accounts/mail.py `emails_prune`, run by the worker's every-minute sweep,
conversations/tasks.py): sent emails go OUTBOX_KEEP_DAYS after they were sent; unsent and failed ones stay,
and so does anything written this month (a budget notice's row is what keeps it once a month).
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import mail
from accounts.models import EmailNotice
from conversations import tasks
from conversations.notices import services as notices
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)  # emails are queued when their transaction commits

# The last day of a 31-day month, so "this month" reaches back more than OUTBOX_KEEP_DAYS (30).
NOW = timezone.make_aware(datetime(2026, 10, 31, 12, 0))


def email(kind: str, *, written: datetime, sent: datetime | None = None, attempts: int = 1) -> EmailNotice:
    return EmailNotice.objects.create(kind=kind, key=f"{kind}:{written.isoformat()}", to="ann@example.com",
                                      subject=kind, body="text", created_at=written, sent_at=sent,
                                      attempts=attempts)  # fmt: skip


def test_sent_emails_past_the_retention_are_deleted_unsent_and_failed_ones_stay(settings, clock):
    settings.OUTBOX_KEEP_DAYS = 30
    clock(NOW)
    day = timedelta(days=1)
    old = email("answer_done", written=NOW - 41 * day, sent=NOW - 41 * day)
    just_past = email("signup_approved", written=NOW - 31 * day, sent=NOW - 30 * day - timedelta(minutes=1))
    recent = email("answer_done", written=NOW - 26 * day, sent=NOW - 26 * day)
    given_up = email("answer_done", written=NOW - 90 * day, attempts=mail.EMAIL_ATTEMPTS)
    retrying = email("signup_pending", written=NOW - 40 * day, attempts=3)
    tasks.turns_recover_task()  # the worker's periodic sweep
    left = set(EmailNotice.objects.values_list("pk", flat=True))
    assert left == {recent.pk, given_up.pk, retrying.pk}
    assert old.pk not in left and just_past.pk not in left
    # Next month, a shorter retention takes the rest of the sent ones.
    clock(NOW + 2 * day)
    settings.OUTBOX_KEEP_DAYS = 7
    assert mail.emails_prune() == 1
    assert set(EmailNotice.objects.values_list("pk", flat=True)) == {given_up.pk, retrying.pk}


def test_a_backlog_goes_a_batch_per_sweep(settings, clock, monkeypatch):
    clock(NOW)
    monkeypatch.setattr(mail, "PRUNE_BATCH", 2)
    for n in range(5):
        email("answer_done", written=NOW - timedelta(days=60 + n), sent=NOW - timedelta(days=60 + n))
    assert [mail.emails_prune(), mail.emails_prune(), mail.emails_prune(), mail.emails_prune()] == [2, 2, 1, 0]


def test_a_budget_notice_of_this_month_is_kept_so_it_is_not_sent_again(settings, clock, mailbox):
    """Written on the 1st, sent more than OUTBOX_KEEP_DAYS ago by the 31st: deleting it would let the next
    answer's check send "80 %" a second time this month."""
    settings.OUTBOX_KEEP_DAYS = 30
    settings.BUDGET_MONTHLY_USD = Decimal("10")
    ann = factories.user("ann", email="ann@example.com")
    first = timezone.make_aware(datetime(2026, 10, 1, 0, 30))
    clock(first)
    factories.charge(ann, when=first - timedelta(minutes=5), cost=Decimal("8.5"))
    assert notices.budget_notices_check(user=ann) == 1
    [message] = mailbox.wait_for(1)
    notice = EmailNotice.objects.get(kind="budget_80")
    assert notice.sent_at is not None

    clock(NOW)  # 30 days and a half later, the same month
    tasks.turns_recover_task()
    assert EmailNotice.objects.filter(pk=notice.pk).exists()
    assert notices.budget_notices_check(user=ann) == 0  # still once this month
    assert len(mailbox.messages) == 1

    clock(NOW + timedelta(days=1))  # 1 November: last month's notice has done its work
    tasks.turns_recover_task()
    assert not EmailNotice.objects.filter(pk=notice.pk).exists()
