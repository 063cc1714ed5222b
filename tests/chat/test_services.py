"""Services: creating, running, cancelling, retrying and recovering turns."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversations import tasks
from conversations.chat import services
from conversations.generation import aimlapi, worker
from conversations.models import Conversation, Turn
from conversations.usage import ledger


def test_the_prompt_is_stored_before_any_network_call(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        turn = services.conversation_create(owner=alice, prompt="Keep me safe")
    assert Turn.objects.get(id=turn.id).status == "queued"
    assert turn.conversation.title == "Keep me safe"
    assert len(callbacks) == 1  # the task is enqueued only after the commit


def test_a_turn_completes_with_id_text_usage_and_cost(alice, fake_api, run_now):
    turn = run_now(services.conversation_create, owner=alice, prompt="Hello")
    turn.refresh_from_db()
    assert turn.status == "completed"
    assert turn.response_id.startswith("resp_")
    assert turn.output_text.startswith("Echo: Hello")
    assert "<p>" in turn.output_html
    assert turn.input_tokens and turn.output_tokens and turn.total_tokens
    assert turn.reasoning_tokens == 64 and turn.cached_tokens == 0
    assert turn.cost_usd > 0
    assert turn.model == "openai/gpt-5-pro"
    assert turn.attempts == 1
    assert turn.started_at <= turn.completed_at
    assert turn.response_json["id"] == turn.response_id
    assert "test-key-not-real" not in str(turn.response_json)


def test_multi_turn_sends_history_and_instructions(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="First question")
    conversation = first.conversation
    services.conversation_update(conversation=conversation, instructions="Answer in French")
    run_now(services.turn_create, conversation=conversation, prompt="Second question")
    third = run_now(services.turn_create, conversation=conversation, prompt="Third question")
    third.refresh_from_db()
    assert "turns=3" in third.output_text
    sent = fake_api.post_requests[-1]["json"]
    assert sent["instructions"] == "Answer in French"
    assert [item["role"] for item in sent["input"]] == ["user", "assistant", "user", "assistant", "user"]
    assert sent["input"][0]["content"] == "First question"
    assert sent["input"][1]["content"].startswith("Echo: First question")
    assert sent["input"][-1]["content"] == "Third question"


def test_failed_turns_are_left_out_of_later_input(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="Good one")
    fake_api.faults = [("status", 400)]
    failed = run_now(services.turn_create, conversation=first.conversation, prompt="Bad one")
    failed.refresh_from_db()
    assert failed.status == "failed"
    run_now(services.turn_create, conversation=first.conversation, prompt="Next one")
    contents = [item["content"] for item in fake_api.post_requests[-1]["json"]["input"]]
    assert "Bad one" not in contents
    assert contents[0] == "Good one" and contents[-1] == "Next one"


def test_one_active_turn_per_conversation(alice, django_capture_on_commit_callbacks):
    turn = services.conversation_create(owner=alice, prompt="Slow one")
    # A follow-up waits for it (tests/chat/test_queue.py); another version of an answer is refused.
    follow_up = services.turn_create(conversation=turn.conversation, prompt="Impatient")
    assert follow_up.status == "waiting"
    with pytest.raises(services.TurnInFlight):
        services.turn_regenerate(turn=turn)
    assert turn.conversation.turns.count() == 2
    assert turn.conversation.turns.filter(status__in=Turn.ACTIVE).count() == 1


def test_the_same_form_token_lands_on_the_first_turn(alice):
    token = uuid.uuid4()
    first = services.conversation_create(owner=alice, prompt="Once", client_token=token)
    again = services.conversation_create(owner=alice, prompt="Once", client_token=token)
    assert again.id == first.id
    assert Conversation.objects.count() == 1


def test_a_token_of_another_user_is_not_reused(alice, bob):
    token = uuid.uuid4()
    services.conversation_create(owner=alice, prompt="Mine", client_token=token)
    assert services._turn_by_token(bob, token) is None


def test_upstream_failure_leaves_a_visible_retryable_turn(alice, fake_api, run_now):
    fake_api.faults = [("status", 401)]
    turn = run_now(services.conversation_create, owner=alice, prompt="Do not lose me")
    turn.refresh_from_db()
    assert turn.status == "failed"
    assert turn.error_code == "auth_error"
    assert "AIMLAPI_KEY" in turn.error_message
    assert turn.prompt == "Do not lose me"
    assert turn.can_retry


def test_no_api_key_fails_the_turn_with_instructions(alice, settings, run_now):
    settings.AIMLAPI_KEY = ""
    turn = run_now(services.conversation_create, owner=alice, prompt="Hi")
    turn.refresh_from_db()
    assert turn.status == "failed"
    assert "AIMLAPI_KEY" in turn.error_message


def test_status_failed_and_incomplete_are_recorded(alice, fake_api, run_now):
    fake_api.faults = [("failed",)]
    failed = run_now(services.conversation_create, owner=alice, prompt="a")
    failed.refresh_from_db()
    assert failed.status == "failed" and "failed to answer" in failed.error_message
    assert failed.input_tokens  # usage of a failed answer is still recorded
    fake_api.faults = [("incomplete",)]
    incomplete = run_now(services.conversation_create, owner=alice, prompt="b")
    incomplete.refresh_from_db()
    assert incomplete.status == "incomplete"
    assert "max_output_tokens" in incomplete.error_message
    assert incomplete.output_text  # the partial answer is kept


def test_retry_reruns_the_same_turn_and_keeps_history(alice, fake_api, run_now):
    fake_api.faults = [("status", 500)] * 10
    turn = run_now(services.conversation_create, owner=alice, prompt="Try again")
    turn.refresh_from_db()
    assert turn.status == "failed"
    fake_api.faults = []
    run_now(services.turn_retry, turn=turn)
    turn.refresh_from_db()
    assert turn.status == "completed"
    assert turn.attempts == 2
    assert turn.history[0]["error_code"] == "server_error"
    assert Turn.objects.count() == 1


def test_only_finished_turns_can_be_retried(alice):
    turn = services.conversation_create(owner=alice, prompt="Running")
    with pytest.raises(services.TurnNotRetryable):
        services.turn_retry(turn=turn)


def test_cancel_wins_over_a_late_answer(alice, fake_api):
    turn = services.conversation_create(owner=alice, prompt="Stop me")
    assert services.turn_cancel(turn=turn)
    worker.turn_run(turn_id=turn.id)  # a task that was already queued
    turn.refresh_from_db()
    assert turn.status == "cancelled"
    assert fake_api.post_count == 0


def test_cost_is_tokens_at_the_catalogue_price(db):
    usage = aimlapi.Usage(input_tokens=1_000_000, output_tokens=1_000_000, usd_spent=1.5)
    # The provider's figure is stored beside the computed cost, never instead of it.
    assert ledger.usage_cost("openai/gpt-5-pro", usage) == Decimal("185.679")
    assert ledger.usage_cost("unknown/model", usage) is None


def test_stale_sync_turn_is_marked_interrupted(alice):
    turn = services.conversation_create(owner=alice, prompt="Worker died")
    past = timezone.now() - timedelta(minutes=5)
    Turn.objects.filter(id=turn.id).update(status="in_progress", attempts=1, mode="sync", lease_expires_at=past)
    assert tasks.turns_recover()["interrupted"] == 1
    turn.refresh_from_db()
    assert turn.status == "failed" and turn.error_code == "interrupted"
    assert "Retry" in turn.error_message


def test_regenerate_adds_a_version_and_keeps_the_earlier_one(alice, fake_api, run_now):
    first = run_now(services.conversation_create, owner=alice, prompt="Question A")
    second = run_now(services.turn_create, conversation=first.conversation, prompt="Question B")
    edited = run_now(services.turn_regenerate, turn=first, prompt="Question A, edited")
    first.refresh_from_db()
    second.refresh_from_db()
    edited.refresh_from_db()
    # Another version of the first turn: same place (no parent), and the earlier branch is kept whole.
    assert (edited.parent_id, first.parent_id, second.parent_id) == (None, None, first.id)
    assert first.output_text and second.output_text  # the earlier answers are kept
    assert edited.status == "completed" and edited.prompt == "Question A, edited"
    sent = fake_api.post_requests[-1]["json"]["input"]
    assert sent == [{"role": "user", "content": "Question A, edited"}]
    again = run_now(services.turn_regenerate, turn=edited)
    assert again.prompt == "Question A, edited" and again.parent_id is None
    assert Turn.objects.count() == 4
    assert Conversation.objects.get().current_turn_id == again.id  # the newest version is on screen


def test_regenerate_is_refused_while_a_turn_runs(alice):
    first = services.conversation_create(owner=alice, prompt="running")
    with pytest.raises(services.TurnInFlight):
        services.turn_regenerate(turn=first)
