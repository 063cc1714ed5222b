"""Operating it: /healthz, /readyz, /metrics, JSON logs with request and turn ids, pruning response JSON."""

import json
import logging
import re
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from conversations.chat import services
from conversations.models import Turn
from ops import heartbeat, logs
from ops.models import Heartbeat


def test_healthz_is_cheap_and_public(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_readyz_needs_a_worker_seen_within_a_minute(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "queue": "ok",
        "worker": "failing",
    }
    heartbeat.beat("worker")
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    # A worker last seen two minutes ago is not ready (backdate instead of waiting).
    Heartbeat.objects.filter(name="worker").update(seen_at=timezone.now() - timedelta(minutes=2))
    assert client.get("/readyz").status_code == 503


def test_readyz_reveals_no_detail_of_a_failure(client, db, monkeypatch):
    from ops import views

    def broken():
        raise RuntimeError("password=hunter2 at db.internal:5432")

    monkeypatch.setitem(views.CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failing"
    assert b"hunter2" not in response.content and b"internal" not in response.content


def test_metrics_need_the_bearer_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def _metric(text: str, name: str, **labels) -> float:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(f"{name}{{{label}}}" if labels else name) + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in metrics"
    return float(match.group(1))


def test_metrics_report_tokens_cost_statuses_histogram_and_errors(client, alice, fake_api, run_now, settings):
    settings.METRICS_TOKEN = "t"
    done = run_now(services.conversation_create, owner=alice, prompt="Count me")
    fake_api.faults = [("status", 400)]
    run_now(services.turn_create, conversation=done.conversation, prompt="Fail me")
    done.refresh_from_db()
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    model = "openai/gpt-5-pro"
    assert _metric(text, "aimlweb_tokens_total", model=model, kind="input") >= done.input_tokens
    assert _metric(text, "aimlweb_tokens_total", model=model, kind="reasoning") >= done.reasoning_tokens
    assert _metric(text, "aimlweb_cost_usd_total", model=model) > 0
    assert _metric(text, "aimlweb_turns", status="failed") == Turn.objects.filter(status="failed").count() >= 1
    assert _metric(text, "aimlweb_turns", status="completed") == Turn.objects.filter(status="completed").count()
    assert _metric(text, "aimlweb_upstream_errors_total", kind="bad_request") == 1
    assert _metric(text, "aimlweb_generation_seconds_count") == _metric(
        text, "aimlweb_generation_seconds_bucket", le="+Inf"
    )
    assert "aimlweb_queue_depth" in text and "aimlweb_answers_in_flight" in text
    assert "Count me" not in text


def test_metrics_show_the_queue_beside_the_running_answers(client, alice, settings):
    settings.METRICS_TOKEN = "t"
    settings.MAX_ACTIVE_TURNS_PER_USER = 1
    running = services.conversation_create(owner=alice, prompt="running")
    services.turn_create(conversation=running.conversation, prompt="follow-up")
    services.conversation_create(owner=alice, prompt="past the limit")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert _metric(text, "aimlweb_prompts_waiting") == 2
    assert _metric(text, "aimlweb_turns", status="waiting") == 2
    assert _metric(text, "aimlweb_queue_depth") == 1  # handed to a worker (the test database never commits)


def test_json_logs_carry_the_request_id_and_never_the_key(settings):
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "failed with key %s", (settings.AIMLAPI_KEY,), None)
    token = logs.request_id_var.set("req-1")
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.request_id_var.reset(token)
    with logs.turn_context("turn-9"):
        logs.ContextFilter().filter(other := logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb", (), None))
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-1" and entry["level"] == "WARNING"
    assert settings.AIMLAPI_KEY not in line and "[redacted]" in entry["message"]
    second = logs.JsonFormatter().format(other)
    assert "\n" not in second and json.loads(second)["turn_id"] == "turn-9"


def test_each_response_has_a_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    forged = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\r\nX: y")
    assert re.fullmatch(r"[0-9a-f]{32}", forged["X-Request-ID"])


def test_prune_drops_old_response_json_only(alice, fake_api, run_now):
    old = run_now(services.conversation_create, owner=alice, prompt="Old one")
    new = run_now(services.conversation_create, owner=alice, prompt="New one")
    Turn.objects.filter(id=old.id).update(completed_at=timezone.now() - timedelta(days=40))
    call_command("prune_responses", days=30)
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.response_json is None and old.output_text and old.cost_usd
    assert new.response_json is not None


def test_with_https_only_health_checks_are_not_redirected_and_worker_lines_are_json(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django, logging; django.setup(); from django.test import Client; c = Client(); "
        "print(c.get('/healthz').status_code, c.get('/login/').status_code); "
        "print(logging.getLogger('huey').handlers[0].formatter.__class__.__name__)"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "HUEY_", "DEBUG", "SECRET_KEY"))},
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATA_DIR": str(tmp_path),
        "HTTPS_ONLY": "true",
        "SECRET_KEY": "k" * 20 + "Q9x!vB2#mZ7$pL4&" + "w" * 20,
        "ALLOWED_HOSTS": "testserver",
        "LOG_FORMAT": "json",
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["200", "301", "JsonFormatter"], result.stderr[-2000:]
