"""Start-up configuration: bad values stop the app with a message naming the variable."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import manage_check

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("SIGNUP_ENABLED", "sometimes"),
        ("PORT", "eighty"),
        ("AIMLAPI_READ_TIMEOUT", "soon"),
        ("AIMLAPI_MODE", "turbo"),
        ("AIMLAPI_BASE_URL", "ftp://example.com"),
        ("HUEY_WORKERS", "0"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, name, value):
    result = manage_check(tmp_path, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_a_secret_key_is_generated_once_and_kept_private(tmp_path):
    assert manage_check(tmp_path).returncode == 0
    key_file = tmp_path / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert manage_check(tmp_path).returncode == 0
    assert key_file.read_text() == key


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's settings; this run is on another database")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
    assert connection.settings_dict["OPTIONS"]["timeout"] >= 20


def test_pages_send_a_strict_content_security_policy(client, db):
    response = client.get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.content.decode()


def test_redis_url_switches_the_queue_to_blocking_redis(tmp_path):
    code = (
        "import django; django.setup(); from huey.contrib.djhuey import HUEY; "
        "print(type(HUEY).__name__, HUEY.storage.blocking, HUEY.storage.conn.connection_pool.connection_kwargs['port'])"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIMLAPI_", "HUEY_", "DEBUG", "SECRET_KEY"))},
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6390/0",
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["RedisHuey", "True", "6390"], result.stderr
    assert not (tmp_path / "huey.sqlite3").exists()
    bad = manage_check(tmp_path, REDIS_URL="http://127.0.0.1:6379")
    assert bad.returncode != 0 and "REDIS_URL" in bad.stderr
