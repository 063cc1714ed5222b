"""gunicorn's worker class for ASGI (gunicorn.conf.py): uvicorn's, with two settings of ours.

- No lifespan protocol: Django does not speak it (uvicorn would log that at every start).
- At a restart, open event streams are cut after a few seconds instead of holding the old worker
  until gunicorn's graceful timeout: their pages reconnect to the new workers and catch up.
"""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off", "timeout_graceful_shutdown": 5}
