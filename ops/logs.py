"""Request ids and JSON log lines (LOG_FORMAT=json).

Every log record carries the request id of the web request or the turn id of the
generation it belongs to (context variables, so threads and requests never mix).
The formatter never adds a prompt, and scrubs the API key should any message
contain it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings

from aimlweb.middleware import BothModes

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
turn_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("turn_id", default="")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@contextmanager
def turn_context(turn_id: object) -> Iterator[None]:
    token = turn_id_var.set(str(turn_id))
    try:
        yield
    finally:
        turn_id_var.reset(token)


class RequestIdMiddleware(BothModes):
    """Take a sane X-Request-ID from the proxy or make one; echo it in the response."""

    @contextmanager
    def around(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        token = request_id_var.set(incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex)
        try:
            yield
        finally:
            request_id_var.reset(token)

    def finish(self, request, response):
        response["X-Request-ID"] = request_id_var.get()
        return response


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.turn_id = turn_id_var.get()
        return True


def _scrub(text: str) -> str:
    key = getattr(settings, "AIMLAPI_KEY", "")
    return text.replace(key, "[redacted]") if key and len(key) >= 4 else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; control characters are escaped by json.dumps."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _scrub(record.getMessage()),
        }
        for name in ("request_id", "turn_id"):
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = _scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)
