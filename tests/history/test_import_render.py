"""Imported answers are written without HTML and rendered afterwards by the worker
(conversations/history/importer.py `answers_render`, `tasks.imported_answers_render_task`);
until then the page and share snapshots render them themselves."""

from datetime import timedelta

import pytest

from conversations import tasks
from conversations.chat import rendering
from conversations.history import importer
from conversations.models import Conversation, Share, Turn
from tests.helpers import client_for
from tests.history.test_transfer import export_all, rich_conversation, upload

pytestmark = pytest.mark.django_db

MARKDOWN = "Here is **the plan**:\n\n| step | owner |\n|---|---|\n| ship | Ana |\n\n```python\nprint(1 < 2)\n```"


@pytest.fixture
def queued(monkeypatch):
    """The render task is recorded, not run: what an import leaves for the worker."""
    calls = []
    monkeypatch.setattr(tasks, "imported_answers_render_task", calls.append)
    return calls


def imported_for(owner, source_owner, queued_calls) -> Conversation:
    source = rich_conversation(source_owner)
    # The last answer of the path on screen carries the Markdown the page and the share must render.
    last = source.turns.filter(status=Turn.Status.COMPLETED).order_by("-created_at").first()
    source.turns.filter(pk=last.pk).update(output_text=MARKDOWN)
    source.turns.filter(parent=last).delete()
    Conversation.objects.filter(pk=source.pk).update(current_turn=last)
    response = upload(client_for(owner), export_all(client_for(source_owner)))
    assert response.status_code == 302
    assert queued_calls == [owner.pk]  # one task for the whole import
    return Conversation.objects.get(owner=owner)


def test_an_import_writes_answers_without_html_and_queues_one_render(alice, bob, queued):
    conversation = imported_for(bob, alice, queued)
    turns = conversation.turns.all()
    assert turns.count() == Turn.objects.filter(conversation__owner=alice).count()
    assert all(turn.output_html == "" for turn in turns)


def test_an_import_of_nothing_new_queues_nothing(alice, bob, queued):
    imported_for(bob, alice, queued)
    upload(client_for(bob), export_all(client_for(alice)))  # all skipped: already here
    assert queued == [bob.pk]


def test_the_page_renders_an_answer_not_rendered_yet(alice, bob, queued):
    conversation = imported_for(bob, alice, queued)
    page = client_for(bob).get(conversation.get_absolute_url()).content.decode()
    assert "<strong>the plan</strong>" in page and "<table>" in page
    assert 'class="code highlight"' in page and "**the plan**" not in page.split("answer-source")[0]


def test_a_share_made_before_rendering_shows_the_answer_rendered(alice, bob, queued):
    conversation = imported_for(bob, alice, queued)
    response = client_for(bob).post(f"/c/{conversation.id}/share/", {})
    assert response.status_code == 302
    share = Share.objects.get(conversation=conversation)
    [first] = [item for item in share.snapshot if "the plan" in item["answer_html"]]
    assert first["answer_html"] == rendering.markdown_to_html(MARKDOWN) and first["answer_text"] == ""
    page = client_for(alice).get(f"/s/{share.token}/").content.decode()
    assert "<strong>the plan</strong>" in page and "**the plan**" not in page


def test_the_render_task_renders_every_imported_answer_once_and_keeps_their_times(alice, bob, queued):
    conversation = imported_for(bob, alice, queued)
    before = {turn.id: turn.updated_at for turn in conversation.turns.all()}
    with_text = conversation.turns.exclude(output_text="").count()
    assert importer.answers_render(owner_id=bob.pk, batch_size=1, chunk_size=1) == with_text
    for turn in conversation.turns.all():
        assert turn.output_html == (rendering.markdown_to_html(turn.output_text) if turn.output_text else "")
        assert turn.updated_at == before[turn.id]
    assert importer.answers_render(owner_id=bob.pk) == 0  # nothing left: running it again writes nothing


def test_the_render_task_touches_only_that_owners_imported_answers(alice, bob, queued):
    imported_for(bob, alice, queued)
    own = Turn.objects.filter(conversation__owner=alice).exclude(output_text="")
    own.update(output_html="")  # alice's own turns without HTML are not the import's to render
    importer.answers_render(owner_id=alice.pk)
    assert not own.exclude(output_html="").exists()
    assert Turn.objects.filter(conversation__owner=bob, output_html="").exclude(output_text="").exists()


def test_an_answer_written_meanwhile_is_never_overwritten(alice, bob, queued, monkeypatch):
    conversation = imported_for(bob, alice, queued)
    target = conversation.turns.get(output_text=MARKDOWN)
    real = rendering.markdown_to_html

    def render_then_retry_lands(text: str) -> str:
        html = real(text)
        if text == MARKDOWN:  # a Retry's answer is saved while this one was being rendered
            Turn.objects.filter(id=target.id).update(
                output_text="New answer", output_html="<p>New answer</p>", updated_at=target.updated_at + timedelta(1)
            )
        return html

    monkeypatch.setattr(rendering, "markdown_to_html", render_then_retry_lands)
    importer.answers_render(owner_id=bob.pk)
    target.refresh_from_db()
    assert (target.output_text, target.output_html) == ("New answer", "<p>New answer</p>")


def test_with_an_immediate_queue_the_import_leaves_every_answer_rendered(alice, bob):
    rich_conversation(alice)
    upload(client_for(bob), export_all(client_for(alice)))
    for turn in Turn.objects.filter(conversation__owner=bob):
        assert turn.output_html == (rendering.markdown_to_html(turn.output_text) if turn.output_text else "")
