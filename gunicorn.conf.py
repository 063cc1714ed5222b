"""gunicorn settings (read automatically from the working directory): `gunicorn` alone serves the app.

PORT comes from the environment or .env, as everywhere else; the environment wins.

ASGI by default: uvicorn workers (one event loop per process) serve the pages, whose Django views
run in a thread each, and the pushed live updates (/events/), whose open streams cost no thread.
WEB_SERVER=wsgi (or naming `aimlweb.wsgi` on the command line) is the fallback: threaded WSGI
workers (gthread), where pages poll for live updates instead. docs/benchmarks.md ("Web server")
has the figures behind the defaults.
"""

import os
import sys

import environ

environ.Env.read_env(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
_wsgi = os.environ.get("WEB_SERVER", "asgi").strip().lower() == "wsgi" or any(
    arg.split(":")[0] == "aimlweb.wsgi" for arg in sys.argv[1:]
)
if _wsgi:
    wsgi_app = "aimlweb.wsgi:application"
    worker_class = "gthread"
    threads = int(os.environ.get("WEB_THREADS") or 16)
else:
    wsgi_app = "aimlweb.asgi:application"
    worker_class = "aimlweb.asgi_worker.Worker"
    # On PostgreSQL, a pool of connections per web process (aimlweb/settings.py, DATABASE_POOL).
    os.environ.setdefault("DATABASE_POOL", "true")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Forwarded headers (X-Forwarded-For, -Proto) are believed only from the proxies the operator names
# (TRUSTED_PROXIES, as in aimlweb/settings.py): gunicorn's default, 127.0.0.1, let a client behind a
# proxy on this machine choose its own address for uvicorn (and so for the sign-in throttle).
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "")
timeout = 60
# Open event streams end at a restart (pages reconnect to the new workers), so do not wait long.
graceful_timeout = 20
accesslog = "-"
# gunicorn's control socket has one default path per user: two gunicorns on one machine (two
# checkouts, tests, benchmarks) would take it from each other. Nothing here uses it.
control_socket_disable = True
