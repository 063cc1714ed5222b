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

import logging
from collections.abc import Callable
from typing import Any

from . import chat, responses
from .errors import AimlApiError, bounded_raw, scrub
from .responses import parse_response, parse_usage
from .results import TERMINAL_STATUSES, Ask, Response, Usage, usage_checked
from .transport import MODEL_GONE_CODES, OUTAGE_CODES, Abort, Watch

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

logger = logging.getLogger(__name__)

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
    reasoning_summary: bool = False,
) -> dict[str, Any]:
    """The request body for `api`: `input` is the path as user/assistant messages (or one prompt).

    `reasoning_summary` asks for the model's reasoning summary on /responses; Chat Completions
    has no field for it (`message.reasoning` comes where the provider sends it).
    """
    ask = Ask(model, input, instructions, max_output_tokens, reasoning_effort, reasoning_summary)
    return (chat if api == API_CHAT else responses).build_body(ask)


def _summary_refused(error: AimlApiError, body: dict[str, Any]) -> bool:
    """The provider refused a body that asks for a reasoning summary (400): maybe for that field.

    A 400 comes before anything is generated (or charged), so sending the body once more without
    the field repeats nothing; if the field was not the reason, the second answer says what is.
    """
    return error.status_code == 400 and error.code == "bad_request" and responses.asks_summary(body)


def _without_refused_summary(send: Callable[[dict[str, Any]], Response], body: dict[str, Any]) -> Response:
    try:
        return send(body)
    except AimlApiError as error:
        if not _summary_refused(error, body):
            raise
        logger.warning(
            "the AI/ML API refused a request asking for reasoning.summary (model %s: %s); sent again without it. "
            "If this repeats, switch off the model's “Returns reasoning summaries” in the admin.",
            body.get("model"),
            error.message,
        )
        return send(responses.without_summary(body))


def create_response(
    body: dict[str, Any], *, api: str = API_RESPONSES, background: bool = False, abort: Abort | None = None
) -> Response:
    """Send `body` and wait for the whole answer (or, background on /responses, the queued job)."""
    if api == API_CHAT:
        if background:
            raise ValueError("Chat Completions has no background mode (see effective_mode)")
        return chat.create(body, abort=abort)
    return _without_refused_summary(lambda sent: responses.create(sent, background=background, abort=abort), body)


def stream_response(
    body: dict[str, Any],
    *,
    api: str = API_RESPONSES,
    on_event: Callable[[str, str], None] | None = None,
    on_thinking: Callable[[str], None] | None = None,
    abort: Abort | None = None,
) -> Response:
    """Send `body` as a stream; `on_event(text_so_far, response_id)` as it grows, and before it
    `on_thinking(summary_so_far)` when the reasoning summary grew. Returns the final answer."""
    watch = Watch(on_event, on_thinking, abort)
    if api == API_CHAT:
        return chat.stream(body, watch)
    return _without_refused_summary(lambda sent: responses.stream(sent, watch), body)


def retrieve_response(response_id: str, *, abort: Abort | None = None) -> Response:
    """GET a background response (Responses API only)."""
    return responses.retrieve(response_id, abort=abort)


def cancel_response(response_id: str) -> Response:
    """Cancel a background response (Responses API only)."""
    return responses.cancel(response_id)
