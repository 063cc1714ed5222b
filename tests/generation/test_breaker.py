"""Circuit breaker: after K outages in a row new prompts fail fast, then exactly one probe goes out."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.chat import services
from conversations.generation import aimlapi, breaker
from conversations.models import ProviderCircuit, Turn


@pytest.fixture
def outage(settings, fake_api, transactional_db):
    settings.AIMLAPI_MAX_ATTEMPTS = 1
    settings.AIMLAPI_BREAKER_FAILURES = 5
    settings.AIMLAPI_BREAKER_COOLDOWN = 60
    return fake_api


def _send(owner, prompt):
    turn = services.conversation_create(owner=owner, prompt=prompt)  # runs at once (Huey immediate)
    turn.refresh_from_db()
    return turn


def _open_circuit(owner, fake_api):
    fake_api.faults = [("status", 500)] * 5
    for i in range(5):
        assert _send(owner, f"p{i}").error_code == "server_error"
    assert fake_api.post_count == 5


def test_five_outages_open_the_circuit_and_new_prompts_fail_fast(alice, outage):
    """reliability.md §5 case 12."""
    _open_circuit(alice, outage)
    start = time.monotonic()
    turn = _send(alice, "while it is down")
    elapsed = time.monotonic() - start
    assert outage.post_count == 5  # no call went out
    assert turn.status == "failed" and turn.error_code == "provider_down"
    assert "down" in turn.error_message and "retrying at" in turn.error_message and "Retry" in turn.error_message
    assert turn.prompt == "while it is down"  # kept, retryable
    assert elapsed < 2  # fast: no connection attempted (a loose bound; the timing is in benchmarks)


def test_after_the_cool_down_exactly_one_probe_goes_out_and_success_closes(alice, outage):
    _open_circuit(alice, outage)
    ProviderCircuit.objects.update(open_until=timezone.now() - timedelta(seconds=1))
    turn = _send(alice, "probe")
    assert outage.post_count == 6 and turn.status == "completed"
    circuit = ProviderCircuit.objects.get()
    assert circuit.consecutive_failures == 0 and circuit.open_until is None
    assert _send(alice, "normal again").status == "completed"


def test_a_failed_probe_opens_the_circuit_again(alice, outage):
    _open_circuit(alice, outage)
    ProviderCircuit.objects.update(open_until=timezone.now() - timedelta(seconds=1))
    outage.faults = [("status", 503)]
    assert _send(alice, "probe").error_code == "server_error"
    assert outage.post_count == 6
    assert ProviderCircuit.objects.get().open_until > timezone.now()
    assert _send(alice, "still down").error_code == "provider_down"
    assert outage.post_count == 6


def test_only_one_caller_probes_at_a_time(transactional_db, settings):
    """Two workers (each its own connection) reach the end of the cool-down together."""
    from django.db import connection

    settings.AIMLAPI_BREAKER_FAILURES = 1
    ProviderCircuit.objects.create(consecutive_failures=1, open_until=timezone.now() - timedelta(seconds=1))
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        try:
            barrier.wait(timeout=10)
            outcomes.append("probe" if breaker.before_call() else "pass")
        except aimlapi.AimlApiError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["probe", "provider_down"]


def test_other_failures_do_not_open_the_circuit(alice, outage):
    outage.faults = [("429_quota",)] * 6
    for i in range(6):
        assert _send(alice, f"q{i}").error_code == "quota_exceeded"
    assert _send(alice, "fine").status == "completed"
    assert outage.post_count == 7


def test_a_success_resets_the_count(alice, outage):
    outage.faults = [("status", 500)] * 4
    for i in range(4):
        _send(alice, f"p{i}")
    assert _send(alice, "ok").status == "completed"
    outage.faults = [("status", 500)] * 4
    for i in range(4):
        _send(alice, f"r{i}")
    assert _send(alice, "still ok").status == "completed"


def test_the_state_is_shared_through_the_database(alice, outage):
    """Another process sees the same row: open it by hand and this one fails fast."""
    ProviderCircuit.objects.create(consecutive_failures=5, open_until=timezone.now() + timedelta(minutes=5))
    assert _send(alice, "x").error_code == "provider_down"
    assert outage.post_count == 0
    assert Turn.objects.get(prompt="x").can_retry
