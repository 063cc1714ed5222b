"""Self-test of the fake AI/ML API server (plain pytest, no Django)."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

try:
    from tests.fake_aimlapi import FakeAimlApi
    from tests.helpers import wait_for
except ImportError:  # tests/ on sys.path instead of the project root
    from fake_aimlapi import FakeAimlApi
    from helpers import wait_for

MODEL = "openai/gpt-5-pro"


@pytest.fixture(scope="module")
def server():
    with FakeAimlApi(id_prefix="vlBAC8PE7nmIAtGg3T8B-") as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    server.latency = 0
    server.stream_empty_final_output = False
    return server


def call(fake, method, path, body=None, api_key="test-key", timeout=5):
    """Return (status, headers, raw body bytes), also for error statuses."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.base_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def create(fake, **fields):
    body = {"model": MODEL, "input": "Hello there", **fields}
    status, headers, raw = call(fake, "POST", "/responses", body)
    return status, headers, raw


def parse_sse(raw: bytes) -> list[dict]:
    events = []
    for block in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line)
        if lines:
            event = json.loads(lines["data"])
            assert event["type"] == lines["event"]
            events.append(event)
    return events


def test_plain_response_echoes_history_and_bills_usage(fake):
    history = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "input_text", "text": "second one"}]},
    ]
    status, _, raw = create(fake, input=history, instructions="Be brief.")

    assert status == 200
    response = json.loads(raw)
    assert response["id"].startswith("vlBAC8PE7nmIAtGg3T8B-")
    assert response["status"] == "completed"
    assert response["model"] == MODEL
    assert response["output_text"].startswith("Echo: second one")
    assert "turns=2" in response["output_text"]
    reasoning, message = response["output"]
    assert reasoning["type"] == "reasoning"
    assert message["content"][0]["text"] == response["output_text"]
    usage = response["usage"]
    assert usage["output_tokens"] > usage["output_tokens_details"]["reasoning_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    expected_usd = (usage["input_tokens"] * 20.631 + usage["output_tokens"] * 165.048) / 1e6
    assert response["meta"]["usage"]["usd_spent"] == pytest.approx(expected_usd)
    assert fake.post_count == 1
    assert fake.requests[0]["headers"]["authorization"] == "Bearer test-key"
    assert fake.requests[0]["json"]["input"] == history


def test_custom_reply(fake):
    fake.reply = lambda body: f"custom for {body['model']}"
    try:
        _, _, raw = create(fake)
    finally:
        fake.reply = None
    assert json.loads(raw)["output_text"] == f"custom for {MODEL}"


def test_missing_api_key_is_401_in_aiml_shape(fake):
    status, _, raw = call(fake, "POST", "/responses", {"model": MODEL, "input": "x"}, "")
    body = json.loads(raw)
    assert status == 401
    assert body["statusCode"] == 401
    assert body["message"].startswith("This request requires a valid API key")
    assert body["path"] == "/v1/responses"


def test_body_errors(fake):
    status, _, raw = create(fake, temperature=0.2)
    assert status == 400
    assert json.loads(raw)["error"]["param"] == "temperature"

    status, _, raw = call(fake, "POST", "/responses", {"model": MODEL})
    assert status == 400
    assert json.loads(raw)["message"] == "Body validation error!"


def test_stream_events(fake):
    fake.stream_empty_final_output = True
    status, headers, raw = create(fake, stream=True)

    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(raw)
    numbers = [event["sequence_number"] for event in events]
    assert numbers == sorted(numbers) == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[0]["response"]["status"] == "in_progress"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text.startswith("Echo: Hello there")
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == text
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"] == []  # the proxy quirk
    assert final["response"]["usage"]["total_tokens"] > 0


def test_stream_cut_truncates_the_body(fake):
    fake.faults = [("stream_cut",)]
    with pytest.raises(http.client.IncompleteRead) as excinfo:
        create(fake, stream=True)
    events = parse_sse(excinfo.value.partial.rsplit(b"\n\n", 1)[0])
    assert events[-1]["type"] == "response.output_text.delta"


def test_stream_error_event(fake):
    fake.faults = ["stream_error"]
    _, _, raw = create(fake, stream=True)
    events = parse_sse(raw)
    assert events[-1]["type"] == "error"
    assert events[-1]["code"] == "server_error"
    assert not any(e["type"] == "response.completed" for e in events)


def test_background_poll_and_cancel(fake):
    fake.latency = 0.3
    status, _, raw = create(fake, background=True, store=True)
    job = json.loads(raw)
    assert status == 200
    assert (job["status"], job["output"], job["usage"]) == ("queued", [], None)

    def polled():
        body = json.loads(call(fake, "GET", f"/responses/{job['id']}")[2])
        return body if body["status"] not in ("queued", "in_progress") else None

    completed = wait_for(polled, timeout=10)
    assert completed["status"] == "completed"
    assert completed["usage"]["input_tokens"] >= 1
    assert completed["output_text"].startswith("Echo: Hello there")

    _, _, raw = create(fake, background=True)
    other = json.loads(raw)
    for _ in range(2):  # cancelling twice is idempotent
        _, _, raw = call(fake, "POST", f"/responses/{other['id']}/cancel")
        assert json.loads(raw)["status"] == "cancelled"
    _, _, raw = call(fake, "POST", f"/responses/{job['id']}/cancel")
    assert json.loads(raw)["status"] == "completed"
    assert fake.cancel_calls == [other["id"], other["id"], job["id"]]

    status, _, raw = call(fake, "GET", "/responses/unknown")
    assert status == 404
    assert json.loads(raw)["statusCode"] == 404


def test_429_fault_is_used_once(fake):
    fake.faults = [("429", 7)]
    status, headers, raw = create(fake)
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert json.loads(raw)["message"] == "Too Many Requests"

    status, _, _ = create(fake)
    assert status == 200
    assert fake.post_count == 2


@pytest.mark.parametrize(
    ("fault", "expected_status", "expected_text"),
    [
        (("status", 403), 403, "run out of credits"),
        (("status", 502), 502, "Bad Gateway"),
        (("status", 504), 504, "Generation timeout"),
        (("429_quota",), 429, "exceeded your current quota"),
        (("non_json",), 200, "<html>oops</html>"),
        (("failed",), 200, '"status": "failed"'),
        (("incomplete",), 200, '"reason": "max_output_tokens"'),
    ],
)
def test_faults(fake, fault, expected_status, expected_text):
    fake.add_fault(*fault)
    status, _, raw = create(fake)
    assert status == expected_status
    assert expected_text in raw.decode()


def test_unknown_fault_fails_fast(fake):
    with pytest.raises(ValueError, match="unknown fault"):
        fake.faults = [("teapot",)]


def test_drop_closes_without_answer(fake):
    fake.faults = [("drop",)]
    with pytest.raises((urllib.error.URLError, http.client.RemoteDisconnected)):
        create(fake)
    assert fake.post_count == 1


def test_stop_is_quick_while_requests_sleep():
    fake = FakeAimlApi(latency=30).start()
    errors = []

    def slow_call():
        try:
            create(fake)
        except Exception as error:  # the connection is dropped on stop
            errors.append(error)

    threads = [threading.Thread(target=slow_call) for _ in range(5)]
    for thread in threads:
        thread.start()
    wait_for(lambda: fake.post_count >= 5, interval=0.01)

    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1
    for thread in threads:
        thread.join(timeout=2)
    assert len(errors) == 5


def test_concurrent_slow_requests_run_in_parallel(fake):
    fake.latency = 0.3
    results = []

    def one_call():
        results.append(create(fake)[0])

    threads = [threading.Thread(target=one_call) for _ in range(30)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert results == [200] * 30
    assert time.monotonic() - started < 2
