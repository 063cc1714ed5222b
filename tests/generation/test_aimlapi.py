"""The AI/ML API client against the fake server on loopback."""

import time

import pytest

from conversations.generation import aimlapi
from tests.helpers import once, wait_for

BODY = aimlapi.build_body(model="openai/gpt-5-pro", input=[{"role": "user", "content": "Hi there"}])


def test_it_assembles_text_and_usage(fake_api):
    result = aimlapi.create_response(BODY)
    assert result.status == "completed"
    assert result.text.startswith("Echo: Hi there")
    assert result.id.startswith("resp_")
    assert result.usage.input_tokens > 0
    assert result.usage.reasoning_tokens == 64
    assert result.usage.output_tokens >= 64
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    assert result.usage.usd_spent is not None
    assert result.raw["object"] == "response"


def test_it_sends_bearer_key_and_no_sampling_parameters(fake_api):
    aimlapi.create_response({**BODY, "instructions": "Be brief"})
    request = fake_api.post_requests[0]
    assert request["headers"]["authorization"] == "Bearer test-key-not-real"
    assert "temperature" not in request["json"] and "top_p" not in request["json"]
    assert request["json"]["instructions"] == "Be brief"
    assert request["json"]["store"] is False


def test_build_body_sends_reasoning_only_when_given():
    body = aimlapi.build_body(model="openai/gpt-5-pro", input="x", max_output_tokens=500)
    assert "reasoning" not in body
    assert body["max_output_tokens"] == 500
    other = aimlapi.build_body(model="openai/gpt-5.6-sol-pro", input="x", reasoning_effort="low")
    assert other["reasoning"] == {"effort": "low"}


def test_it_treats_ids_as_opaque(fake_api):
    fake_api.id_prefix = "vlBAC8PE7nmIAtGg3T8B-"
    assert aimlapi.create_response(BODY).id.startswith("vlBAC8PE7nmIAtGg3T8B-")


def test_text_falls_back_to_output_text():
    body = {"id": "x", "status": "completed", "output": [{"type": "reasoning", "summary": []}], "output_text": "Hi"}
    assert aimlapi.parse_response(body).text == "Hi"


def test_text_joins_message_parts_only():
    body = {
        "id": "x",
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "secret thoughts"}]},
            {
                "type": "message",
                "content": [{"type": "output_text", "text": "A"}, {"type": "output_text", "text": "B"}],
            },
        ],
        "output_text": "ignored",
    }
    assert aimlapi.parse_response(body).text == "AB"


def test_usage_details_may_be_null():
    body = {
        "id": "x",
        "status": "completed",
        "usage": {
            "input_tokens": 3,
            "output_tokens": 5,
            "total_tokens": 8,
            "input_tokens_details": None,
            "output_tokens_details": None,
        },
    }
    usage = aimlapi.parse_response(body).usage
    assert (usage.input_tokens, usage.cached_tokens, usage.reasoning_tokens, usage.total_tokens) == (3, None, None, 8)


def test_a_200_with_status_failed_is_a_result_not_an_exception(fake_api):
    fake_api.faults = [("failed",)]
    result = aimlapi.create_response(BODY)
    assert result.status == "failed"
    assert result.error_code == "server_error"
    assert "failed" in result.error_message


def test_incomplete_carries_its_reason(fake_api):
    fake_api.faults = [("incomplete",)]
    result = aimlapi.create_response(BODY)
    assert result.status == "incomplete"
    assert result.incomplete_reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        (("status", 401), "auth_error", "AIMLAPI_KEY"),  # AI/ML API shape {"message", "statusCode"}
        (("status", 403), "forbidden", "credits"),
        (("429_quota",), "quota_exceeded", "quota"),  # OpenAI shape {"error": {...}}
        (("status", 400), "bad_request", "Body validation error"),
    ],
)
def test_permanent_errors_are_not_retried(fake_api, fault, code, words):
    fake_api.faults = [fault]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == code
    assert words in info.value.message
    assert not info.value.retryable
    assert fake_api.post_count == 1
    assert "test-key-not-real" not in str(info.value)


def test_rate_limit_is_retried_honouring_retry_after(fake_api):
    fake_api.faults = [("429", 1), ("429", None)]
    start = time.monotonic()
    result = aimlapi.create_response(BODY)
    assert result.status == "completed"
    assert fake_api.post_count == 3
    assert time.monotonic() - start >= 1.0


def test_a_retry_after_over_the_cap_means_try_later_at_once(fake_api, settings):
    """reliability.md §5 case 3: no wait longer than the cap, no repeats; the worker is free at once."""
    settings.AIMLAPI_RETRY_AFTER_MAX = 0.2
    fake_api.faults = [("429", 3600)]
    start = time.monotonic()
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert time.monotonic() - start < 2
    assert fake_api.post_count == 1
    assert "try again later" in info.value.message and info.value.retryable


def test_a_retry_after_within_the_cap_is_waited_for(fake_api, settings):
    settings.AIMLAPI_RETRY_AFTER_MAX = 5
    fake_api.faults = [("429", 0.3)]
    start = time.monotonic()
    assert aimlapi.create_response(BODY).status == "completed"
    assert time.monotonic() - start >= 0.3
    assert fake_api.post_count == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_reported(fake_api, settings, status):
    settings.AIMLAPI_MAX_ATTEMPTS = 3
    fake_api.faults = [("status", status)] * 3
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert fake_api.post_count == 3
    assert info.value.retryable
    assert str(status) in info.value.message


def test_connection_refused_is_retried_then_reported(settings):
    settings.AIMLAPI_MAX_ATTEMPTS = 2
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "connect_error"
    assert info.value.retryable


def test_read_timeout_is_never_resent(fake_api, settings):
    settings.AIMLAPI_READ_TIMEOUT = 0.3
    fake_api.faults = [("slow", 2)]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "timeout"
    assert fake_api.post_count == 1


def test_dropped_connection_after_send_is_never_resent(fake_api):
    fake_api.faults = [("drop",)]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "connection_dropped"
    assert fake_api.post_count == 1


def test_a_body_that_is_not_json_is_reported(fake_api):
    fake_api.faults = [("non_json",)]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "bad_response"
    assert "not JSON" in info.value.message


def test_missing_key_fails_with_instructions(settings, fake_api):
    settings.AIMLAPI_KEY = ""
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert "AIMLAPI_KEY" in info.value.message
    assert fake_api.post_count == 0


def test_stream_collects_deltas(fake_api):
    seen = []
    result = aimlapi.stream_response(BODY, on_event=lambda text, rid: seen.append(text))
    assert result.status == "completed"
    assert result.text.startswith("Echo: Hi there")
    assert result.usage.total_tokens > 0
    assert fake_api.post_requests[0]["json"]["stream"] is True
    assert any(0 < len(text) < len(result.text) for text in seen)


def test_stream_takes_text_from_deltas_when_final_output_is_empty(fake_api):
    fake_api.stream_empty_final_output = True
    result = aimlapi.stream_response(BODY)
    assert result.text.startswith("Echo: Hi there")


@pytest.mark.parametrize("fault", [("stream_cut",), ("stream_cut", "clean"), ("stream_error",)])
def test_broken_stream_keeps_partial_text(fake_api, fault):
    fake_api.faults = [fault]
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(BODY)
    assert info.value.partial_text
    assert fake_api.post_count == 1


def test_stream_stops_when_aborted_between_events(fake_api):
    fake_api.latency = 1
    abort = aimlapi.Abort()
    result = aimlapi.stream_response(BODY, on_event=lambda text, rid: abort.abort(), abort=abort)
    assert result.status == "cancelled"


@pytest.mark.parametrize("stream", [False, True])
def test_abort_cuts_a_call_that_is_waiting_for_the_provider(fake_api, stream):
    fake_api.faults = [("slow", 10)]  # the provider is silent (reasoning) for 10 s
    abort = aimlapi.Abort()
    once(lambda: fake_api.post_count, abort.abort)  # Stop, while the provider is silent
    start = time.monotonic()
    if stream:
        assert aimlapi.stream_response(BODY, abort=abort).status == "cancelled"
    else:
        with pytest.raises(aimlapi.AimlApiError) as info:
            aimlapi.create_response(BODY, abort=abort)
        assert info.value.code == "cancelled"
    assert time.monotonic() - start < 3
    assert fake_api.post_count == 1


def test_background_create_poll_and_cancel(fake_api):
    fake_api.latency = 0.3
    created = aimlapi.create_response(BODY, background=True)
    assert created.status in ("queued", "in_progress")
    assert fake_api.post_requests[0]["json"]["background"] is True
    assert fake_api.post_requests[0]["json"]["store"] is True
    done = wait_for(lambda: (r := aimlapi.retrieve_response(created.id)).status == "completed" and r)
    assert done.text

    fake_api.latency = 5
    other = aimlapi.create_response(BODY, background=True)
    cancelled = aimlapi.cancel_response(other.id)
    assert cancelled.status == "cancelled"
    assert fake_api.cancel_calls == [other.id]


def test_unknown_response_id_is_an_error(fake_api):
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.retrieve_response("nope")
    assert info.value.status_code == 404


def test_the_key_never_reaches_logs_or_errors(fake_api, caplog, settings):
    settings.AIMLAPI_KEY = "sk-SENTINEL-KEY-123"
    settings.AIMLAPI_MAX_ATTEMPTS = 2
    fake_api.faults = [("status", 500), ("status", 401)]
    with caplog.at_level("DEBUG"), pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert "SENTINEL" not in caplog.text
    assert "SENTINEL" not in str(info.value) and "SENTINEL" not in repr(info.value.raw)
