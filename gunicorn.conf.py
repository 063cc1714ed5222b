"""gunicorn settings (read automatically from the working directory).

PORT comes from the environment or .env, as everywhere else; the environment wins.
Threaded workers: a page load never waits on the model (the worker process does),
and threads keep slow clients from blocking each other.
"""

import os

import environ

environ.Env.read_env(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "16"))
timeout = 60
graceful_timeout = 20
accesslog = "-"
