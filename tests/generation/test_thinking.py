"""The model's thinking (issue 17): reasoning summaries asked for, read back on both endpoints in every mode,
and kept on the turn only where the catalogue says the model returns them.

Everything goes through the real client against the fake AI/ML API on loopback (tests/fake_aimlapi.py).
"""

import pytest

from conversations.chat import services
from conversations.generation import aimlapi
from conversations.generation.attempts import Attempt
from conversations.models import AIModel, Turn
from conversations.usage import catalog
from tests.fake_aimlapi import DEFAULT_THINKING
from tests.helpers import wait_for

PRO, SOL = "openai/gpt-5-pro", "openai/gpt-5.6-sol-pro"
MESSAGES = [{"role": "user", "content": "Hi there"}]
ASKING = aimlapi.build_body(model=PRO, input=MESSAGES, reasoning_summary=True)
PLAIN = aimlapi.build_body(model=PRO, input=MESSAGES)


def _sent(fake_api, index: int = 0) -> dict:
    return fake_api.post_requests[index]["json"]


# --- What is asked -------------------------------------------------------------------------------


def test_a_summary_is_asked_for_beside_the_effort_and_only_when_wanted():
    assert ASKING["reasoning"] == {"summary": "auto"}
    assert "reasoning" not in PLAIN
    both = aimlapi.build_body(model=SOL, input="x", reasoning_effort="low", reasoning_summary=True)
    assert both["reasoning"] == {"effort": "low", "summary": "auto"}
    # Chat Completions has no field for it: its `message.reasoning` comes unasked.
    chat = aimlapi.build_body(
        api=aimlapi.API_CHAT, model=SOL, input="x", reasoning_effort="low", reasoning_summary=True
    )
    assert "reasoning" not in chat and chat["reasoning_effort"] == "low"


# --- Read back: /v1/responses --------------------------------------------------------------------


def test_a_sync_answer_carries_its_summary_when_asked_and_none_otherwise(fake_api):
    asked = aimlapi.create_response(ASKING)
    assert asked.thinking == DEFAULT_THINKING and asked.text.startswith("Echo: Hi there")
    assert _sent(fake_api, 0)["reasoning"] == {"summary": "auto"}
    plain = aimlapi.create_response(PLAIN)
    assert plain.thinking == "" and "reasoning" not in _sent(fake_api, 1)


def test_a_stream_gives_the_summary_as_it_grows_before_the_answer(fake_api):
    seen: list[tuple[str, str]] = []  # (text, summary) at each event
    thinking = [""]

    def on_thinking(summary: str) -> None:
        thinking[0] = summary

    result = aimlapi.stream_response(
        ASKING, on_event=lambda text, rid: seen.append((text, thinking[0])), on_thinking=on_thinking
    )
    assert result.status == "completed" and result.thinking == DEFAULT_THINKING
    summaries = [summary for _, summary in seen]
    assert len(set(summaries)) > 4  # it grew delta by delta
    assert all(DEFAULT_THINKING.startswith(summary) for summary in summaries)  # in order, parts apart
    assert any(summary == DEFAULT_THINKING and text == "" for text, summary in seen)  # all of it before any text


def test_a_stream_not_asking_has_no_summary_events(fake_api):
    told = []
    result = aimlapi.stream_response(PLAIN, on_thinking=told.append)
    assert result.thinking == "" and told == []


def test_a_stream_whose_last_event_lacks_the_output_keeps_the_streamed_summary(fake_api):
    fake_api.stream_empty_final_output = True
    result = aimlapi.stream_response(ASKING)
    assert result.thinking == DEFAULT_THINKING and result.text.startswith("Echo: Hi there")


@pytest.mark.parametrize("fault", [("stream_cut",), ("stream_error",)])
def test_a_broken_stream_keeps_the_summary_that_arrived(fake_api, fault):
    fake_api.faults = [fault]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(ASKING)
    assert info.value.partial_thinking == DEFAULT_THINKING and info.value.partial_text


def test_a_summary_is_scrubbed_whole_even_when_the_key_is_split_across_deltas(fake_api, settings):
    fake_api.thinking = f"I saw {settings.AIMLAPI_KEY} somewhere"
    fake_api.stream_chunks = 20  # the key arrives in pieces
    told = []
    result = aimlapi.stream_response(ASKING, on_thinking=told.append)
    assert result.thinking == "I saw [API key removed] somewhere"
    assert all(settings.AIMLAPI_KEY not in summary for summary in told)


def test_a_background_response_shows_its_summary_while_it_runs(fake_api):
    fake_api.latency = 30
    queued = aimlapi.create_response(ASKING, background=True)
    running = wait_for(lambda: (r := aimlapi.retrieve_response(queued.id)).status == "in_progress" and r)
    assert running.thinking == DEFAULT_THINKING and running.text == ""
    fake_api.finish_all()
    done = aimlapi.retrieve_response(queued.id)
    assert done.status == "completed" and done.thinking == DEFAULT_THINKING


def test_summary_parts_of_every_reasoning_item_are_paragraphs_of_one_text():
    body = {
        "id": "r",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "One"}, {"text": "Two"}]},
            {"type": "reasoning", "summary": None},
            {"type": "message", "content": [{"type": "output_text", "text": "Answer"}]},
        ],
    }
    parsed = aimlapi.parse_response(body)
    assert (parsed.thinking, parsed.text) == ("One\n\nTwo", "Answer")


# --- A provider that refuses the field -----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_summary_field_is_sent_once_more_without_it(fake_api, stream):
    fake_api.refuse_reasoning_summary = True
    effort = {**ASKING, "reasoning": {"effort": "high", "summary": "auto"}}
    result = aimlapi.stream_response(effort) if stream else aimlapi.create_response(effort)
    assert result.status == "completed" and result.thinking == "" and result.text.startswith("Echo")
    assert fake_api.post_count == 2  # the refusal generated (and cost) nothing
    assert _sent(fake_api, 0)["reasoning"] == {"effort": "high", "summary": "auto"}
    assert _sent(fake_api, 1)["reasoning"] == {"effort": "high"}  # the effort still goes
    fake_api.reset()
    aimlapi.create_response(ASKING)
    assert "reasoning" not in _sent(fake_api, 1)  # nothing else was in it


def test_another_refusal_is_shown_after_the_one_retry(fake_api):
    fake_api.refuse_reasoning_summary = True
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response({**ASKING, "temperature": 0.2})  # what no retry can fix
    assert info.value.code == "bad_request" and "temperature" in info.value.message
    assert fake_api.post_count == 2
    fake_api.reset()
    with pytest.raises(aimlapi.AimlApiError):
        aimlapi.create_response({**PLAIN, "temperature": 0.2})
    assert fake_api.post_count == 1  # not asking for a summary: never sent twice


# --- Read back: /v1/chat/completions -------------------------------------------------------------


def test_a_chat_completion_carries_its_reasoning_sync_and_streamed(fake_api):
    body = aimlapi.build_body(api=aimlapi.API_CHAT, model=SOL, input="Hi there")
    assert aimlapi.create_response(body, api=aimlapi.API_CHAT).thinking == DEFAULT_THINKING
    told = []
    streamed = aimlapi.stream_response(body, api=aimlapi.API_CHAT, on_thinking=told.append)
    assert streamed.thinking == DEFAULT_THINKING and streamed.raw["choices"][0]["message"]["reasoning"]
    assert len(told) > 3 and told[-1] == DEFAULT_THINKING
    fake_api.reasoning_tokens = 0  # a model that did not reason sends none
    assert aimlapi.create_response(body, api=aimlapi.API_CHAT).thinking == ""


def test_a_chat_reasoning_may_come_as_details_only():
    completion = {
        "id": "gen-1",
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "content": "Answer",
                    "reasoning_details": [{"type": "reasoning.text", "text": "First"}, {"type": "reasoning.encrypted"}],
                },
            }
        ],
    }
    assert aimlapi.chat.parse_completion(completion).thinking == "First"


# --- Kept on the turn -------------------------------------------------------------------------------


@pytest.fixture
def catalogue(transactional_db):
    """The catalogue as migrated (a transactional test starts from an empty table)."""
    catalog.seed(AIModel)
    return AIModel.objects


def _switch(model: str, on: bool) -> None:
    AIModel.objects.filter(provider_id=model).update(reasoning_summaries=on, enabled=True)


@pytest.mark.parametrize("mode", ["sync", "stream", "background"])
def test_the_flag_off_asks_for_nothing_and_keeps_nothing(alice, fake_api, run_now, settings, catalogue, mode):
    settings.AIMLAPI_MODE = mode
    settings.AIMLAPI_POLL_INTERVAL = 0.05
    assert not catalogue.get(provider_id=PRO).reasoning_summaries  # gpt-5-pro ships off
    turn = run_now(services.conversation_create, owner=alice, prompt="Think quietly")
    assert turn.status == "completed" and turn.thinking == ""
    assert "reasoning" not in _sent(fake_api)


@pytest.mark.parametrize("mode", ["sync", "stream", "background"])
def test_the_flag_on_keeps_the_summary_with_the_answer(alice, fake_api, run_now, settings, catalogue, mode):
    settings.AIMLAPI_MODE = mode
    settings.AIMLAPI_POLL_INTERVAL = 0.05
    _switch(PRO, True)  # the admin's switch, to try it
    turn = run_now(services.conversation_create, owner=alice, prompt="Think aloud")
    assert turn.status == "completed" and turn.thinking == DEFAULT_THINKING
    assert _sent(fake_api)["reasoning"] == {"summary": "auto"}
    # A Retry starts from no thinking (the claim clears it), then keeps the new attempt's.
    Turn.objects.filter(id=turn.id).update(status="failed")
    fake_api.thinking = "**Again**\n\nA second look."
    turn = run_now(services.turn_retry, turn=Turn.objects.get(id=turn.id))
    assert turn.thinking == "**Again**\n\nA second look."


def test_a_refusing_provider_still_answers_the_prompt(alice, fake_api, run_now, catalogue, settings):
    settings.AIMLAPI_MODE = "stream"
    _switch(PRO, True)
    fake_api.refuse_reasoning_summary = True
    turn = run_now(services.conversation_create, owner=alice, prompt="Try it")
    assert turn.status == "completed" and turn.output_text.startswith("Echo: Try it") and turn.thinking == ""
    assert fake_api.post_count == 2


@pytest.mark.parametrize("on", [True, False])
def test_a_chat_model_keeps_its_reasoning_only_with_the_flag(alice, fake_api, run_now, settings, catalogue, on):
    settings.AIMLAPI_MODE = "stream"
    assert catalogue.get(provider_id=SOL).reasoning_summaries  # documented: on from the start
    _switch(SOL, on)
    turn = run_now(services.conversation_create, owner=alice, prompt="On chat", model=SOL)
    assert turn.status == "completed" and turn.thinking == (DEFAULT_THINKING if on else "")
    assert "reasoning" not in fake_api.chat_requests[0]["json"]  # nothing asks on this endpoint


def test_a_cut_stream_keeps_the_summary_with_the_partial_answer(alice, fake_api, run_now, settings, catalogue):
    settings.AIMLAPI_MODE = "stream"
    _switch(PRO, True)
    fake_api.faults = [("stream_cut",)]
    turn = run_now(services.conversation_create, owner=alice, prompt="Cut me")
    assert turn.status == "failed" and turn.error_code == "stream_cut"
    assert turn.thinking == DEFAULT_THINKING and turn.output_text


# --- Saved as it streams --------------------------------------------------------------------------


def _running(alice) -> Turn:
    turn = services.conversation_create(owner=alice, prompt="Plan it")
    Turn.objects.filter(id=turn.id).update(status="in_progress", attempts=1)
    turn.refresh_from_db()
    return turn


def test_a_progress_save_stores_the_summary_so_far_before_any_text(alice):
    turn = _running(alice)
    attempt = Attempt(turn)
    attempt.note_thinking("**Reading**\n\nFirst thoughts")
    attempt.save_progress("", "resp_1")
    row = Turn.objects.get(id=turn.id)
    assert (row.thinking, row.output_text, row.response_id) == ("**Reading**\n\nFirst thoughts", "", "resp_1")
    # An attempt whose model does not return summaries keeps none, even if some came.
    other = Attempt(turn)
    other.wants_thinking = False
    assert other.thinking_of("leaked") == ""
