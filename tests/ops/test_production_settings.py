"""Production settings: HTTPS_ONLY, check --deploy, secrets, file modes, the provider URL, headers."""

import os
import secrets
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(50)
PRODUCTION = {"HTTPS_ONLY": "true", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "chat.example.com"}


def _env(tmp_path, **env):
    # The defaults under test (SQLite files in DATA_DIR), whatever database and queue the suite runs on.
    prefixes = (
        "AIMLAPI_", "HUEY_", "DEBUG", "SECRET_KEY", "HTTPS_ONLY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "MAX_",
    )  # fmt: skip
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(prefixes)},
        "DJANGO_SETTINGS_MODULE": "aimlweb.settings",
        "DATA_DIR": str(tmp_path / "data"),
        "HUEY_FILENAME": str(tmp_path / "data" / "huey.sqlite3"),
        **env,
    }


def _manage(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_a_production_deployment_passes_check_deploy_with_no_warnings(tmp_path):
    """As the README's deployment steps set it up (reliability.md §5 case 24, last part)."""
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_https_only_check_deploy_warns(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=STRONG_KEY)
    assert result.returncode != 0
    assert "W008" in result.stderr + result.stdout  # SECURE_SSL_REDIRECT


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": ""}, "needs a real SECRET_KEY"),
        ({"SECRET_KEY": "short-key"}, "needs a real SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "needs a real SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 40}, "needs a real SECRET_KEY"),
        ({"DEBUG": "true"}, "refuses DEBUG=true"),
        ({"ALLOWED_HOSTS": "*"}, "needs ALLOWED_HOSTS"),
    ],
)
def test_https_only_refuses_unsafe_settings(tmp_path, env, message):
    full = {**PRODUCTION, **env}
    if "ALLOWED_HOSTS" not in env:
        full["ALLOWED_HOSTS"] = "chat.example.com"
    result = _manage(tmp_path, "check", **full)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()  # never generated in production


def test_https_only_needs_allowed_hosts_set(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = _manage(tmp_path, "check", **env)
    assert result.returncode != 0 and "needs ALLOWED_HOSTS" in result.stderr


def test_data_dir_is_private_and_sqlite_files_too(tmp_path):
    result = _manage(tmp_path, "migrate", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.iterdir() if p.name.endswith((".sqlite3", "-wal", "-shm")) or p.name == "secret_key"]
    assert any(p.name == "db.sqlite3" for p in files) and any(p.name == "huey.sqlite3" for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_existing_world_readable_data_dir_is_fixed(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "db.sqlite3").touch(mode=0o644)
    (data / "db.sqlite3").chmod(0o644)
    assert _manage(tmp_path, "check").returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "db.sqlite3").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.aimlapi.com/v1", True),
        ("http://127.0.0.1:8765/v1", True),
        ("http://localhost:8765/v1", True),
        ("http://[::1]:8765/v1", True),
        ("http://api.aimlapi.com/v1", False),  # plain http off this machine
        ("http://169.254.169.254/latest", False),  # cloud metadata
        ("https://169.254.169.254/latest", False),
        ("https://10.0.0.5/v1", False),
        ("https://192.168.1.20/v1", False),
        ("https://[fd00::1]/v1", False),
        ("https://user:pw@api.aimlapi.com/v1", False),
        ("https://2852039166/", False),  # 169.254.169.254 written as one number
        ("https://169.254.43518/", False),  # ... and as three parts
    ],
)
def test_the_provider_url_is_checked_at_start_up(tmp_path, url, ok):
    """reliability.md §5 case 22."""
    result = _manage(tmp_path, "check", AIMLAPI_BASE_URL=url)
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        assert "AIMLAPI_BASE_URL" in result.stderr


@pytest.mark.parametrize(
    "host",
    ["2852039166", "169.254.43518", "0xA9FEA9FE", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "169.16689662",
     "10.1", "0x0a000001", "192.168.0x1.1", "[::ffff:169.254.169.254]", "169.254.169.254."],
)  # fmt: skip
def test_numeric_forms_of_private_addresses_are_refused(host):
    """Issue 15 item 9: the resolver reads these as 169.254.169.254, 10.0.0.1…; so must the check."""
    from aimlweb.environment import base_url_problem

    assert "private" in base_url_problem(f"https://{host}/v1", allow_private=False)
    assert base_url_problem(f"https://{host}/v1", allow_private=True) == ""


def test_numeric_forms_of_this_machine_are_this_machine():
    from aimlweb.environment import base_url_problem

    assert base_url_problem("http://2130706433:8765/v1", allow_private=False) == ""  # 127.0.0.1
    assert base_url_problem("http://0x7f.1:8765/v1", allow_private=False) == ""
    assert "https" in base_url_problem("http://2852039166/v1", allow_private=True)


def test_private_addresses_can_be_allowed_explicitly(tmp_path):
    result = _manage(tmp_path, "check", AIMLAPI_BASE_URL="https://10.0.0.5/v1", AIMLAPI_ALLOW_PRIVATE="true")
    assert result.returncode == 0, result.stderr


PROBE = textwrap.dedent(
    """
    import django, json
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.test import Client
    out = {}
    client = Client()
    plain = client.get("/login/", HTTP_HOST="chat.example.com")
    out["plain"] = [plain.status_code, plain.get("Location")]
    for path in ("/login/", "/no-such-page/"):
        r = client.get(path, HTTP_HOST="chat.example.com", HTTP_X_FORWARDED_PROTO="https")
        out[path] = {
            "status": r.status_code,
            "headers": {k.lower(): v for k, v in r.items()},
            "cookies": {name: dict(m.items()) | {"secure": m["secure"]} for name, m in r.cookies.items()},
        }
    print(json.dumps(out))
    """
)


def test_every_page_sends_the_security_headers_and_secure_cookies(tmp_path):
    """reliability.md §5 case 24: with X-Forwarded-Proto https, on a page and on a 404."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=_env(tmp_path, **PRODUCTION), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["plain"][0] == 301 and out["plain"][1].startswith("https://chat.example.com/")
    for path in ("/login/", "/no-such-page/"):
        page = out[path]
        headers = page["headers"]
        assert "max-age=31536000" in headers["strict-transport-security"]
        assert "includeSubDomains" in headers["strict-transport-security"]
        assert "preload" in headers["strict-transport-security"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "no-store" in headers["cache-control"]
    cookies = out["/login/"]["cookies"]
    assert "__Host-csrftoken" in cookies
    csrf = cookies["__Host-csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax" and csrf["path"] == "/" and not csrf.get("domain")


def test_session_cookie_is_secure_httponly_host_only(tmp_path):
    probe = textwrap.dedent(
        """
        import django, json
        django.setup()
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User
        from django.test import Client
        User.objects.create_user("ann", password="a-Long-pass-77")
        client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="chat.example.com")
        page = client.get("/login/")
        r = client.post("/login/", {"username": "ann", "password": "a-Long-pass-77"})
        m = r.cookies["__Host-sessionid"]
        print(json.dumps({"status": r.status_code, "secure": m["secure"], "httponly": m["httponly"],
                          "samesite": m["samesite"], "path": m["path"], "domain": m["domain"]}))
        """
    )
    import json

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_env(tmp_path, **PRODUCTION), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cookie = json.loads(result.stdout.strip().splitlines()[-1])
    assert cookie["status"] == 302
    assert cookie["secure"] is True and cookie["httponly"] is True
    assert cookie["samesite"] == "Lax" and cookie["path"] == "/" and cookie["domain"] == ""


def test_private_pages_are_not_cached(alice_client):
    for path in ("/", "/account/"):
        assert "no-store" in alice_client.get(path)["Cache-Control"]
