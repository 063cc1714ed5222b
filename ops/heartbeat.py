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


def start(name: str = "worker", also=None) -> None:
    """Start the stamping thread once per process; `also()` runs after each stamp (housekeeping)."""
    global _thread
    with _started:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_run, args=(name, also), name="heartbeat", daemon=True)
        _thread.start()


def _run(name: str, also) -> None:
    while True:
        for job in (lambda: beat(name), also):
            if job is None:
                continue
            try:
                job()
            except Exception:  # a locked or unreachable database must not kill the thread
                logger.warning("%s housekeeping failed", name, exc_info=True)
            finally:
                connection.close()
        time.sleep(INTERVAL_SECONDS)
