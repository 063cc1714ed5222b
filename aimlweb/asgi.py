"""ASGI entry point: gunicorn with uvicorn workers (gunicorn.conf.py), or any ASGI server.

Pages are the same Django views as under WSGI (aimlweb/wsgi.py, still the fallback), each run with
its middleware in one thread (aimlweb/handlers.py); only under ASGI does /events/ stream pushed live
updates (conversations/live/) without holding a thread per open page.
"""

import os
import threading

import django

from aimlweb.gate import ViewGate

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimlweb.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

# Pages in one thread each, coroutine views (/events/) in the event loop: aimlweb/handlers.py.
from aimlweb.handlers import ByView  # noqa: E402 (its handlers read the middleware of the settings)

# WEB_THREADS: how many requests of this process may be inside Django at once (0: no limit).
application = ViewGate(ByView(), int(os.environ.get("WEB_THREADS", "0") or 0))

from django.db import connections  # noqa: E402

# While no administrator exists, print the one-time link that creates one (`make run` shows it).
from accounts.setup import announce  # noqa: E402 (needs the app registry loaded above)


def _announce() -> None:
    try:
        announce()
    finally:
        connections.close_all()


# In a thread of its own: `uvicorn aimlweb.asgi:application` imports this module inside its event
# loop, where Django refuses database queries.
_thread = threading.Thread(target=_announce, name="announce")
_thread.start()
_thread.join()
