"""The only HTTP client of the AI/ML API (`/v1/responses`).

Everything that knows about the wire format lives here: request bodies, response
parsing, the two error shapes, SSE events and which failures may be repeated.
Callers get small typed results (`Response`) or one exception (`AimlApiError`).

Retries: a request is repeated only when the provider cannot have started
generating, i.e. the connection was never made, or it answered 429/5xx. A read
timeout or a connection dropped after the body was sent is never repeated,
because the provider may already be generating (and charging for) the answer.
"""

from __future__ import annotations

import json
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures that mean "the provider is down" for the circuit breaker (not a bad request or a slow model).
OUTAGE_CODES = frozenset({"server_error", "connect_error"})
# Usage the columns can hold: token counts fit a 32-bit column; a cost above this is not a real answer.
MAX_TOKENS = 2_147_483_647
MAX_USD = 100_000.0
ERROR_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    usd_spent: float | None = None


@dataclass(frozen=True)
class Response:
    id: str
    status: str
    model: str = ""
    text: str = ""
    usage: Usage | None = None
    error_code: str = ""
    error_message: str = ""
    incomplete_reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class AimlApiError(Exception):
    """Any failure talking to the provider, with a message a user can read.

    `retryable` says whether pressing Retry later may help; `partial_text` and
    `usage` carry what arrived before a stream broke.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "upstream_error",
        status_code: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        partial_text: str = "",
        raw: Any = None,
    ):
        message = scrub(message)
        super().__init__(message)
        self.message = message
        self.code = scrub(str(code))[:64]  # the turn's error_code column
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial_text = partial_text
        self.raw = bounded_raw(raw) if raw is not None else None


# --- Secrets and sizes ---------------------------------------------------------------


def scrub(text: str) -> str:
    """The text without the API key or the provider's base URL (a proxy may echo either back)."""
    key = settings.AIMLAPI_KEY
    if key and len(key) >= 4:
        text = text.replace(key, "[API key removed]")
    base = settings.AIMLAPI_BASE_URL
    host = base.split("://", 1)[-1].split("/", 1)[0]
    for secret in (base, host):
        if secret:
            text = text.replace(secret, "the AI/ML API")
    return text


def _storable(value: Any) -> Any:
    """JSON both databases accept: no NaN/Infinity, no NUL characters (PostgreSQL refuses both)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def bounded_raw(body: Any) -> Any:
    """`body` for storing: storable, scrubbed, and cut with a note when its JSON is over
    AIMLAPI_MAX_STORED_JSON_BYTES (setting)."""
    body = _storable(body)
    text = json.dumps(body, ensure_ascii=False, default=str)
    clean = scrub(text)
    size = len(clean.encode())
    limit = settings.AIMLAPI_MAX_STORED_JSON_BYTES
    if size > limit:
        return {
            "note": f"The provider's response was {size:,} bytes; only the first {limit:,} are kept here.",
            "truncated": True,
            "size_bytes": size,
            "head": clean.encode()[:limit].decode(errors="ignore"),
        }
    return body if clean == text else json.loads(clean)


# --- Parsing -------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    """A token count the columns can hold, or None (negative, fractional, NaN, absurd: logged, not stored)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKENS:
        return value
    logger.warning("ignored an invalid token count from the provider: %.80r", value)
    return None


def _usd_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= MAX_USD:
        return float(value)
    logger.warning("ignored an invalid usd_spent from the provider: %.80r", value)
    return None


def parse_usage(body: dict[str, Any]) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    meta_usage = meta.get("usage") or {}
    usd = meta_usage.get("usd_spent") if isinstance(meta_usage, dict) else None
    return Usage(
        input_tokens=_int_or_none(usage.get("input_tokens")),
        cached_tokens=_int_or_none(input_details.get("cached_tokens")) if isinstance(input_details, dict) else None,
        output_tokens=_int_or_none(usage.get("output_tokens")),
        reasoning_tokens=_int_or_none(output_details.get("reasoning_tokens"))
        if isinstance(output_details, dict)
        else None,
        total_tokens=_int_or_none(usage.get("total_tokens")),
        usd_spent=_usd_or_none(usd),
    )


def usage_checked(usage: Usage | None) -> Usage | None:
    """`usage` with every value its column can hold (a Usage built outside `parse_usage` too)."""
    if usage is None:
        return None
    counts = {name: _int_or_none(getattr(usage, name)) for name in Usage.__dataclass_fields__ if name != "usd_spent"}
    return Usage(**counts, usd_spent=_usd_or_none(usage.usd_spent))


def output_text(body: dict[str, Any]) -> str:
    """Join the text parts of the `message` items of `output`; else `output_text`."""
    parts: list[str] = []
    for item in body.get("output") or []:
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        for content in item.get("content") or []:
            if isinstance(content, dict) and content.get("type") == "output_text":
                parts.append(str(content.get("text") or ""))
            elif isinstance(content, dict) and content.get("type") == "refusal":
                parts.append(str(content.get("refusal") or ""))
    if parts:
        return "".join(parts)
    fallback = body.get("output_text")
    return fallback if isinstance(fallback, str) else ""


def parse_response(body: Any) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise AimlApiError(
            "The AI/ML API answered with JSON that is not a response object.",
            code="bad_response",
            raw=body,
        )
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    incomplete = body.get("incomplete_details") if isinstance(body.get("incomplete_details"), dict) else {}
    return Response(
        # Cut to their columns' sizes (PostgreSQL refuses longer values); NUL characters dropped.
        id=str(body.get("id") or "").replace("\x00", "")[:255],
        status=body["status"],
        model=str(body.get("model") or "").replace("\x00", "")[:100],
        text=output_text(body).replace("\x00", ""),
        usage=parse_usage(body),
        error_code=str(error.get("code") or ""),
        error_message=str(error.get("message") or ""),
        incomplete_reason=str(incomplete.get("reason") or ""),
        raw=bounded_raw(body),
    )


def _error_detail(resp: requests.Response) -> tuple[str, Any]:
    """The provider's own message from either error shape, and the parsed body."""
    try:
        content = _read_body(resp, ERROR_BODY_BYTES, cut=True)
    except AimlApiError:
        content = b""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return content[:300].decode(errors="replace").strip(), None
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


def error_for_status(resp: requests.Response) -> AimlApiError:
    status = resp.status_code
    detail, body = _error_detail(resp)
    suffix = f": {detail}" if detail else "."
    if status == 401:
        return AimlApiError(
            "The AI/ML API rejected the API key (401). An admin must set a valid AIMLAPI_KEY" + suffix,
            code="auth_error", status_code=status, retryable=False, raw=body,
        )  # fmt: skip
    if status == 403:
        return AimlApiError(
            "The AI/ML API refused the request (403); the account may have run out of credits" + suffix,
            code="forbidden", status_code=status, retryable=False, raw=body,
        )  # fmt: skip
    if status in (400, 404, 410) and "deprecat" in detail.lower():
        # AI/ML API answers a retired model with 404 "Model is deprecated" (docs: 404-model-is-deprecated).
        return AimlApiError(
            f"The AI/ML API no longer serves this model ({status})" + suffix,
            code="model_deprecated", status_code=status, retryable=False, raw=body,
        )  # fmt: skip
    if status == 429 and "quota" in detail.lower():
        return AimlApiError(
            "The AI/ML API quota is exhausted (429)" + suffix,
            code="quota_exceeded", status_code=status, retryable=False, raw=body,
        )  # fmt: skip
    if status == 429:
        return AimlApiError(
            "The AI/ML API is rate-limiting requests (429)" + suffix,
            code="rate_limited", status_code=status, retry_after=_retry_after(resp), raw=body,
        )  # fmt: skip
    if status >= 500:
        return AimlApiError(
            f"The AI/ML API had a server error ({status})" + suffix,
            code="server_error", status_code=status, retry_after=_retry_after(resp), raw=body,
        )  # fmt: skip
    return AimlApiError(
        f"The AI/ML API refused the request ({status})" + suffix,
        code="bad_request", status_code=status, retryable=False, raw=body,
    )  # fmt: skip


# --- Transport -----------------------------------------------------------------

_local = threading.local()


class Abort:
    """Lets another thread cut a call that is in progress (the Stop button).

    A sync call sends no byte until the whole answer is done, and a stream can
    be silent for minutes while the model reasons, so waiting for the next byte
    to notice a Stop is not enough: the socket is shut down instead, which also
    tells the provider to stop generating.
    """

    def __init__(self):
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


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _AbortableConnection:
    """Registers its socket with the Abort of the call running on this thread."""

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


def _stopped() -> AimlApiError:
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
        raise _stopped()


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, settings.AIMLAPI_RETRY_AFTER_MAX)
    base = settings.AIMLAPI_BACKOFF_SECONDS * (2 ** (attempt - 1))
    # Full jitter spreads retries from many workers that failed together.
    return min(random.uniform(base / 2, base), settings.AIMLAPI_RETRY_AFTER_MAX)


@sensitive_variables("headers")
def _request(
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
            raise _stopped()
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
        error = error_for_status(resp)
        resp.close()
        logger.warning("AI/ML API %s %s answered %s (attempt %s/%s)", method, path, resp.status_code, attempt, attempts)
        if error.retry_after is not None and error.retry_after > settings.AIMLAPI_RETRY_AFTER_MAX:
            # Waiting longer than the cap would hold a worker for nothing: say "later" now.
            error.message = scrub(
                f"{error.message} The provider asks to wait {error.retry_after:.0f} seconds: try again later."
            )
            error.args = (error.message,)
            raise error
        if resp.status_code in RETRY_STATUSES and error.retryable and attempt < attempts:
            _sleep(_backoff(attempt, error.retry_after), abort)
            continue
        raise error
    raise AssertionError("unreachable")  # pragma: no cover


@sensitive_variables()  # kwargs holds the Authorization header
def _send(method: str, url: str, *, abort: Abort | None, **kwargs) -> requests.Response:
    """One HTTP request; transport failures become AimlApiError saying whether a repeat is safe.

    The body is always streamed: callers read it with `_read_body`, which bounds its size.
    """
    _local.abort = abort
    kwargs["stream"] = True
    try:
        return _session().request(method, url, json=kwargs.pop("body"), allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        if abort is not None and abort.aborted:
            raise _stopped() from None
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


def _read_body(resp: requests.Response, limit: int, *, cut: bool = False, abort: Abort | None = None) -> bytes:
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
            raise _stopped() from None
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


def _json(resp: requests.Response, abort: Abort | None = None) -> Any:
    try:
        return json.loads(_read_body(resp, settings.AIMLAPI_MAX_RESPONSE_BYTES, abort=abort))
    except (ValueError, RecursionError):
        raise AimlApiError(
            f"The AI/ML API sent a body that is not JSON (HTTP {resp.status_code}, "
            f"{resp.headers.get('Content-Type', 'no content type')}).",
            code="bad_response",
        ) from None


# --- Public API ----------------------------------------------------------------


def build_body(
    *,
    model: str,
    input: list[dict[str, Any]] | str,
    instructions: str = "",
    max_output_tokens: int | None = None,
    reasoning_effort: str = "",
) -> dict[str, Any]:
    """The request body; never temperature/top_p.

    The caller passes only parameters the model accepts (the catalogue knows
    which): an empty `reasoning_effort` leaves the field out.
    """
    body: dict[str, Any] = {"model": model, "input": input}
    if instructions:
        body["instructions"] = instructions
    if max_output_tokens:
        body["max_output_tokens"] = max_output_tokens
    if reasoning_effort:
        body["reasoning"] = {"effort": reasoning_effort}
    return body


def create_response(body: dict[str, Any], *, background: bool = False, abort: Abort | None = None) -> Response:
    """POST /responses and wait for the body (the whole answer, or a queued job in background mode)."""
    payload = {**body, "background": background, "store": background}
    resp = _request("POST", "/responses", body=payload, abort=abort)
    return parse_response(_json(resp, abort))


def retrieve_response(response_id: str, *, abort: Abort | None = None) -> Response:
    resp = _request("GET", f"/responses/{requests.utils.quote(response_id, safe='')}", abort=abort)
    return parse_response(_json(resp, abort))


def cancel_response(response_id: str) -> Response:
    resp = _request("POST", f"/responses/{requests.utils.quote(response_id, safe='')}/cancel")
    return parse_response(_json(resp))


def _sse_lines(resp: requests.Response, last_event: list[float]) -> Iterator[str]:
    """The stream's lines, bounded: no line over AIMLAPI_MAX_SSE_LINE_BYTES, no stream over
    AIMLAPI_MAX_RESPONSE_BYTES. Each byte is scanned once (a newline-free line is linear,
    not quadratic as with `iter_lines`)."""
    max_line = settings.AIMLAPI_MAX_SSE_LINE_BYTES
    max_total = settings.AIMLAPI_MAX_RESPONSE_BYTES
    buffer = bytearray()
    scanned = total = 0
    while True:
        chunk = resp.raw.read1(65536)
        if not chunk:
            break
        total += len(chunk)
        if total > max_total:
            raise AimlApiError(
                f"The stream from the AI/ML API went over {max_total:,} bytes "
                "(AIMLAPI_MAX_RESPONSE_BYTES); it was cut.",
                code="response_too_large",
                retryable=False,
            )
        if time.monotonic() - last_event[0] > settings.AIMLAPI_READ_TIMEOUT:
            raise AimlApiError(
                f"The AI/ML API sent no complete event for {settings.AIMLAPI_READ_TIMEOUT:g} seconds; "
                "the stream was cut.",
                code="timeout",
            )
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", scanned)) != -1:
            yield buffer[start:end].rstrip(b"\r").decode("utf-8", errors="replace")
            start = scanned = end + 1
        if start:
            del buffer[:start]
            scanned -= start
        scanned = len(buffer)
        if len(buffer) > max_line:
            raise AimlApiError(
                f"The AI/ML API sent a stream line over {max_line:,} bytes (AIMLAPI_MAX_SSE_LINE_BYTES); it was cut.",
                code="response_too_large",
                retryable=False,
            )
    if buffer:
        yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")


def _sse_events(resp: requests.Response) -> Iterator[dict[str, Any]]:
    """Parsed `data:` events. A stream that keeps sending bytes but no event (nor a `:` keep-alive
    comment) for longer than the read timeout is cut: the read timeout alone never fires then."""
    data_lines: list[str] = []
    data_size = 0
    last_event = [time.monotonic()]  # shared with the line reader, which checks it as bytes arrive
    for line in _sse_lines(resp, last_event):
        if line.startswith(":"):
            last_event[0] = time.monotonic()  # a keep-alive comment while the model reasons
            continue
        if line == "":
            if data_lines:
                data = "\n".join(data_lines)
                data_lines, data_size = [], 0
                last_event[0] = time.monotonic()
                if data.strip() == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except (ValueError, RecursionError):
                    continue
                if isinstance(event, dict):
                    yield event
            continue
        if line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
            data_size += len(line)
            if data_size > settings.AIMLAPI_MAX_SSE_LINE_BYTES:
                raise AimlApiError(
                    "The AI/ML API sent a stream event over "
                    f"{settings.AIMLAPI_MAX_SSE_LINE_BYTES:,} bytes (AIMLAPI_MAX_SSE_LINE_BYTES); it was cut.",
                    code="response_too_large",
                    retryable=False,
                )
    # A final event without the trailing blank line.
    if data_lines:
        try:
            event = json.loads("\n".join(data_lines))
        except (ValueError, RecursionError):
            return
        if isinstance(event, dict):
            yield event


def stream_response(
    body: dict[str, Any],
    *,
    on_event: Callable[[str, str], None] | None = None,
    abort: Abort | None = None,
) -> Response:
    """POST /responses with stream=true; `on_event(text_so_far, response_id)` after each event.

    Returns the terminal response. Its text comes from the deltas when the
    terminal event's `output` is empty (some proxies send it that way). When
    `abort` is triggered the stream is closed and a `cancelled` response with
    the text so far is returned.
    """
    try:
        resp = _request("POST", "/responses", body={**body, "stream": True, "store": False}, stream=True, abort=abort)
    except AimlApiError as error:
        if error.code == "cancelled":
            return Response(id="", status="cancelled")
        raise
    text = ""
    response_id = ""
    try:
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return parse_response(_json(resp, abort))
        for event in _sse_events(resp):
            kind = event.get("type", "")
            response = event.get("response") if isinstance(event.get("response"), dict) else None
            if response and response.get("id"):
                response_id = str(response["id"])[:255]
            if kind == "response.output_text.delta":
                text += str(event.get("delta") or "").replace("\x00", "")
            elif kind == "response.output_text.done" and not text:
                text = str(event.get("text") or "")
            elif kind in ("response.completed", "response.incomplete", "response.failed") and response:
                result = parse_response(response)
                if not result.text and text:
                    result = Response(**{**result.__dict__, "text": text})
                return result
            elif kind == "error":
                raise AimlApiError(
                    f"The AI/ML API reported an error while streaming: {event.get('message') or 'unknown error'}.",
                    code=str(event.get("code") or "stream_error"),
                    partial_text=text,
                    raw=event,
                )
            if on_event:
                on_event(text, response_id)
            if abort is not None and abort.aborted:
                return Response(id=response_id, status="cancelled", text=text)
    except AimlApiError as error:
        error.partial_text = error.partial_text or text  # what arrived before the cut is kept
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        if abort is not None and abort.aborted:
            return Response(id=response_id, status="cancelled", text=text)
        raise AimlApiError(
            "The stream from the AI/ML API broke off before the answer was complete.",
            code="stream_cut",
            partial_text=text,
        ) from None
    finally:
        resp.close()
    if abort is not None and abort.aborted:
        return Response(id=response_id, status="cancelled", text=text)
    raise AimlApiError(
        "The stream from the AI/ML API ended before the answer was complete.",
        code="stream_cut",
        partial_text=text,
    )
