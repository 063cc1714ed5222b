"""A fake AI/ML API (``/v1/responses`` and ``/v1/chat/completions``) for tests and demos.

It is a real HTTP server on 127.0.0.1, run in a daemon thread, so the product's
HTTP client runs unchanged against it. It answers in the shapes described in
docs/responses-api.md (sections 5, 7, 8 and 9): OpenAI-style Response objects
with AI/ML API's ``meta.usage`` extras, AI/ML API-style error bodies (plus the
OpenAI-style body for upstream parameter errors), SSE streaming and
background mode with polling and cancel. ``POST /v1/chat/completions`` answers in
AI/ML API's documented chat shape (docs/responses-api.md, Addendum B): a
``chat.completion`` (or ``chat.completion.chunk`` events ending with a chunk that
carries ``finish_reason``, ``usage`` and ``meta``, then ``data: [DONE]``).
The same fault queue serves both endpoints; on chat, "failed" is a
``content_filter`` finish and "incomplete" a ``length`` one.

A model in ``fake.retired_models`` is answered 404 "Model is deprecated" (as AI/ML
API answers a retired model); one in ``fake.unknown_models`` 404 "Model ... not found".

Reasoning summaries (``fake.thinking``, paragraphs apart): on ``/v1/responses`` only when the
body asks (``reasoning.summary``), as summary parts of the ``reasoning`` output item, streamed as
``response.reasoning_summary_part.added`` / ``response.reasoning_summary_text.delta`` / ``.done``
events before the answer's text (``fake.thinking_latency`` spread over their deltas), and in a
running background response once it is in progress. With ``fake.refuse_reasoning_summary`` such a
body is refused: 400 "Unsupported parameter: 'reasoning.summary' ...". On ``/v1/chat/completions``
(where nothing asks) ``message.reasoning`` / ``delta.reasoning`` carry it whenever the model
reasons (``reasoning_tokens``), as AI/ML API documents for gpt-5.6-sol-pro.

Use it in tests::

    with FakeAimlApi(latency=0.2) as fake:
        client = MyClient(base_url=fake.base_url, api_key="test")
        fake.faults = [("429", 3), ("status", 500)]  # next two POSTs fail
        ...
        assert fake.post_count == 3

or from the command line (``make demo``)::

    python tests/fake_aimlapi.py --port 8765 --latency 3

Faults (one queue entry is consumed by each ``POST /v1/responses``; an
error-status fault answers before the API key and body are checked, as a
gateway in front of the API would):

    ("status", code)        error status 400/401/403/404/500/502/503/504
    ("429", retry_after)    429 "Too Many Requests", with Retry-After if not None
    ("429_quota",)          429 "You exceeded your current quota..." (OpenAI shape)
    ("slow", seconds)       wait that long, then answer normally
    ("non_json",)           200 with an HTML body
    ("deprecated",)         404 "Model is deprecated", as AI/ML API answers a retired model
    ("failed",)             200 with status "failed" (and response.failed if streaming)
    ("incomplete",)         200 with status "incomplete", partial text
    ("stream_cut",)         stream stops after half the deltas; the socket is closed
                            mid-body. ("stream_cut", "clean") ends the body
                            properly, still without a terminal event.
    ("stream_error",)       an ``error`` event after half the deltas
    ("drop",)               close the socket without answering;
                            ("drop", seconds) waits first

Images and PDFs in user messages (``input_image`` / ``input_file`` on ``/v1/responses``, ``image_url`` /
``file`` on ``/v1/chat/completions``) are checked as the provider documents them (tests/fake_parts.py):
a part that is not a base64 data URL of an accepted type gets a 400; each file received is in
``fake.files`` (its endpoint, kind, name, type, size, sha256, detail and bytes).

Only the standard library is used, so the fake also runs outside the venv.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Self
from urllib.parse import urlsplit

try:
    from tests.fake_parts import content_files
except ImportError:  # run as a script: python tests/fake_aimlapi.py
    from fake_parts import content_files  # type: ignore[no-redef]

# AI/ML API list prices for openai/gpt-5-pro (docs/responses-api.md section 11).
USD_PER_INPUT_TOKEN = 20.631 / 1_000_000
USD_PER_OUTPUT_TOKEN = 165.048 / 1_000_000
# Other models' list prices (input, cached input, output) per token (the addendum); others cost as gpt-5-pro.
MODEL_PRICES = {
    "openai/gpt-5.6-sol-pro": (5.5016 / 1_000_000, 0.55016 / 1_000_000, 27.508 / 1_000_000),
}
# "$1 USD = 2,000,000 credits" (docs.aimlapi.com/faq/how-can-i-track-my-funds).
CREDITS_PER_USD = 2_000_000

# A background job reports "queued" for this share of its latency, then
# "in_progress" until the latency has passed.
QUEUED_FRACTION = 0.2

API_KEY_MESSAGE = (
    "This request requires a valid API key. You can create a new API key on the "
    "Billing page: https://aimlapi.com/app/keys"
)
NO_CREDITS_MESSAGE = (
    "You've run out of credits. Please top up your balance to continue: https://aimlapi.com/app/billing"
)
QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
BODY_VALIDATION_MESSAGE = "Body validation error!"
UNSUPPORTED_PARAMETER_MESSAGE = "Unsupported parameter: '{param}' is not supported with this model."
# The reasoning summary a model gives (two paragraphs, each with its heading, as OpenAI's models write them).
DEFAULT_THINKING = (
    "**Reading the question**\n\nI looked at what was asked and what the earlier turns said.\n\n"
    "**Planning the answer**\n\nI settled on a short reply with a list."
)
STREAM_ERROR_MESSAGE = "The server had an error while processing your request."
# AI/ML API's answer for a retired model (its docs page "404 Model is deprecated").
DEPRECATED_MESSAGE = "Model is deprecated"

# Messages from AI/ML API's error pages (docs/responses-api.md section 9).
AIML_MESSAGES = {
    400: BODY_VALIDATION_MESSAGE,
    401: API_KEY_MESSAGE,
    403: NO_CREDITS_MESSAGE,
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal server error",
    503: "Service unavailable",
    504: "Generation timeout",
}

ERROR_STATUSES = frozenset(status.value for status in HTTPStatus if status >= 400)
UNSUPPORTED_PARAMETERS = ("temperature", "top_p")
ACTIVE_STATUSES = ("queued", "in_progress")
TERMINAL_EVENTS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}

# Fault name -> does it take an argument? (None: optional, True: required.)
FAULT_ARGUMENTS = {
    "status": True,
    "429": None,
    "429_quota": False,
    "slow": True,
    "non_json": False,
    "deprecated": False,
    "failed": False,
    "incomplete": False,
    "stream_cut": None,
    "stream_error": False,
    "drop": None,
}
# Faults answered before the request is even looked at, like a gateway would.
GATEWAY_FAULTS = ("status", "429", "429_quota", "non_json", "deprecated")
# Faults that change the generated Response rather than the HTTP exchange.
OUTCOME_FAULTS = ("failed", "incomplete")
STREAM_FAULTS = ("stream_cut", "stream_error")

Fault = tuple  # ("name",) or ("name", argument); see the module docstring


# --------------------------------------------------------------------------
# Pure helpers: request parsing, token counting and body shapes.
# --------------------------------------------------------------------------


def _hex_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _copy(value: Any) -> Any:
    """Deep copy of a JSON value, so stored responses never share dicts."""
    return json.loads(json.dumps(value))


def aiml_error_body(status: int, message: str, path: str, request_id: str) -> dict:
    """The AI/ML API gateway's own error shape."""
    return {
        "message": message,
        "statusCode": status,
        "path": path,
        "requestId": request_id,
        "timestamp": _now_iso(),
    }


def openai_error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict:
    """The OpenAI error shape, which AI/ML API relays for upstream errors."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def content_text(content: Any) -> str:
    """Text of a message's ``content``: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
    ]
    return "\n".join(texts)


def _message_items(input_value: Any) -> list[dict]:
    """Message items of an ``input`` array (a string input is one user message)."""
    if isinstance(input_value, str):
        return [{"role": "user", "content": input_value}]
    if not isinstance(input_value, list):
        return []
    return [
        item
        for item in input_value
        if isinstance(item, dict) and "role" in item and item.get("type", "message") == "message"
    ]


def user_messages(input_value: Any) -> list[str]:
    """Texts of the user messages in ``input``, oldest first."""
    return [content_text(item.get("content")) for item in _message_items(input_value) if item["role"] == "user"]


def estimate_tokens(text: str) -> int:
    """Rough token count: 1.3 tokens per word, at least 1."""
    return max(1, round(len(text.split()) * 1.3))


def request_messages(body: dict) -> Any:
    """The conversation a request carries: ``input`` (Responses) or ``messages`` (Chat Completions)."""
    return body.get("input") if "input" in body else body.get("messages")


def default_reply(body: dict) -> str:
    """Deterministic reply that lets tests see what the client sent."""
    users = user_messages(request_messages(body))
    last = users[-1] if users else ""
    return (
        f"Echo: {last}\n\n"
        f"This is a **fake** reply from the AI/ML API test server "
        f"(turns={len(users)}). "
        "It has *markdown*, `inline code` and a list:\n\n"
        "- first point\n"
        "- second point"
    )


def usd_spent(model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float:
    """What AI/ML API charges for one answer at the model's list prices."""
    input_rate, cached_rate, output_rate = MODEL_PRICES.get(model, (USD_PER_INPUT_TOKEN, None, USD_PER_OUTPUT_TOKEN))
    cached = min(cached_tokens, input_tokens)
    usd = (input_tokens - cached) * input_rate + cached * (cached_rate if cached_rate is not None else input_rate)
    return usd + output_tokens * output_rate


def meta_fields(usd: float) -> dict:
    """AI/ML API's ``meta.usage`` billing block."""
    return {"usage": {"credits_used": round(usd * CREDITS_PER_USD), "usd_spent": round(usd, 8)}}


def usage_fields(
    input_tokens: int, visible_tokens: int, reasoning_tokens: int, cached_tokens: int = 0, model: str = ""
) -> dict:
    """``usage`` plus AI/ML API's ``meta.usage`` billing for one Response.

    Reasoning tokens are part of ``output_tokens`` and billed at the output rate.
    """
    output_tokens = visible_tokens + reasoning_tokens
    return {
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": min(cached_tokens, input_tokens)},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
        "meta": meta_fields(usd_spent(model, input_tokens, cached_tokens, output_tokens)),
    }


def chat_usage_fields(
    input_tokens: int, visible_tokens: int, reasoning_tokens: int, cached_tokens: int = 0, model: str = ""
) -> dict:
    """A chat completion's ``usage`` (prompt/completion names) plus ``meta.usage``."""
    output_tokens = visible_tokens + reasoning_tokens
    return {
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "prompt_tokens_details": {"cached_tokens": min(cached_tokens, input_tokens), "cache_write_tokens": 0},
        },
        "meta": meta_fields(usd_spent(model, input_tokens, cached_tokens, output_tokens)),
    }


def asked_summary(body: dict) -> str:
    """The reasoning summary a Responses body asks for ("auto", "concise", "detailed"), or ""."""
    reasoning = body.get("reasoning")
    return str(reasoning.get("summary") or "") if isinstance(reasoning, dict) else ""


def thinking_parts(thinking: str) -> list[str]:
    """A summary's parts: its paragraphs (as the models send each heading and its text apart)."""
    parts = [part.strip() for part in thinking.split("\n\n") if part.strip()]
    # A heading and the paragraph after it are one part.
    joined: list[str] = []
    for part in parts:
        if joined and joined[-1].startswith("**") and joined[-1].endswith("**"):
            joined[-1] += "\n\n" + part
        else:
            joined.append(part)
    return joined


def split_text(text: str, pieces: int) -> list[str]:
    """Split ``text`` into at most ``pieces`` consecutive, non-empty chunks."""
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    chunks, start = [], 0
    for index in range(pieces):
        end = start + size + (1 if index < extra else 0)
        chunks.append(text[start:end])
        start = end
    return [chunk for chunk in chunks if chunk]


def normalize_fault(fault: Any) -> Fault:
    """Turn ``"non_json"`` or ``["429", 5]`` into a checked tuple.

    Checking when a fault is queued makes a typo fail in the test, not in the server.
    """
    fault = (fault,) if isinstance(fault, str) else tuple(fault)
    if not fault or fault[0] not in FAULT_ARGUMENTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULT_ARGUMENTS)}")
    takes_argument = FAULT_ARGUMENTS[fault[0]]
    if len(fault) > 2 or (takes_argument is True and len(fault) != 2) or (takes_argument is False and len(fault) != 1):
        raise ValueError(f"wrong arguments for fault {fault!r}")
    if fault[0] == "status" and fault[1] not in ERROR_STATUSES:
        raise ValueError(f"fault {fault!r} needs an HTTP error status such as 500")
    return fault


class _Stopped(Exception):
    """Raised inside a handler when the server stops while it is waiting."""


@dataclass
class _StoredResponse:
    """A created Response; its visible status is derived from elapsed time."""

    final: dict
    started: float
    latency: float
    cancelled: bool = False


def _pending_view(response: dict, status: str) -> dict:
    """What a Response looks like before it has finished (or once cancelled)."""
    view = _copy(response)
    view.update(
        status=status,
        output=[],
        output_text="",
        usage=None,
        meta=None,
        error=None,
        incomplete_details=None,
        completed_at=None,
    )
    return view


# --------------------------------------------------------------------------
# The fake server.
# --------------------------------------------------------------------------


class FakeAimlApi:
    """Fake ``https://api.aimlapi.com/v1`` serving the Responses API.

    All attributes may be changed while the server runs; they are read per request.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        stream_chunks: int = 8,
        reply: str | Callable[[dict], str] | None = None,
        id_prefix: str = "resp_",
        stream_empty_final_output: bool = False,
        reasoning_tokens: int = 64,
        cached_tokens: int = 0,
        thinking: str = DEFAULT_THINKING,
        thinking_latency: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        # Seconds a response takes to generate.
        self.latency = latency
        # Number of output_text.delta events in a stream.
        self.stream_chunks = stream_chunks
        # None: default_reply(); a string; or callable(request_json) -> str.
        self.reply = reply
        # AI/ML API ids are not always "resp_..." (section 5), so tests vary it.
        self.id_prefix = id_prefix
        # Proxy quirk (section 13): response.completed arrives with output [].
        self.stream_empty_final_output = stream_empty_final_output
        # Part of output_tokens, as with the real reasoning model.
        self.reasoning_tokens = reasoning_tokens
        # Input tokens reported as served from the provider's cache.
        self.cached_tokens = cached_tokens
        # The reasoning summary (see the module docstring): sent when asked; "" for none.
        self.thinking = thinking
        # Seconds a stream spends on the summary's deltas, before the answer's.
        self.thinking_latency = thinking_latency
        # Refuse a body asking for reasoning.summary with a 400 (as a model without the field may).
        self.refuse_reasoning_summary = False
        # Models answered 404 "Model is deprecated" / "Model ... not found", on either endpoint.
        self.retired_models: set[str] = set()
        self.unknown_models: set[str] = set()
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._files: list[dict] = []
        self._faults: list[Fault] = []
        self._stored: dict[str, _StoredResponse] = {}
        self._cancel_calls: list[str] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("FakeAimlApi is already running")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        # A short poll interval lets stop() return quickly.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeAimlApi:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. Requests that are still waiting are dropped unanswered."""
        if self._server is None:
            return
        self._stopping.set()  # wakes every handler that is sleeping
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAimlApi is not running; call start() first")
        return f"http://{self.host}:{self.port}/v1"

    # ---- state for tests -------------------------------------------------

    @property
    def requests(self) -> list[dict]:
        """Received requests: method, path, headers (lower-case keys), json, body."""
        with self._lock:
            return list(self._requests)

    @property
    def post_requests(self) -> list[dict]:
        """Received ``POST /v1/responses`` requests."""
        return [r for r in self.requests if r["method"] == "POST" and urlsplit(r["path"]).path == "/v1/responses"]

    @property
    def post_count(self) -> int:
        return len(self.post_requests)

    @property
    def chat_requests(self) -> list[dict]:
        """Received ``POST /v1/chat/completions`` requests."""
        return [
            r for r in self.requests if r["method"] == "POST" and urlsplit(r["path"]).path == "/v1/chat/completions"
        ]

    @property
    def cancel_calls(self) -> list[str]:
        """Response ids passed to ``POST /v1/responses/{id}/cancel``, in order."""
        with self._lock:
            return list(self._cancel_calls)

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Pending faults. A tuple, so that ``.append`` fails: use ``add_fault()``."""
        with self._lock:
            return tuple(self._faults)

    @faults.setter
    def faults(self, faults: list) -> None:
        checked = [normalize_fault(fault) for fault in faults]
        with self._lock:
            self._faults = checked

    def add_fault(self, name: str, *arguments: Any) -> None:
        """Queue one fault after the pending ones, e.g. ``add_fault("429", 5)``."""
        checked = normalize_fault((name, *arguments))
        with self._lock:
            self._faults.append(checked)

    def stored_response(self, response_id: str) -> dict | None:
        """The Response as ``GET /v1/responses/{id}`` would return it now."""
        with self._lock:
            stored = self._stored.get(response_id)
            return None if stored is None else self._current_view(stored)

    def finish_all(self) -> None:
        """Let every stored background response be finished from now on (a test's fast-forward)."""
        with self._lock:
            for stored in self._stored.values():
                stored.latency = 0.0

    def reset(self) -> None:
        """Forget requests, faults, stored responses and cancel calls."""
        with self._lock:
            self._requests.clear()
            self._files.clear()
            self._faults.clear()
            self._stored.clear()
            self._cancel_calls.clear()

    # ---- used by the request handler ------------------------------------

    @property
    def files(self) -> list[dict]:
        """Images and PDFs received as content parts (each: endpoint, kind, filename, content_type, size,
        sha256, detail, data, and `message`, the index of its message in the request)."""
        with self._lock:
            return list(self._files)

    def _record_files(self, files: list[dict]) -> None:
        with self._lock:
            self._files.extend(files)

    def _record(self, entry: dict) -> None:
        with self._lock:
            self._requests.append(entry)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _sleep(self, seconds: float) -> None:
        # Waiting on the stop event (not time.sleep) lets stop() interrupt it at once.
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped

    def _reply_text(self, body: dict) -> str:
        if self.reply is None:
            return default_reply(body)
        return self.reply(body) if callable(self.reply) else str(self.reply)

    def _new_response(self, body: dict, outcome: str) -> dict:
        """A finished Response (completed, failed or incomplete) for a request body."""
        prompt = " ".join(content_text(item.get("content")) for item in _message_items(body["input"]))
        input_tokens = estimate_tokens(f"{body.get('instructions') or ''} {prompt}")
        response = {
            "id": _hex_id(self.id_prefix),
            "object": "response",
            "created_at": int(time.time()),
            "completed_at": None,
            "status": outcome,
            "background": bool(body.get("background")),
            "error": None,
            "incomplete_details": None,
            "model": body["model"],
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "previous_response_id": body.get("previous_response_id"),
            # AI/ML API defaults store to false, unlike OpenAI.
            "store": bool(body.get("store")),
            "metadata": body.get("metadata") or {},
            "reasoning": {"effort": "high", "summary": asked_summary(body) or None},
            "text": body.get("text") or {"format": {"type": "text"}},
            "truncation": body.get("truncation", "disabled"),
            "tool_choice": "auto",
            "tools": [],
            "parallel_tool_calls": True,
        }
        if outcome == "failed":
            response["error"] = {
                "code": "server_error",
                "message": "The model failed to generate a response.",
            }
            response.update(
                output=[], output_text="", **usage_fields(input_tokens, 0, 0, self.cached_tokens, body["model"])
            )
            return response

        text = self._reply_text(body)
        message_status = "completed"
        if outcome == "incomplete":
            # Cut off mid-answer, as when max_output_tokens runs out.
            text = text[: max(1, len(text) // 2)]
            message_status = "incomplete"
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        summary = thinking_parts(self.thinking) if asked_summary(body) else []
        reasoning_item = {
            "type": "reasoning",
            "id": _hex_id("rs_"),
            "summary": [{"type": "summary_text", "text": part} for part in summary],
        }
        message_item = {
            "type": "message",
            "id": _hex_id("msg_"),
            "role": "assistant",
            "status": message_status,
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        response.update(
            output=[reasoning_item, message_item],
            output_text=text,
            **usage_fields(
                input_tokens, estimate_tokens(text), self.reasoning_tokens, self.cached_tokens, body["model"]
            ),
        )
        return response

    def _new_completion(self, body: dict, outcome: str) -> dict:
        """A ``chat.completion`` for a request body; "failed" is a content_filter finish, "incomplete" a length one."""
        prompt = " ".join(content_text(item.get("content")) for item in _message_items(body["messages"]))
        input_tokens = estimate_tokens(prompt)
        text = self._reply_text(body)
        finish = "stop"
        if outcome == "incomplete":
            text, finish = text[: max(1, len(text) // 2)], "length"
        elif outcome == "failed":
            text, finish = "", "content_filter"
        reasoning = self.thinking if self.reasoning_tokens and self.thinking else None
        return {
            "id": _hex_id("gen-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": text, "refusal": None, "reasoning": reasoning},
                }
            ],
            **chat_usage_fields(
                input_tokens, estimate_tokens(text) if text else 0, self.reasoning_tokens, self.cached_tokens,
                body["model"],
            ),
        }  # fmt: skip

    def _store(self, response: dict, latency: float) -> None:
        stored = _StoredResponse(final=_copy(response), started=time.time(), latency=latency)
        with self._lock:
            self._stored[response["id"]] = stored

    def _current_view(self, stored: _StoredResponse) -> dict:
        """The Response as of now. Call with the lock held.

        The status is derived from the elapsed time, so no worker thread is needed.
        """
        if stored.cancelled:
            return _pending_view(stored.final, "cancelled")
        elapsed = time.time() - stored.started
        if elapsed < stored.latency * QUEUED_FRACTION:
            return _pending_view(stored.final, "queued")
        if elapsed < stored.latency:
            view = _pending_view(stored.final, "in_progress")
            # Its reasoning summary (if asked) is there before its answer.
            view["output"] = [item for item in _copy(stored.final.get("output") or []) if item.get("summary")]
            return view
        view = _copy(stored.final)
        if view["status"] == "completed":
            view["completed_at"] = int(stored.started + stored.latency)
        return view

    def _cancel(self, response_id: str) -> dict | None:
        """Cancel if still running; a finished or cancelled Response stays as it is."""
        with self._lock:
            self._cancel_calls.append(response_id)
            stored = self._stored.get(response_id)
            if stored is None:
                return None
            if self._current_view(stored)["status"] in ACTIVE_STATUSES:
                stored.cancelled = True
            return self._current_view(stored)

    def _summary_events(self, reasoning: dict) -> Iterator[dict]:
        """A reasoning item's summary as events: each part added, its text in deltas, then done (section 7)."""
        for index, part in enumerate(reasoning["summary"]):
            where = {"item_id": reasoning["id"], "output_index": 0, "summary_index": index}
            yield {"type": "response.reasoning_summary_part.added", **where, "part": {**part, "text": ""}}
            for chunk in split_text(part["text"], self.stream_chunks):
                yield {"type": "response.reasoning_summary_text.delta", **where, "delta": chunk}
            yield {"type": "response.reasoning_summary_text.done", **where, "text": part["text"]}
            yield {"type": "response.reasoning_summary_part.done", **where, "part": part}

    def _stream_events(self, response: dict, chunks: list[str]) -> Iterator[dict]:
        """SSE events for ``response``, its text split into ``chunks`` (section 7).

        The events have no sequence numbers yet.

        A generator, so that the terminal event is built (and timestamped)
        only after the deltas before it have been sent.
        """
        snapshot = _pending_view(response, "in_progress")
        yield {"type": "response.created", "response": snapshot}
        yield {"type": "response.in_progress", "response": snapshot}

        if response["status"] != "failed":
            reasoning, message = response["output"]
            text = message["content"][0]["text"]
            where = {"item_id": message["id"], "output_index": 1, "content_index": 0}
            yield {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**reasoning, "summary": []},
            }
            yield from self._summary_events(reasoning)
            yield {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": reasoning,
            }
            yield {
                "type": "response.output_item.added",
                "output_index": 1,
                "item": {**message, "status": "in_progress", "content": []},
            }
            yield {
                "type": "response.content_part.added",
                **where,
                "part": {"type": "output_text", "text": "", "annotations": []},
            }
            for chunk in chunks:
                yield {
                    "type": "response.output_text.delta",
                    **where,
                    "delta": chunk,
                    "logprobs": [],
                }
            yield {
                "type": "response.output_text.done",
                **where,
                "text": text,
                "logprobs": [],
            }
            yield {
                "type": "response.content_part.done",
                **where,
                "part": message["content"][0],
            }
            yield {
                "type": "response.output_item.done",
                "output_index": 1,
                "item": message,
            }

        final = _copy(response)
        if final["status"] == "completed":
            final["completed_at"] = int(time.time())
            if self.stream_empty_final_output:
                final.update(output=[], output_text="")
        yield {"type": TERMINAL_EVENTS[final["status"]], "response": final}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a sleeping request must never keep the process alive
    # The default listen backlog of 5 resets connections when a test fires
    # dozens of concurrent requests.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeAimlApi) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() does a reverse DNS lookup (getfqdn) that can
        # take seconds on some machines; the name is never used here.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, cancelled streams) are routine in tests.
        if isinstance(sys.exc_info()[1], (ConnectionError, _Stopped)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that streams use chunked encoding: a cut stream then looks
    # like a truncated body to the client, as it would with the real API.
    protocol_version = "HTTP/1.1"
    server_version = "FakeAimlApi/1.0"
    server: _Server

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test and demo output clean

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # ---- routing ---------------------------------------------------------

    def _dispatch(self) -> None:
        # One request per connection: stop() never waits on idle keep-alive sockets.
        self.close_connection = True
        self.request_id = str(uuid.uuid4())
        self.route = urlsplit(self.path).path.rstrip("/")
        raw = self._read_body()
        self.body = self._parse_json(raw)
        self.server.fake._record(
            {
                "method": self.command,
                "path": self.path,
                "headers": {key.lower(): value for key, value in self.headers.items()},
                "json": self.body,
                "body": raw.decode("utf-8", "replace"),
            }
        )
        try:
            self._route()
        except (_Stopped, ConnectionError):
            pass  # server stopping or client gone: just close the connection

    def _route(self) -> None:
        parts = self.route.strip("/").split("/")
        if self.command == "POST" and parts == ["v1", "responses"]:
            self._create()
        elif self.command == "POST" and parts == ["v1", "chat", "completions"]:
            self._chat()
        elif self.command == "GET" and len(parts) == 3 and parts[:2] == ["v1", "responses"]:
            if self._authorized():
                self._send_stored(self.server.fake.stored_response(parts[2]), parts[2])
        elif self.command == "POST" and len(parts) == 4 and parts[:2] == ["v1", "responses"] and parts[3] == "cancel":
            if self._authorized():
                self._send_stored(self.server.fake._cancel(parts[2]), parts[2])
        else:
            # AI/ML API is a NestJS app; this is NestJS's wording for an unknown route.
            self._send_aiml_error(404, f"Cannot {self.command} {self.route}")

    # ---- POST /v1/responses ---------------------------------------------

    def _fault_first(self) -> tuple[str | None, Any, bool]:
        """Take the next fault; answer it now if a gateway would (or drop, or wait first).

        Returns (fault name, its argument, whether the request still needs an answer).
        """
        fake = self.server.fake
        fault = fake._next_fault()
        name = fault[0] if fault else None
        argument = fault[1] if fault and len(fault) > 1 else None
        if name in GATEWAY_FAULTS:
            self._send_fault(name, argument)
            return name, argument, False
        if name == "drop":
            fake._sleep(argument or 0)
            return name, argument, False  # the connection closes with no response at all
        if name == "slow":
            fake._sleep(argument)
        return name, argument, True

    def _create(self) -> None:
        fake = self.server.fake
        name, argument, answer = self._fault_first()
        if not answer:
            return
        if not self._authorized() or not self._valid_body() or not self._model_served():
            return
        response = fake._new_response(self.body, name if name in OUTCOME_FAULTS else "completed")
        # Every Response is retrievable with GET; its status follows the latency.
        fake._store(response, fake.latency)

        if self.body.get("background"):
            # Background wins over stream: a background stream is not modelled.
            self._send_json(200, _pending_view(response, "queued"))
        elif self.body.get("stream"):
            self._stream(response, name if name in STREAM_FAULTS else None, argument)
        else:
            fake._sleep(fake.latency)
            if response["status"] == "completed":
                response["completed_at"] = int(time.time())
            self._send_json(200, response)

    # ---- POST /v1/chat/completions ---------------------------------------

    def _chat(self) -> None:
        fake = self.server.fake
        name, argument, answer = self._fault_first()
        if not answer:
            return
        if not self._authorized() or not self._valid_body(field="messages") or not self._model_served():
            return
        completion = fake._new_completion(self.body, name if name in OUTCOME_FAULTS else "completed")
        if self.body.get("stream"):
            self._chat_stream(completion, name if name in STREAM_FAULTS else None, argument)
        else:
            fake._sleep(fake.latency)
            self._send_json(200, completion)

    def _chat_stream(self, completion: dict, fault: str | None, fault_argument: Any) -> None:
        """Chunks: the role, the text deltas (latency spread over them), a last chunk with
        finish_reason, usage and meta (AI/ML API sends usage there), then ``data: [DONE]``."""
        fake = self.server.fake
        choice = completion["choices"][0]
        chunks = split_text(choice["message"]["content"], fake.stream_chunks)
        pause = fake.latency / max(1, len(chunks))
        head = {key: completion[key] for key in ("id", "created", "model")}

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

        self._start_event_stream()
        self._send_data(chunk({"role": "assistant", "content": ""}))
        reasoning = split_text(choice["message"].get("reasoning") or "", fake.stream_chunks)
        for piece in reasoning:
            fake._sleep(fake.thinking_latency / len(reasoning))
            self._send_data(chunk({"reasoning": piece}))
        if not chunks:
            fake._sleep(fake.latency)
        for sent, text in enumerate(chunks, start=1):
            fake._sleep(pause)
            self._send_data(chunk({"content": text}))
            if fault and sent == max(1, len(chunks) // 2):
                if fault == "stream_error":
                    error = {"message": STREAM_ERROR_MESSAGE, "type": "server_error", "code": "server_error"}
                    self._send_data({"error": error})
                if fault == "stream_error" or fault_argument == "clean":
                    self._write_chunk(b"")
                return  # "stream_cut": close the socket mid-body
        self._send_data(chunk({}, choice["finish_reason"], usage=completion["usage"], meta=completion["meta"]))
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _send_data(self, payload: dict) -> None:
        self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def _model_served(self) -> bool:
        """A retired or unknown model is refused as AI/ML API refuses it."""
        model = self.body.get("model")
        if model in self.server.fake.retired_models:
            self._send_aiml_error(404, DEPRECATED_MESSAGE)
            return False
        if model in self.server.fake.unknown_models:
            self._send_aiml_error(404, f"Model {model} not found")
            return False
        return True

    def _authorized(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return True
        self._send_aiml_error(401, API_KEY_MESSAGE)
        return False

    def _valid_body(self, field: str = "input") -> bool:
        body = self.body
        if not isinstance(body, dict):
            self._send_aiml_error(400, BODY_VALIDATION_MESSAGE)
            return False
        # GPT-5 reasoning models reject sampling parameters (section 2).
        for param in UNSUPPORTED_PARAMETERS:
            if param in body:
                message = UNSUPPORTED_PARAMETER_MESSAGE.format(param=param)
                self._send_json(400, openai_error_body(message, "invalid_request_error", param))
                return False
        if self.server.fake.refuse_reasoning_summary and asked_summary(body):
            message = UNSUPPORTED_PARAMETER_MESSAGE.format(param="reasoning.summary")
            self._send_json(400, openai_error_body(message, "invalid_request_error", "reasoning.summary"))
            return False
        if not body.get("model") or body.get(field) in (None, "", []):
            self._send_aiml_error(400, BODY_VALIDATION_MESSAGE)
            return False
        # Images and PDFs as content parts (fake_parts.py): recorded, or a 400 naming the bad part.
        found = content_files("responses" if field == "input" else "chat", body.get(field))
        if isinstance(found, str):
            self._send_json(400, openai_error_body(f"Invalid content part: {found}", "invalid_request_error", field))
            return False
        self.server.fake._record_files(found)
        return True

    def _send_fault(self, name: str, argument: Any) -> None:
        if name == "non_json":
            self._send_text(200, "<html>oops</html>", "text/html; charset=utf-8")
        elif name == "429_quota":
            # Relayed from OpenAI, so it comes in the OpenAI shape.
            self._send_json(
                429,
                openai_error_body(QUOTA_MESSAGE, "insufficient_quota", None, "insufficient_quota"),
            )
        elif name == "deprecated":
            self._send_aiml_error(404, DEPRECATED_MESSAGE)
        elif name == "429":
            headers = {} if argument is None else {"Retry-After": str(argument)}
            self._send_aiml_error(429, AIML_MESSAGES[429], headers)
        elif argument == 502:
            # Comes from a proxy in front of the API, so it is not JSON.
            self._send_text(502, "Bad Gateway", "text/plain; charset=utf-8")
        else:
            self._send_aiml_error(argument, AIML_MESSAGES.get(argument) or HTTPStatus(argument).phrase)

    def _send_stored(self, response: dict | None, response_id: str) -> None:
        if response is None:
            self._send_aiml_error(404, f"Response with id '{response_id}' not found.")
        else:
            self._send_json(200, response)

    # ---- streaming ------------------------------------------------------

    def _stream(self, response: dict, fault: str | None, fault_argument: Any) -> None:
        """Send the events, spreading the latency over the text deltas."""
        fake = self.server.fake
        failed = response["status"] == "failed"
        chunks = [] if failed else split_text(response["output_text"], fake.stream_chunks)
        pause = fake.latency / max(1, len(chunks))
        fault_after = max(1, len(chunks) // 2)
        summary = [] if failed else response["output"][0]["summary"]
        summary_deltas = sum(len(split_text(part["text"], fake.stream_chunks)) for part in summary)
        thinking_pause = fake.thinking_latency / max(1, summary_deltas)

        self._start_event_stream()
        sent_deltas = 0
        for sequence_number, event in enumerate(fake._stream_events(response, chunks)):
            # A failed response has no deltas: all its wait is before response.failed.
            if event["type"] == ("response.failed" if failed else "response.output_text.delta"):
                fake._sleep(pause)
            elif event["type"] == "response.reasoning_summary_text.delta":
                fake._sleep(thinking_pause)
            self._send_event({**event, "sequence_number": sequence_number})
            if event["type"] != "response.output_text.delta":
                continue
            sent_deltas += 1
            if fault and sent_deltas == fault_after:
                if fault == "stream_error":
                    self._send_event(
                        {
                            "type": "error",
                            "code": "server_error",
                            "message": STREAM_ERROR_MESSAGE,
                            "param": None,
                            "sequence_number": sequence_number + 1,
                        }
                    )
                if fault == "stream_error" or fault_argument == "clean":
                    self._write_chunk(b"")
                return  # "stream_cut": close the socket mid-body
        self._write_chunk(b"")  # end of the chunked body

    def _start_event_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.send_header("x-request-id", self.request_id)
        self.end_headers()

    def _send_event(self, event: dict) -> None:
        self._write_chunk(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        # An empty chunk is the chunked-encoding terminator.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # ---- plain responses -------------------------------------------------

    def _send_aiml_error(self, status: int, message: str, headers: dict | None = None) -> None:
        body = aiml_error_body(status, message, self.route, self.request_id)
        self._send_json(status, body, headers)

    def _send_json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self._send_text(status, json.dumps(payload), "application/json; charset=utf-8", headers)

    def _send_text(self, status: int, text: str, content_type: str, headers: dict | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.send_header("x-request-id", self.request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # ---- request parsing -------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None


# --------------------------------------------------------------------------
# Command line: ``python tests/fake_aimlapi.py --port 8765 --latency 3``.
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake AI/ML API (Responses, Chat Completions) until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each response takes")
    parser.add_argument(
        "--stream-chunks",
        type=int,
        default=8,
        help="output_text.delta events per stream",
    )
    parser.add_argument("--id-prefix", default="resp_", help="prefix of generated response ids")
    args = parser.parse_args(argv)

    fake = FakeAimlApi(
        host=args.host,
        port=args.port,
        latency=args.latency,
        stream_chunks=args.stream_chunks,
        id_prefix=args.id_prefix,
    )
    try:
        fake.start()
    except OSError as exc:  # the port is taken: one line, not a traceback (`make demo` picks a free one)
        print(f"Fake AI/ML API: cannot listen on {args.host}:{args.port} ({exc.strerror}); set DEMO_PORT.", flush=True)
        raise SystemExit(2) from None
    print(
        f"Fake AI/ML API listening on {fake.base_url} (latency {args.latency}s); any API key works.",
        flush=True,
    )
    try:
        threading.Event().wait()  # serve until interrupted
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
