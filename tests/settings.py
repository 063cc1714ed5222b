"""Test settings: the real settings module, read with a test environment.

Set before aimlweb.settings is imported, so tests never see a real key or the
real API, and never write to the developer's data/ folder.
"""

import os
import tempfile

os.environ.update(
    {
        "DATA_DIR": tempfile.mkdtemp(prefix="aimlweb-test-"),
        "AIMLAPI_KEY": "test-key-not-real",
        # A closed port: a test that forgot the fake server fails fast and never reaches the internet.
        "AIMLAPI_BASE_URL": "http://127.0.0.1:9/v1",
        "AIMLAPI_BACKOFF_SECONDS": "0.01",
        "HUEY_IMMEDIATE": "true",
        "SECRET_KEY": "test-secret-key-" + "x" * 40,
        "DEBUG": "false",
        # Many tests keep several answers of one user in flight; tests/chat/test_limits.py
        # sets the per-user limits it checks.
        "MAX_ACTIVE_TURNS_PER_USER": "1000",
        "MAX_PROMPTS_PER_HOUR": "0",
        # Parallel test processes may share one Redis (REDIS_URL): each gets its own queue.
        "HUEY_NAME": f"aimlweb-test-{os.getpid()}",
    }
)

from aimlweb.settings import *  # noqa: E402,F403
from aimlweb.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a worker subprocess can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
# No collectstatic in tests: plain URLs, files served from the finders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT = DATA_DIR / "staticfiles"  # noqa: F405
STATIC_ROOT.mkdir(exist_ok=True)
