"""Retry keeps what an attempt wrote (issue 19, item 9): a stopped or cut-short answer with text stays as
a version of its place, the retry is the next one; an attempt that wrote nothing is retried in place."""

from conversations.chat import selectors, services
from conversations.models import Turn
from tests import factories


def _stopped(alice, *, text="Half an ans", thinking=""):
    conversation = factories.conversation(owner=alice)
    first = factories.turn(conversation=conversation, prompt="Earlier", status="completed", output_text="ok")
    return factories.turn(
        conversation=conversation,
        prompt="Write it all",
        parent=first,
        status="cancelled",
        output_text=text,
        output_html=f"<p>{text}</p>",
        thinking=thinking,
        error_code="cancelled",
        error_message="Stopped by the user.",
        attempts=1,
    )


def test_a_stopped_answer_with_text_stays_as_a_version(alice, fake_api, run_now):
    stopped = _stopped(alice)
    retried = run_now(services.turn_retry, turn=stopped)
    assert retried.id != stopped.id
    assert (retried.prompt, retried.parent_id, retried.status) == ("Write it all", stopped.parent_id, "completed")
    stopped.refresh_from_db()
    assert (stopped.status, stopped.output_text, stopped.attempts) == ("cancelled", "Half an ans", 1)
    # The page shows the retry, version 2 of 2, and the stopped one is the version before it.
    stopped.conversation.refresh_from_db()
    assert stopped.conversation.current_turn_id == retried.id
    tree = selectors.conversation_tree(conversation=stopped.conversation)
    assert tree.newest_below(stopped.id) == stopped.id and tree.newest_below(retried.id) == retried.id
    assert set(Turn.objects.filter(parent=stopped.parent).values_list("id", flat=True)) == {stopped.id, retried.id}


def test_only_thinking_is_kept_too(alice, fake_api, run_now):
    stopped = _stopped(alice, text="", thinking="**Planning**\n\nFirst the outline.")
    retried = run_now(services.turn_retry, turn=stopped)
    assert retried.id != stopped.id
    assert Turn.objects.get(id=stopped.id).thinking.startswith("**Planning**")


def test_an_attempt_that_wrote_nothing_is_retried_in_place(alice, fake_api, run_now):
    stopped = _stopped(alice, text="  ")
    retried = run_now(services.turn_retry, turn=stopped)
    assert retried.id == stopped.id and retried.status == "completed" and retried.attempts == 2
    assert retried.history[0]["status"] == "cancelled"
    assert Turn.objects.filter(conversation=stopped.conversation).count() == 2


def test_a_follow_up_held_behind_it_keeps_the_retry_in_place(alice, fake_api):
    stopped = _stopped(alice)
    held = factories.turn(conversation=stopped.conversation, prompt="And then?", parent=stopped, status="waiting")
    retried = services.turn_retry(turn=stopped)
    assert retried.id == stopped.id
    assert Turn.objects.get(id=held.id).parent_id == stopped.id
