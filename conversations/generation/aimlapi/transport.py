"""The wire: one HTTP request to the AI/ML API, its bounded body, and which failures may be repeated.

Retries: a request is repeated only when the provider cannot have started
generating, i.e. the connection was never made, or it answered 429/5xx. A read
timeout or a connection dropped after the body was sent is never repeated,
because the provider may already be generating (and charging for) the answer.
The same rules hold for both endpoints (`/responses`, `/chat/completions`).
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from . import files
from .errors import AimlApiError, scrub

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures that mean "the provider is down" for the circuit breaker (not a bad request or a slow model).
OUTAGE_CODES = frozenset({"server_error", "connect_error"})
# Failures that mean "this model is gone here": its successor may answer instead (worker.py).
MODEL_GONE_CODES = frozenset({"model_deprecated", "model_unknown"})
ERROR_BODY_BYTES = 64 * 1024
# How a gateway says it does not know a model id (AI/ML API's validation error names the field).
_UNKNOWN_MODEL = re.compile(
    r"\bmodel\b.{0,80}\b(not found|does not exist|unknown|not supported|is not available|invalid)"
    r"|\b(unknown|invalid|unsupported) model\b",
    re.I | re.S,
)


def _error_detail(resp: requests.Response) -> tuple[str, Any]:
    """The provider's own message from either error shape, and the parsed body."""
    try:
        content = read_body(resp, ERROR_BODY_BYTES, cut=True)
    except AimlApiError:
        content = b""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        # Scrubbed whole, then cut: a cut first could leave the start of the key behind.
        return scrub(content.decode(errors="replace"))[:300].strip(), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"]), body
        if isinstance(error, str):
            return error, body
        if body.get("message"):
            return str(body["message"]), body
    return "", body


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _status_meaning(status: int, detail: str) -> tuple[str, str, bool]:
    """What an error status means to a user: (message, code, whether a retry may help)."""
    if status == 401:
        return "The AI/ML API rejected the API key (401). An admin must set a valid AIMLAPI_KEY", "auth_error", False
    if status == 403:
        return "The AI/ML API refused the request (403); the account may have run out of credits", "forbidden", False
    if status in (400, 404, 410) and "deprecat" in detail.lower():
        # AI/ML API answers a retired model with 404 "Model is deprecated" (docs: 404-model-is-deprecated).
        return f"The AI/ML API no longer serves this model ({status})", "model_deprecated", False
    if status in (400, 404, 410) and _UNKNOWN_MODEL.search(detail):
        return f"The AI/ML API does not know this model ({status})", "model_unknown", False
    if status == 429 and "quota" in detail.lower():
        return "The AI/ML API quota is exhausted (429)", "quota_exceeded", False
    if status == 429:
        return "The AI/ML API is rate-limiting requests (429)", "rate_limited", True
    if status >= 500:
        return f"The AI/ML API had a server error ({status})", "server_error", True
    return f"The AI/ML API refused the request ({status})", "bad_request", False


def error_for_status(resp: requests.Response) -> AimlApiError:
    status = resp.status_code
    detail, body = _error_detail(resp)
    message, code, retryable = _status_meaning(status, detail)
    return AimlApiError(
        message + (f": {detail}" if detail else "."),
        code=code,
        status_code=status,
        retryable=retryable,
        retry_after=_retry_after(resp) if retryable else None,
        raw=body,
    )


_local = threading.local()


class Abort:
    """Lets another thread cut a call that is in progress (the Stop button).

    A sync call sends no byte until the whole answer is done, and a stream can
    be silent for minutes while the model reasons, so waiting for the next byte
    to notice a Stop is not enough: the socket is shut down instead, which also
    tells the provider to stop generating.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._event = threading.Event()
        self.aborted = False

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` (a backoff), returning early, True, when aborted."""
        return self._event.wait(seconds)

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.aborted:
                _shutdown(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            self._event.set()
            for sock in self._sockets:
                _shutdown(sock)


@dataclass(frozen=True)
class Watch:
    """Who follows a stream: `on_event(text_so_far, response_id)` after each event, and before it
    `on_thinking(summary_so_far)` whenever the reasoning summary grew; `abort` closes it (Stop)."""

    on_event: Callable[[str, str], None] | None = None
    on_thinking: Callable[[str], None] | None = None
    abort: Abort | None = None


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _AbortableConnection:
    """Registers its socket with the Abort of the call running on this thread."""

    sock: socket.socket | None  # the HTTPConnection's it is mixed into

    def _register(self) -> None:
        abort = getattr(_local, "abort", None)
        if abort is not None and self.sock is not None:
            abort.register(self.sock)

    def connect(self):
        super().connect()
        self._register()

    def request(self, *args, **kwargs):
        self._register()  # a kept-alive connection is not connected again
        return super().request(*args, **kwargs)


class _HTTPConnection(_AbortableConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_AbortableConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    def __init__(self):
        # No transport-level retries at all: our loop decides what is safe to repeat.
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _session() -> requests.Session:
    # One Session per thread: Huey runs many worker threads, and a Session's
    # connection pool is not meant to be shared across threads.
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.mount("http://", _Adapter())
        session.mount("https://", _Adapter())
        _local.session = session
    return session


def stopped() -> AimlApiError:
    return AimlApiError("Stopped by the user.", code="cancelled", retryable=False)


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never established, so nothing reached the provider."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def _sleep(seconds: float, abort: Abort | None) -> None:
    """A backoff wait that Stop cuts short."""
    if abort is None:
        time.sleep(seconds)
    elif abort.wait(seconds) or abort.aborted:
        raise stopped()


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, settings.AIMLAPI_RETRY_AFTER_MAX)
    base = settings.AIMLAPI_BACKOFF_SECONDS * (2 ** (attempt - 1))
    # Full jitter spreads retries from many workers that failed together.
    return min(random.uniform(base / 2, base), settings.AIMLAPI_RETRY_AFTER_MAX)


@sensitive_variables("headers")
def send_request(
    method: str, path: str, *, body: dict | None = None, stream: bool = False, abort: Abort | None = None
) -> requests.Response:
    if not settings.AIMLAPI_KEY:
        raise AimlApiError(
            "No AI/ML API key is configured. An admin must set AIMLAPI_KEY in the environment or .env, "
            "then restart the app.",
            code="no_api_key",
            retryable=False,
        )
    url = f"{settings.AIMLAPI_BASE_URL}{path}"
    headers = {"Authorization": f"Bearer {settings.AIMLAPI_KEY}", "Accept": "application/json"}
    timeout = (settings.AIMLAPI_CONNECT_TIMEOUT, settings.AIMLAPI_READ_TIMEOUT)
    attempts = settings.AIMLAPI_MAX_ATTEMPTS
    for attempt in range(1, attempts + 1):
        if abort is not None and abort.aborted:
            raise stopped()
        try:
            resp = _send(method, url, body=body, headers=headers, timeout=timeout, stream=stream, abort=abort)
        except AimlApiError as error:
            if error.code in ("cancelled", "connection_dropped", "timeout") and method == "POST":
                raise
            if not error.retryable or attempt == attempts:
                raise
            _sleep(_backoff(attempt, None), abort)
            continue
        if 200 <= resp.status_code < 300:
            return resp
        refusal = error_for_status(resp)
        resp.close()
        logger.warning("AI/ML API %s %s answered %s (attempt %s/%s)", method, path, resp.status_code, attempt, attempts)
        if refusal.retry_after is not None and refusal.retry_after > settings.AIMLAPI_RETRY_AFTER_MAX:
            # Waiting longer than the cap would hold a worker for nothing: say "later" now.
            refusal.message = scrub(
                f"{refusal.message} The provider asks to wait {refusal.retry_after:.0f} seconds: try again later."
            )
            refusal.args = (refusal.message,)
            raise refusal
        if resp.status_code in RETRY_STATUSES and refusal.retryable and attempt < attempts:
            _sleep(_backoff(attempt, refusal.retry_after), abort)
            continue
        raise refusal
    raise AssertionError("unreachable")  # pragma: no cover


@sensitive_variables()  # kwargs holds the Authorization header
def _send(method: str, url: str, *, abort: Abort | None, **kwargs) -> requests.Response:
    """One HTTP request; transport failures become AimlApiError saying whether a repeat is safe.

    The body is always streamed: callers read it with `read_body`, which bounds its size.
    """
    _local.abort = abort
    kwargs["stream"] = True
    try:
        body = kwargs.pop("body")
        if body is not None:  # JSON, its files streamed from storage as it is written (files.py)
            kwargs["data"] = files.encode(body)
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        return _session().request(method, url, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        if abort is not None and abort.aborted:
            raise stopped() from None
        if isinstance(exc, requests.ConnectionError) and _never_sent(exc):
            raise AimlApiError("Could not connect to the AI/ML API.", code="connect_error") from None
        if isinstance(exc, requests.Timeout):
            # Only a GET is repeated after this: a POST may already be generating (and billing).
            raise AimlApiError(
                f"No answer from the AI/ML API within {settings.AIMLAPI_READ_TIMEOUT:g} seconds. "
                "The prompt was not sent again automatically.",
                code="timeout",
            ) from None
        if isinstance(exc, requests.ConnectionError):
            raise AimlApiError(
                "The connection to the AI/ML API was dropped after the request was sent; "
                "it was not sent again automatically.",
                code="connection_dropped",
            ) from None
        raise AimlApiError(
            f"Request to the AI/ML API failed ({type(exc).__name__}).", code="request_error", retryable=False
        ) from None
    finally:
        _local.abort = None


def read_body(resp: requests.Response, limit: int, *, cut: bool = False, abort: Abort | None = None) -> bytes:
    """The whole body, at most `limit` bytes (more: an error, or with `cut` the first `limit`)."""
    body = bytearray()
    try:
        for chunk in resp.iter_content(chunk_size=65536):
            body += chunk
            if len(body) > limit:
                if cut:
                    return bytes(body[:limit])
                raise AimlApiError(
                    f"The AI/ML API sent a response over {limit:,} bytes (AIMLAPI_MAX_RESPONSE_BYTES); it was cut.",
                    code="response_too_large",
                    retryable=False,
                )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if abort is not None and abort.aborted:
            raise stopped() from None
        if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ReadTimeoutError):
            raise AimlApiError(
                f"No answer from the AI/ML API within {settings.AIMLAPI_READ_TIMEOUT:g} seconds. "
                "The prompt was not sent again automatically.",
                code="timeout",
            ) from None
        raise AimlApiError(
            "The connection to the AI/ML API was dropped while the answer was being received; "
            "it was not sent again automatically.",
            code="connection_dropped",
        ) from None
    finally:
        resp.close()
    return bytes(body)


def read_json(resp: requests.Response, abort: Abort | None = None) -> Any:
    try:
        return json.loads(read_body(resp, settings.AIMLAPI_MAX_RESPONSE_BYTES, abort=abort))
    except (ValueError, RecursionError):
        raise AimlApiError(
            f"The AI/ML API sent a body that is not JSON (HTTP {resp.status_code}, "
            f"{resp.headers.get('Content-Type', 'no content type')}).",
            code="bad_response",
        ) from None
