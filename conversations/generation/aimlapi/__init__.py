"""The only HTTP client of the AI/ML API: `/v1/responses` and `/v1/chat/completions`.

Which endpoint answers a model is a property of the model (the catalogue's `api`);
callers say it and get the same small typed results (`Response`, `Usage`) or one
exception (`AimlApiError`) from either, under the same retry rules (`transport`).

    transport.py   one request, bounded bodies, retries, Stop (Abort), error statuses
    sse.py         server-sent events, bounded
    responses.py   the Responses API's body, Response object, polling and events
    chat.py        the Chat Completions API's body, completion and chunks
    results.py     Response and Usage, checked token counts and costs
    errors.py      AimlApiError; scrubbing the key and cutting provider strings
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import chat, responses
from .errors import AimlApiError, bounded_raw, scrub
from .responses import parse_response, parse_usage
from .results import TERMINAL_STATUSES, Response, Usage, usage_checked
from .transport import MODEL_GONE_CODES, OUTAGE_CODES, Abort

__all__ = [
    "API_CHAT",
    "API_RESPONSES",
    "MODEL_GONE_CODES",
    "OUTAGE_CODES",
    "TERMINAL_STATUSES",
    "Abort",
    "AimlApiError",
    "Response",
    "Usage",
    "bounded_raw",
    "build_body",
    "cancel_response",
    "create_response",
    "effective_mode",
    "parse_response",
    "parse_usage",
    "retrieve_response",
    "scrub",
    "stream_response",
    "usage_checked",
]

API_RESPONSES = "responses"
API_CHAT = "chat"


def effective_mode(api: str, mode: str) -> str:
    """How a call on `api` runs when AIMLAPI_MODE is `mode`: background is a Responses feature only,
    so a Chat Completions model in background mode streams (the closest: progress, and Stop)."""
    return "stream" if api == API_CHAT and mode == "background" else mode


def build_body(
    *,
    model: str,
    input: list[dict[str, Any]] | str,  # noqa: A002 (the Responses API's own name)
    api: str = API_RESPONSES,
    instructions: str = "",
    max_output_tokens: int | None = None,
    reasoning_effort: str = "",
) -> dict[str, Any]:
    """The request body for `api`: `input` is the path as user/assistant messages (or one prompt)."""
    endpoint = chat if api == API_CHAT else responses
    return endpoint.build_body(
        model=model,
        messages=input,
        instructions=instructions,
        max_output_tokens=max_output_tokens,
        reasoning_effort=reasoning_effort,
    )


def create_response(
    body: dict[str, Any], *, api: str = API_RESPONSES, background: bool = False, abort: Abort | None = None
) -> Response:
    """Send `body` and wait for the whole answer (or, background on /responses, the queued job)."""
    if api == API_CHAT:
        if background:
            raise ValueError("Chat Completions has no background mode (see effective_mode)")
        return chat.create(body, abort=abort)
    return responses.create(body, background=background, abort=abort)


def stream_response(
    body: dict[str, Any],
    *,
    api: str = API_RESPONSES,
    on_event: Callable[[str, str], None] | None = None,
    abort: Abort | None = None,
) -> Response:
    """Send `body` as a stream; `on_event(text_so_far, response_id)` as it grows. Returns the final answer."""
    endpoint = chat if api == API_CHAT else responses
    return endpoint.stream(body, on_event=on_event, abort=abort)


def retrieve_response(response_id: str, *, abort: Abort | None = None) -> Response:
    """GET a background response (Responses API only)."""
    return responses.retrieve(response_id, abort=abort)


def cancel_response(response_id: str) -> Response:
    """Cancel a background response (Responses API only)."""
    return responses.cancel(response_id)
