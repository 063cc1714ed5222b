"""A known key, after a run of failing calls, is nowhere: not in a page, a log line, the database
(its rows, and for SQLite its files) or an exception report (reliability.md §5 case 21)."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils.log import AdminEmailHandler

from conversations.generation import aimlapi
from conversations.models import Conversation, Turn
from tests.helpers import client_for
from tests.hostile_upstream import HostileUpstream, http, sse_head

KEY = "sk-SENTINEL-7c1f0e9b2d4a8866"


def _echo(status):
    def answer(request):
        auth = request["headers"].get("Authorization", "")
        message = f"bad credentials {auth} ({KEY}) at {request['path']}"
        return http(status, {"error": {"message": message, "key": KEY, "headers": {"Authorization": auth}}})

    return answer


def _stream_echo(request):
    event = json.dumps({"type": "error", "message": f"leak {KEY}", "code": KEY})
    return [sse_head(), f"data: {event}\n\n".encode()]


@pytest.fixture
def failing_run(transactional_db, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.AIMLAPI_KEY = KEY
    settings.AIMLAPI_MAX_ATTEMPTS = 2
    settings.AIMLAPI_BACKOFF_SECONDS = 0.01
    settings.DEBUG = False
    alice = User.objects.create_superuser("alice", password="pw-alice-123")
    client = client_for(alice)
    with HostileUpstream() as upstream:
        settings.AIMLAPI_BASE_URL = upstream.base_url
        upstream.answer(_echo(401), _echo(403), _echo(400), _echo(500), _echo(500), _echo(429), _echo(429))
        for i in range(5):
            client.post("/", {"prompt": f"prompt {i}"})
        settings.AIMLAPI_MODE = "stream"
        upstream.answer(_stream_echo)
        client.post("/", {"prompt": "streamed"})
    settings.AIMLAPI_MODE = "sync"
    settings.AIMLAPI_BASE_URL = "http://127.0.0.1:9/v1"  # connection refused
    client.post("/", {"prompt": "refused"})
    assert Turn.objects.filter(status="failed").count() == 7
    return {"client": client, "alice": alice, "caplog": caplog}


def _pages(client):
    urls = ["/", "/account/", reverse("admin:index")]
    for conversation in Conversation.objects.all():
        urls += [conversation.get_absolute_url(), reverse("conversation_export_json", args=[conversation.id])]
        urls.append(reverse("admin:conversations_conversation_change", args=[conversation.id]))
    for turn in Turn.objects.all():
        urls += [reverse("turn_live", args=[turn.id]), reverse("admin:conversations_turn_change", args=[turn.id])]
    urls.append(reverse("admin:conversations_turn_changelist"))
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 204), url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        yield url, body


def test_the_key_is_nowhere_after_failing_calls(failing_run):
    key = KEY.encode()
    # Every page a user or an admin sees, every turn's live fragment and export.
    for url, body in _pages(failing_run["client"]):
        assert key not in body, url
    # Every log line.
    caplog = failing_run["caplog"]
    records = caplog.get_records("setup") + caplog.get_records("call")  # the failing run is the fixture
    for record in records:
        assert KEY not in record.getMessage() and KEY not in str(record.args), record.getMessage()
        assert KEY not in logging.Formatter().format(record)  # tracebacks included
    assert any("answered 401" in r.getMessage() for r in records), "the failing calls should have logged"
    # Every row of every table.
    for model in apps.get_models():
        for row in model.objects.all().values():
            assert KEY not in repr(row), model
    # And the SQLite files themselves (free pages and the WAL included), read by another process: a file
    # of the database opened and closed here would drop every lock this process's connections hold on it
    # (POSIX locks are per process), and the next process to close its connection would then delete the
    # -wal and -shm under them, failing this worker's later tests with "disk I/O error".
    if connection.vendor == "sqlite":
        name = Path(connection.settings_dict["NAME"])
        for path in (name, Path(f"{name}-wal")):
            if path.exists():
                raw = subprocess.run(["cat", str(path)], capture_output=True, check=True, timeout=60).stdout
                assert key not in raw, path
    # The stored errors say what happened.
    messages = " ".join(Turn.objects.values_list("error_message", flat=True))
    assert "rejected the API key" in messages and "[API key removed]" in messages


def test_an_exception_report_and_the_admin_mail_hide_the_key(transactional_db, settings, monkeypatch):
    import requests

    settings.AIMLAPI_KEY = KEY
    settings.ADMINS = [("admin", "admin@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    def explode(*args, **kwargs):
        raise RuntimeError("the HTTP library broke")

    monkeypatch.setattr(requests.Session, "request", explode)
    try:
        aimlapi.create_response({"model": "m", "input": "x"})
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, exc_info)
    record.request = RequestFactory().get("/")
    record.status_code = 500
    AdminEmailHandler(include_html=True).emit(record)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "_send" in message.body
    assert KEY not in message.body
    for content, _ in message.alternatives:
        assert KEY not in content
