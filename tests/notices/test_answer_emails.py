"""An email when an answer ends and none of the owner's pages showed it (conversations/notices/), through a
real SMTP server on loopback (tests/mailbox.py): the answer runs through the worker's code (Huey's immediate
mode) against the fake provider, and the email is what the mail server received.
"""

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import AsyncClient
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from accounts.models import EmailNotice, EmailPreference
from conversations import tasks
from conversations.chat import services
from conversations.live import changes as live
from conversations.live import reads
from conversations.models import Conversation, Turn, TurnSeen
from conversations.notices import selectors as rules
from conversations.notices import services as notices
from conversations.usage import budgets
from tests import factories
from tests.helpers import client_for, wait_for

SITE = "https://chat.example.com"
# Before gpt-5-pro's retirement (2026-12-11): the default model answers.
WHEN = timezone.make_aware(datetime(2026, 6, 10, 9, 0))


@pytest.fixture(autouse=True)
def before_retirement(clock):
    clock(WHEN)


@pytest.fixture
def ann(transactional_db):
    return factories.user("ann", email="ann@example.com")


def _from_now(task) -> timedelta:
    """How far ahead Huey's schedule holds `task` (its clock: naive UTC)."""
    now = datetime.now(UTC).replace(tzinfo=None) if HUEY.utc else datetime.now()
    return task.eta - now


def _only_in_progress(owner) -> Turn:
    return Turn.objects.get(conversation__owner=owner, status=Turn.Status.IN_PROGRESS)


def test_an_answer_no_page_showed_is_emailed_with_its_title_start_cost_and_link(run_now, fake_api, mailbox, ann):
    fake_api.reply = "The plan: " + "step " * 400
    turn = run_now(services.conversation_create, owner=ann, prompt="Plan my week")
    assert turn.status == Turn.Status.COMPLETED
    [message] = mailbox.wait_for(1)
    conversation = Conversation.objects.get(pk=turn.conversation_id)
    assert message.rcpt_tos == ["ann@example.com"]
    assert message["To"] == "ann@example.com"
    assert message["From"] == "aimlweb <chat@example.com>"
    assert message["Subject"] == conversation.title
    link = f"{SITE}/c/{conversation.pk}/?turn={turn.pk}#turn-{turn.pk}"
    for body in (message.text, message.html):
        assert link in body
        assert "The plan: step step" in body
        assert budgets.usd(turn.cost_usd) in body and turn.cost_usd > 0
    assert "Plan my week" in message.text
    assert len(message.text) < 1500  # the start of the answer, not all of it
    # The link opens the turn for its owner.
    page = client_for(ann).get(link.removeprefix(SITE))
    assert page.status_code == 200 and f'id="turn-{turn.pk}"' in page.content.decode()
    notice = EmailNotice.objects.get(kind="answer_done")
    assert notice.sent_at is not None and notice.attempts == 1 and notice.user == ann


@pytest.mark.parametrize(
    ("fault", "status", "says"), [("failed", "failed", "failed"), ("incomplete", "incomplete", "ended incomplete")]
)
def test_a_failed_or_incomplete_answer_is_emailed_too(run_now, fake_api, mailbox, ann, fault, status, says):
    fake_api.faults = [(fault,)]
    turn = run_now(services.conversation_create, owner=ann, prompt="Try this")
    assert turn.status == status
    [message] = mailbox.wait_for(1)
    assert says in message.text
    assert turn.error_message.split(".")[0] in message.text


def test_a_title_cannot_add_a_header_or_a_recipient(run_now, fake_api, mailbox, ann):
    conversation = factories.conversation(ann, title="Hi\r\nBcc: eve@example.com\r\n\r\nInjected body\u2028X-Evil: 1")
    turn = factories.turn(conversation, prompt="Go")
    run_now(tasks.turn_run_task, turn_id=str(turn.pk))
    [message] = mailbox.wait_for(1)
    assert message.rcpt_tos == ["ann@example.com"]
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert message["Subject"] == "Hi Bcc: eve@example.com Injected body X-Evil: 1"
    headers = message.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers and b"\nX-Evil:" not in headers and b"Injected" in headers
    # The title in the HTML part is escaped.
    assert "Injected body" in message.html


def test_the_html_part_escapes_what_the_user_and_the_model_wrote(run_now, fake_api, mailbox, ann):
    fake_api.reply = '<script>alert("x")</script> & <b>bold</b>'
    conversation = factories.conversation(ann, title='<img src=x onerror="alert(1)">')
    run_now(tasks.turn_run_task, turn_id=str(factories.turn(conversation, prompt="<i>hi</i>").pk))
    [message] = mailbox.wait_for(1)
    assert "<script>" not in message.html and "<img" not in message.html and "<i>hi" not in message.html
    assert "&lt;script&gt;" in message.html and "&amp;" in message.html
    # Plain text stays as written (no HTML entities in it).
    assert '<script>alert("x")</script> & <b>bold</b>' in message.text


def test_no_email_without_an_address_or_with_the_setting_off_or_email_off(run_now, fake_api, mailbox, settings):
    nobody = factories.user("nobody")
    off = factories.user("off", email="off@example.com")
    EmailPreference.objects.create(user=off, answer_done=False)
    quiet = factories.user("quiet", email="quiet@example.com")
    on = factories.user("on", email="on@example.com")
    for user in (nobody, off):
        assert run_now(services.conversation_create, owner=user, prompt="Hello").status == "completed"
    settings.EMAIL_ENABLED = False  # EMAIL_URL unset, DEBUG off
    assert run_now(services.conversation_create, owner=quiet, prompt="Hello").status == "completed"
    settings.EMAIL_ENABLED = True
    # The same path does send for a user who wants it (so the silence above is the rule's doing).
    assert run_now(services.conversation_create, owner=on, prompt="Hello").status == "completed"
    assert [m.rcpt_tos for m in mailbox.wait_for(1)] == [["on@example.com"]]
    assert list(EmailNotice.objects.values_list("to", flat=True)) == ["on@example.com"]


def test_a_stopped_answer_sends_nothing(ann, mailbox):
    turn = factories.turn(factories.conversation(ann, title="Stopped"), status=Turn.Status.CANCELLED, attempts=1)
    Turn.objects.filter(pk=turn.pk).update(completed_at=timezone.now())
    notices.turn_ended(turn_id=str(turn.pk))
    done = factories.turn(factories.conversation(ann, title="Done"), status=Turn.Status.COMPLETED, attempts=1)
    notices.turn_ended(turn_id=str(done.pk))
    assert [m["Subject"] for m in mailbox.wait_for(1)] == ["Done"]


def test_an_answer_ended_while_a_page_polled_it_sends_nothing(run_now, fake_api, mailbox, ann):
    watcher = client_for(ann)

    def reply(body):  # the provider answers while a page of Ann's polls the running turn
        try:
            turn = _only_in_progress(ann)
            assert watcher.get(f"/t/{turn.pk}/live/").status_code == 200
            assert TurnSeen.objects.filter(turn=turn).exists()
        finally:
            connection.close()
        return "Seen it arrive"

    fake_api.reply = reply
    shown = run_now(services.conversation_create, owner=ann, prompt="I am watching")
    assert shown.status == "completed" and shown.output_text == "Seen it arrive"
    fake_api.reply = None
    unseen = run_now(services.conversation_create, owner=ann, prompt="I left")
    # Only the answer nobody watched was emailed.
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == Conversation.objects.get(pk=unseen.conversation_id).title
    assert EmailNotice.objects.filter(key__startswith=str(shown.pk)).count() == 0


def _open_stream(user, turn_ids: list, until_text: str, opened: threading.Event, result: list) -> None:
    """In a thread with its own event loop: the page's /events/ stream, naming the running turns, read until
    `until_text` arrives (the turn's end)."""

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get("/events/?" + "&".join(f"t={turn_id}.0" for turn_id in turn_ids))
        chunks = aiter(response.streaming_content)
        text = ""
        try:
            async with asyncio.timeout(20):
                async for chunk in chunks:
                    text += chunk.decode() if isinstance(chunk, bytes) else chunk
                    if "event: hello" in text:
                        opened.set()
                    if until_text in text:
                        break
        finally:
            await chunks.aclose()
            if live._watcher is not None:
                live._watcher.close(wait=True)
                live._watcher = None
        result.append(text)

    try:
        asyncio.run(scenario())
    finally:
        reads.release_connections()


def test_an_answer_ended_while_its_page_had_the_stream_open_sends_nothing(run_now, fake_api, mailbox, ann, settings):
    settings.LIVE_EVENTS_INTERVAL_MS = 10
    opened, result, streams = threading.Event(), [], []
    bob = factories.user("bob", email="bob@example.com")

    def reply(body):  # the answer arrives once the page's stream is open and has noted the turn
        try:
            turn = _only_in_progress(ann)
            forged = factories.turn(factories.conversation(bob, title="Bob's"), status=Turn.Status.IN_PROGRESS)
            pages = [turn.pk, forged.pk, uuid.uuid4()]
            stream = threading.Thread(target=_open_stream, args=(ann, pages, '"status":"completed"', opened, result))
            stream.start()
            streams.append(stream)
            assert opened.wait(10)
            wait_for(lambda: TurnSeen.objects.filter(turn=turn).exists())
        finally:
            connection.close()
        return "Pushed to the page"

    fake_api.reply = reply
    turn = run_now(services.conversation_create, owner=ann, prompt="Push it")
    streams[0].join(20)
    assert '"status":"completed"' in result[0]  # the page was told of the end, so it showed it
    assert turn.status == "completed"
    assert not EmailNotice.objects.exists()
    # Another user's turn, or an unknown id, named by the page is not noted (only its user's running turns).
    assert list(TurnSeen.objects.values_list("turn_id", flat=True)) == [turn.pk]


def test_the_stream_notes_its_turns_again_and_again_while_it_is_open(ann, settings, monkeypatch):
    settings.LIVE_EVENTS_INTERVAL_MS = 10
    monkeypatch.setattr(rules, "SEEN_TOUCH_SECONDS", 0.1)
    turn = factories.turn(factories.conversation(ann, title="Long"), status=Turn.Status.IN_PROGRESS)
    opened, result = threading.Event(), []
    stream = threading.Thread(target=_open_stream, args=(ann, [turn.pk], '"status":"completed"', opened, result))
    stream.start()
    assert opened.wait(10)
    first = wait_for(lambda: TurnSeen.objects.filter(turn=turn).values_list("seen_at", flat=True).first())
    wait_for(lambda: TurnSeen.objects.get(turn=turn).seen_at > first)
    now = timezone.now()
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.COMPLETED, completed_at=now, updated_at=now)
    stream.join(30)
    assert '"status":"completed"' in result[0]


def test_a_page_closed_well_before_the_end_did_not_show_it(ann, mailbox, clock):
    clock(WHEN)
    turn = factories.turn(factories.conversation(ann, title="Walked away"), status=Turn.Status.IN_PROGRESS)
    client_for(ann).get(f"/t/{turn.pk}/live/")  # the page polled it, then the tab was closed
    clock(WHEN + rules.shown_window() - timedelta(seconds=1))
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.COMPLETED, completed_at=timezone.now(), attempts=1)
    notices.turn_ended(turn_id=str(turn.pk))
    assert not EmailNotice.objects.exists()  # it ended within the window: a page showed it
    clock(WHEN + rules.shown_window() + timedelta(seconds=1))
    Turn.objects.filter(pk=turn.pk).update(completed_at=timezone.now(), attempts=2)  # a Retry, ended later
    notices.turn_ended(turn_id=str(turn.pk))
    assert [m["Subject"] for m in mailbox.wait_for(1)] == ["Walked away"]


def test_the_notice_of_an_attempt_is_written_once_whoever_runs_it_again(ann, mailbox):
    turn = factories.turn(factories.conversation(ann, title="Once"), status=Turn.Status.COMPLETED, attempts=1)
    for _ in range(3):
        notices.turn_ended(turn_id=str(turn.pk))
    mailbox.wait_for(1)
    assert EmailNotice.objects.filter(kind="answer_done").count() == 1
    assert len(mailbox.messages) == 1


def test_a_mail_server_that_is_down_never_fails_the_answer_and_the_email_is_retried(run_now, fake_api, mailbox, ann):
    mailbox.stop()  # nothing listens on its port: connection refused
    HUEY.storage.flush_schedule()
    turn = run_now(services.conversation_create, owner=ann, prompt="Still answered")
    assert turn.status == Turn.Status.COMPLETED and turn.output_text.startswith("Echo: Still answered")
    notice = EmailNotice.objects.get(kind="answer_done")
    assert notice.sent_at is None and notice.attempts == 1 and "Connection" in notice.error
    # The retry waits in Huey's schedule, a minute ahead.
    [retry] = HUEY.scheduled()
    assert retry.name.endswith("email_send_task") and retry.args == (notice.pk,)
    assert timedelta(seconds=50) < _from_now(retry) < timedelta(seconds=70)
    # A refusal (451) is retried too, later still.
    mailbox.start()
    mailbox.refuse = True
    HUEY.storage.flush_schedule()
    HUEY.execute(retry, timestamp=retry.eta)
    notice.refresh_from_db()
    assert notice.sent_at is None and notice.attempts == 2 and "451" in notice.error and mailbox.refused == 1
    [retry] = HUEY.scheduled()
    assert timedelta(seconds=110) < _from_now(retry) < timedelta(seconds=130)
    # The server is back: the next retry delivers it, once.
    mailbox.refuse = False
    HUEY.storage.flush_schedule()
    HUEY.execute(retry, timestamp=retry.eta)
    [message] = mailbox.wait_for(1)
    assert "Echo: Still answered" in message.text
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.attempts == 3 and notice.error == ""
    assert not HUEY.scheduled()


def test_deciding_an_answers_emails_never_raises_into_the_worker(ann, mailbox, caplog):
    notices.turn_ended(turn_id="not-a-turn-id")  # the lookup itself fails: logged, nothing raised
    assert "its emails could not be decided" in caplog.text
    turn = factories.turn(factories.conversation(ann, title="Fine"), status=Turn.Status.COMPLETED, attempts=1)
    notices.turn_ended(turn_id=turn.pk)
    assert [m["Subject"] for m in mailbox.wait_for(1)] == ["Fine"]


def test_an_answer_the_sweep_marks_interrupted_is_emailed_unless_a_page_showed_it(ann, mailbox, clock):
    """The worker died mid-answer: the recovery sweep fails the turn as interrupted, and that end brings its
    email under the same rule as any other (none for the one a page was showing)."""
    clock(WHEN)
    lease_over = WHEN + timedelta(minutes=5)
    left = factories.turn(factories.conversation(ann, title="Left alone"), status=Turn.Status.IN_PROGRESS,
                          attempts=1, mode="sync", lease_expires_at=WHEN + timedelta(seconds=30))  # fmt: skip
    watched = factories.turn(factories.conversation(ann, title="Watched"), status=Turn.Status.IN_PROGRESS,
                             attempts=1, mode="sync", lease_expires_at=WHEN + timedelta(seconds=30))  # fmt: skip
    clock(lease_over - timedelta(seconds=5))
    client_for(ann).get(f"/t/{watched.pk}/live/")  # a page polls it until the sweep ends it
    clock(lease_over)
    assert tasks.turns_recover()["interrupted"] == 2
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "Left alone" and message.rcpt_tos == ["ann@example.com"]
    assert "failed" in message.text and "interrupted because the worker stopped" in message.text
    assert f"{SITE}/c/{left.conversation_id}/?turn={left.pk}#turn-{left.pk}" in message.text
    assert list(EmailNotice.objects.values_list("key", flat=True)) == [f"{left.pk}:1:interrupted"]
    # A second sweep finds nothing more: no second email.
    assert tasks.turns_recover()["interrupted"] == 0
    assert EmailNotice.objects.count() == 1 and len(mailbox.messages) == 1
