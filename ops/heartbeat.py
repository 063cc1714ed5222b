"""Worker liveness: a daemon thread in each worker process stamps a row every few seconds."""

import logging
import threading
import time

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 15
_started = threading.Lock()
_thread: threading.Thread | None = None


def beat(name: str = "worker") -> None:
    from .models import Heartbeat

    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


def start(name: str = "worker") -> None:
    """Start the stamping thread once per process."""
    global _thread
    with _started:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, args=(name,), name="heartbeat", daemon=True)
        _thread.start()


def _run(name: str) -> None:
    while True:
        try:
            beat(name)
        except Exception:  # a locked or unreachable database must not kill the thread
            logger.warning("could not record the %s heartbeat", name, exc_info=True)
        finally:
            connection.close()
        time.sleep(INTERVAL_SECONDS)
