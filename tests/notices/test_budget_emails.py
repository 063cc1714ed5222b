"""Budget notices by email (conversations/notices/services.py): a user at 80 % and at 100 % of their monthly
budget, administrators when the instance passes 80 % of its own; each once per month, whatever runs the check
again (retries, other processes). The clock is frozen on the days that matter, local time.
"""

import threading
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import EmailNotice, EmailPreference
from conversations.models import Turn
from conversations.notices import services as notices
from tests import factories

D = Decimal


def at(year, month, day, hour=12, minute=0):
    return timezone.make_aware(datetime(year, month, day, hour, minute))


def quiet_user(name: str, **fields):
    """A user whose answers send no email of their own (so only budget emails arrive; they do not depend on it)."""
    user = factories.user(name, **fields)
    EmailPreference.objects.create(user=user, answer_done=False)
    return user


@pytest.fixture
def cleo(transactional_db, settings):
    settings.BUDGET_MONTHLY_USD = D("10")
    return quiet_user("cleo", email="cleo@example.com")


def answer(user, usd: str) -> Turn:
    """An answer of `user` charged `usd` now (the ledger's own writer), then the worker's hook at its end."""
    charge = factories.charge(user, when=timezone.now(), cost=D(usd))
    notices.turn_ended(turn_id=str(charge.turn_id))
    return charge.turn


def test_a_user_is_told_at_80_and_at_100_percent_once_each(cleo, mailbox, clock):
    clock(at(2026, 3, 10))
    answer(cleo, "7.90")  # 79 %
    assert not EmailNotice.objects.exists()
    answer(cleo, "0.10")  # 80 %
    [first] = mailbox.wait_for(1)
    assert first.rcpt_tos == ["cleo@example.com"]
    assert first["Subject"] == "You have used 80 % of your aimlweb budget this month"
    assert "$8.00 of your $10.00 budget for March 2026 (80 %)" in first.text
    assert "https://chat.example.com/usage/" in first.text
    answer(cleo, "1.00")  # 90 %: nothing new
    answer(cleo, "1.50")  # 105 %
    second = mailbox.wait_for(2)[1]
    assert second["Subject"] == "You have used 100 % of your aimlweb budget this month"
    assert "New prompts are refused" in second.text
    for _ in range(3):
        answer(cleo, "0.50")
    notices.turn_ended(turn_id=answer(cleo, "0.01").pk)  # the same answer's end again
    assert len(mailbox.messages) == 2
    assert sorted(EmailNotice.objects.values_list("kind", flat=True)) == ["budget_100", "budget_80"]


def test_a_jump_past_100_percent_tells_100_only(cleo, mailbox, clock):
    clock(at(2026, 3, 10))
    answer(cleo, "12")
    answer(cleo, "1")
    [message] = mailbox.wait_for(1)
    assert "100 %" in message["Subject"]
    assert list(EmailNotice.objects.values_list("kind", flat=True)) == ["budget_100"]


def test_each_month_has_its_own_notices_and_the_new_month_starts_at_zero(cleo, mailbox, clock):
    clock(at(2026, 3, 31, 23, 30))
    answer(cleo, "8.50")
    assert "March 2026" in mailbox.wait_for(1)[0].text
    clock(at(2026, 4, 1, 0, 30))
    answer(cleo, "1")  # April's spend is $1: nothing
    assert len(mailbox.messages) == 1
    answer(cleo, "7")  # $8 in April: April's 80 %
    second = mailbox.wait_for(2)[1]
    assert "$8.00 of your $10.00 budget for April 2026" in second.text
    assert sorted(EmailNotice.objects.values_list("key", flat=True)) == [f"{cleo.pk}:2026-03", f"{cleo.pk}:2026-04"]


def test_no_budget_no_address_or_an_unlimited_user_gets_no_budget_email(transactional_db, mailbox, settings, clock):
    clock(at(2026, 3, 10))
    settings.BUDGET_MONTHLY_USD = None
    free = quiet_user("free", email="free@example.com")
    answer(free, "500")
    settings.BUDGET_MONTHLY_USD = D("10")
    silent = factories.user("silent")  # no address
    answer(silent, "9")
    told = quiet_user("told", email="told@example.com")
    answer(told, "9")  # the same check, for a user with an address: told
    assert [m.rcpt_tos for m in mailbox.wait_for(1)] == [["told@example.com"]]
    assert list(EmailNotice.objects.values_list("to", flat=True)) == ["told@example.com"]


def test_administrators_are_told_once_a_month_when_the_instance_passes_80_percent(
    transactional_db, mailbox, settings, clock
):
    clock(at(2026, 3, 10))
    settings.INSTANCE_BUDGET_MONTHLY_USD = D("100")
    boss = quiet_user("boss", email="boss@example.com", is_staff=True, is_superuser=True)
    factories.user("helper", email="helper@example.com", is_staff=True)
    factories.user("noaddress", is_staff=True)
    factories.user("gone", email="gone@example.com", is_staff=True, is_active=False)
    dan = factories.user("dan")
    answer(dan, "79.99")
    assert not EmailNotice.objects.exists()
    answer(boss, "0.02")  # 80.01 % of the instance's budget, whoever spent it
    messages = mailbox.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["boss@example.com", "helper@example.com"]
    assert messages[0]["Subject"] == "aimlweb has used 80 % of its monthly budget"
    assert "$80.01 of its $100.00 monthly budget for March 2026" in messages[0].text
    assert "https://chat.example.com/usage/admin/" in messages[0].text
    answer(dan, "10")
    assert len(mailbox.messages) == 2
    clock(at(2026, 4, 2))
    answer(dan, "85")
    assert len(mailbox.wait_for(4)) == 4  # April's, once more to each


def test_two_processes_checking_at_once_write_one_notice(cleo, mailbox, clock):
    """The unique (kind, key) keeps a notice once when two workers look at the same moment."""
    clock(at(2026, 3, 10))
    factories.charge(cleo, when=timezone.now(), cost=D("9"))
    barrier = threading.Barrier(2)
    written = []

    def check():
        try:
            barrier.wait(timeout=10)
            written.append(notices.budget_notices_check(user=cleo))
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(written) == [0, 1]
    mailbox.wait_for(1)
    assert EmailNotice.objects.count() == 1 and len(mailbox.messages) == 1


def test_the_notices_of_a_month_are_kept_by_the_local_month(cleo, mailbox, clock, settings):
    """TIME_ZONE decides the month: 23:30 UTC on 31 March is already April in Berlin."""
    settings.TIME_ZONE = "Europe/Berlin"
    clock(timezone.make_aware(datetime(2026, 3, 31, 23, 30), timezone=timezone.get_fixed_timezone(0)))
    answer(cleo, "9")
    assert EmailNotice.objects.get().key == f"{cleo.pk}:2026-04"
    assert "April 2026" in mailbox.wait_for(1)[0].text
