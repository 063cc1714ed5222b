"""The provider client against a hostile upstream: whatever it sends, nothing breaks, nothing leaks."""

import json
import sys
import threading
import time

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from conversations.generation import aimlapi
from tests.helpers import once
from tests.hostile_upstream import HostileUpstream, completed, http, sse_head

BODY = {"model": "openai/gpt-5-pro", "input": "Hi"}
KEY = "sk-sentinel-KEY-4f9c2a7d1b"


@pytest.fixture
def upstream(settings):
    with HostileUpstream() as server:
        settings.AIMLAPI_BASE_URL = server.base_url
        settings.AIMLAPI_KEY = KEY
        yield server


# --- Usage is validated and clamped -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, 12), (12.0, 12), (-5, None), (3.5, None), (float("nan"), None), (float("inf"), None), (10**20, None),
     (True, None), ("12", None), (None, None), (2_147_483_647, 2_147_483_647), (2_147_483_648, None)],
)  # fmt: skip
def test_token_counts_are_validated(value, expected):
    usage = aimlapi.parse_usage({"usage": {"input_tokens": value, "output_tokens": value, "total_tokens": value}})
    assert usage.input_tokens == expected and usage.output_tokens == expected and usage.total_tokens == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.25, 0.25), (1e12, None), (-1, None), (float("nan"), None), (False, None), (3, 3.0)]
)
def test_usd_spent_is_validated(value, expected):
    usage = aimlapi.parse_usage({"usage": {"input_tokens": 1}, "meta": {"usage": {"usd_spent": value}}})
    assert usage.usd_spent == expected


def test_absurd_usage_from_the_wire_still_gives_the_answer(upstream):
    raw = json.dumps(completed("Paid", usage={"input_tokens": -1, "output_tokens": 1.5, "total_tokens": 10**30}))
    raw = raw[:-1] + ', "meta": {"usage": {"usd_spent": NaN}}, "junk": Infinity}'
    upstream.answer(http(200, raw))
    result = aimlapi.create_response(BODY)
    assert result.text == "Paid"
    assert result.usage == aimlapi.Usage()
    # What is kept for admins is JSON both databases accept.
    json.dumps(result.raw, allow_nan=False)


def test_nul_characters_never_reach_the_database(upstream):
    upstream.answer(http(200, completed("Pa\x00id", model="gpt\x00")))
    result = aimlapi.create_response(BODY)
    assert result.text == "Paid"
    assert "\x00" not in json.dumps(result.raw) and "\\u0000" not in json.dumps(result.raw)


def test_overlong_ids_and_codes_fit_their_columns(upstream):
    upstream.answer(http(200, completed("ok", id="r" * 1000, model="m" * 1000)))
    result = aimlapi.create_response(BODY)
    assert len(result.id) <= 255 and len(result.model) <= 100
    assert len(aimlapi.AimlApiError("x", code="c" * 500).code) <= 64


# --- Sizes are bounded ---------------------------------------------------------------------


def test_a_large_raw_body_is_stored_cut_with_a_note(upstream, settings):
    settings.AIMLAPI_MAX_STORED_JSON_BYTES = 4096
    upstream.answer(http(200, completed("Long answer " * 2000)))
    result = aimlapi.create_response(BODY)
    assert result.text.startswith("Long answer")  # the answer itself is whole
    assert result.raw["truncated"] is True and "only the first 4,096" in result.raw["note"]
    assert len(json.dumps(result.raw)) < 4096 * 2


def test_a_body_over_the_maximum_size_is_refused(upstream, settings):
    settings.AIMLAPI_MAX_RESPONSE_BYTES = 100_000
    upstream.answer(http(200, completed("x" * 200_000)))
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "response_too_large"
    assert upstream.post_count == 1


def test_an_endless_stream_line_is_cut(upstream, settings):
    settings.AIMLAPI_MAX_SSE_LINE_BYTES = 64 * 1024
    upstream.answer(lambda request: [sse_head(), b"data: " + b"x" * (1024 * 1024)])
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(BODY)
    assert info.value.code == "response_too_large"
    assert "AIMLAPI_MAX_SSE_LINE_BYTES" in info.value.message


def test_an_endless_event_of_short_lines_is_cut(upstream, settings):
    settings.AIMLAPI_MAX_SSE_LINE_BYTES = 64 * 1024
    upstream.answer(lambda request: [sse_head(), b"data: xxxxxxxx\n" * 20_000])
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(BODY)
    assert info.value.code == "response_too_large"


def test_a_stream_over_the_maximum_size_is_cut(upstream, settings):
    settings.AIMLAPI_MAX_RESPONSE_BYTES = 200_000
    delta = b'data: {"type":"response.output_text.delta","delta":"abcdefghij"}\n\n'
    upstream.answer(lambda request: [sse_head(), delta * 10_000])
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(BODY)
    assert info.value.code == "response_too_large"
    assert info.value.partial_text.startswith("abcdefghij")  # what arrived is kept


def test_a_long_line_split_over_many_reads_is_read_whole(upstream):
    """The line reader joins a line that arrives in many pieces (and is linear in its length)."""
    text = "y" * 300_000
    event = b"data: " + json.dumps({"type": "response.completed", "response": completed(text)}).encode()

    def drip(request):
        yield sse_head()
        for start in range(0, len(event), 7000):
            yield event[start : start + 7000]
        yield b"\n\n"

    upstream.answer(drip)
    assert aimlapi.stream_response(BODY).text == text


def test_a_stream_that_sends_bytes_but_no_event_is_cut_after_the_read_timeout(upstream, settings):
    settings.AIMLAPI_READ_TIMEOUT = 0.5
    stop = threading.Event()

    def drip(request):
        yield sse_head()
        while not stop.is_set():  # one byte every 50 ms: the socket read timeout never fires
            yield b"x"
            stop.wait(0.05)

    upstream.answer(drip)
    start = time.monotonic()
    try:
        with pytest.raises(aimlapi.AimlApiError) as info:
            aimlapi.stream_response(BODY)
    finally:
        stop.set()
    assert info.value.code == "timeout"
    assert time.monotonic() - start < 5


def test_keep_alive_comments_keep_a_quiet_stream_open(upstream, settings):
    settings.AIMLAPI_READ_TIMEOUT = 0.3
    done = json.dumps({"type": "response.completed", "response": completed("thought long")}).encode()

    pace = threading.Event()  # never set: its wait paces the comments

    def reasoning(request):
        yield sse_head()
        quiet_until = time.monotonic() + 0.6  # twice the read timeout with nothing but comments
        while time.monotonic() < quiet_until:
            yield b": keep-alive\n\n"
            pace.wait(0.05)
        yield b"data: " + done + b"\n\n"

    upstream.answer(reasoning)
    start = time.monotonic()
    assert aimlapi.stream_response(BODY).text == "thought long"
    assert time.monotonic() - start >= 0.6  # the answer came after the quiet stretch, not instead of it


# --- Retries, Retry-After and Stop -----------------------------------------------------------


def test_stop_interrupts_a_backoff_wait(upstream, settings):
    settings.AIMLAPI_RETRY_AFTER_MAX = 30
    upstream.answer(http(503, {"error": {"message": "overloaded"}}, {"Retry-After": "20"}))
    abort = aimlapi.Abort()
    once(lambda: upstream.post_count, abort.abort)  # Stop, during the wait the 503 asked for
    start = time.monotonic()
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY, abort=abort)
    assert info.value.code == "cancelled"
    assert time.monotonic() - start < 5
    assert upstream.post_count == 1


# --- The key and the base URL never leave --------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500])
def test_an_echoed_key_and_base_url_are_scrubbed_from_errors(upstream, settings, status):
    settings.AIMLAPI_MAX_ATTEMPTS = 1
    echo = f"Invalid key {KEY} for {upstream.base_url}/responses (Bearer {KEY})"
    upstream.answer(http(status, {"error": {"message": echo, "key": KEY}}))
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    for text in (info.value.message, str(info.value), json.dumps(info.value.raw)):
        assert KEY not in text
        assert upstream.base_url not in text and "127.0.0.1" not in text
    assert "[API key removed]" in info.value.message


def test_a_connection_error_names_no_address(settings):
    settings.AIMLAPI_MAX_ATTEMPTS = 1
    settings.AIMLAPI_BASE_URL = "http://127.0.0.1:9/v1"
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert info.value.code == "connect_error"
    assert "127.0.0.1" not in info.value.message


def test_a_stream_error_event_is_scrubbed(upstream):
    event = json.dumps({"type": "error", "message": f"bad key {KEY}", "code": "x" * 300}).encode()
    upstream.answer(lambda request: [sse_head(), b"data: " + event + b"\n\n"])
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.stream_response(BODY)
    assert KEY not in info.value.message and KEY not in json.dumps(info.value.raw)
    assert len(info.value.code) <= 64


def test_the_key_is_sent_only_in_the_authorization_header(upstream):
    upstream.answer(http(200, completed()))
    aimlapi.create_response(BODY)
    request = upstream.requests[0]
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert KEY not in request["path"] and KEY.encode() not in request["body"]


def test_redirects_are_not_followed(upstream):
    upstream.answer(http(302, "", {"Location": "http://127.0.0.1:9/steal"}))
    with pytest.raises(aimlapi.AimlApiError):
        aimlapi.create_response(BODY)
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("function", ["send_request", "_send"])
def test_functions_holding_the_authorization_header_hide_their_variables(upstream, function, monkeypatch):
    """An exception report (the DEBUG page, the admin mail) made inside them shows no key."""
    import requests

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(requests.Session, "request", explode)  # the HTTP boundary: the library call
    try:
        aimlapi.create_response(BODY)
    except RuntimeError:
        exc_info = sys.exc_info()
    request = RequestFactory().get("/")
    report = ExceptionReporter(request, *exc_info).get_traceback_text()
    assert function in report
    assert KEY not in report
    html = ExceptionReporter(request, *exc_info).get_traceback_html()
    assert KEY not in html


# --- Every provider string is scrubbed, then cut (security round two, item 3) -------------------------


@pytest.mark.parametrize("api", [aimlapi.API_RESPONSES, aimlapi.API_CHAT])
def test_a_failed_or_incomplete_200_that_quotes_the_key_keeps_no_trace_of_it(upstream, api):
    """A 200 is not an error response, yet its error and reason strings come from the provider too."""
    if api == aimlapi.API_RESPONSES:
        failed = completed(status="failed", error={"code": f"{'c' * 50}{KEY}{'c' * 150}", "message": f"no {KEY}"})
        incomplete = completed(status="incomplete", incomplete_details={"reason": f"key {KEY} spent"})
    else:
        failed = {"id": "gen-1", "error": {"code": f"{'c' * 50}{KEY}{'c' * 150}", "message": f"no {KEY}"}}
        incomplete = {
            "id": "gen-2",
            "choices": [{"finish_reason": "length", "message": {"content": f"text with {KEY}"}}],
        }
    upstream.answer(http(200, failed))
    upstream.answer(http(200, incomplete))
    body = aimlapi.build_body(api=api, model="m", input="Hi")
    first = aimlapi.create_response(body, api=api)
    second = aimlapi.create_response(body, api=api)
    assert first.status == "failed" and second.status == "incomplete"
    for result in (first, second):
        for text in (
            result.error_code,
            result.error_message,
            result.incomplete_reason,
            result.text,
            json.dumps(result.raw),
        ):
            assert KEY not in text and KEY[:8] not in text
    assert first.error_code.startswith("c" * 50) and len(first.error_code) == 64  # cut to its column, after scrubbing


def test_a_non_json_error_body_is_scrubbed_before_it_is_cut(upstream, settings):
    """Cut first, the 300 characters kept would end with the key's first characters."""
    settings.AIMLAPI_MAX_ATTEMPTS = 1
    upstream.answer(http(400, ("x" * 290 + KEY + " trailing").encode(), {"Content-Type": "text/plain"}))
    with pytest.raises(aimlapi.AimlApiError) as info:
        aimlapi.create_response(BODY)
    assert KEY[:4] not in info.value.message
