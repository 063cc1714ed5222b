"""Settings of the ASGI server that browser tests start (tests/e2e/test_push.py).

The real settings, read from the environment the test passes (its database, its fake API), with
static files served straight from the source folders (no collectstatic in tests).
"""

from aimlweb.settings import *  # noqa: F403
from aimlweb.settings import STORAGES

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
