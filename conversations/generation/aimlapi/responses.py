"""`POST /v1/responses`: the request body, the Response object, background polling and the event stream.

Facts about the wire format: shared/docs/responses-api.md (sections 2-9).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from .errors import AimlApiError, bounded_raw, clean
from .results import ID_CHARS, MODEL_CHARS, Response, Usage, mapping, usage_from
from .sse import sse_events
from .transport import Abort, read_json, send_request

# The columns the outcome's strings go to (error_code is cut by AimlApiError's rule too).
CODE_CHARS = 64
REASON_CHARS = 200


def build_body(
    *,
    model: str,
    messages: list[dict[str, Any]] | str,
    instructions: str = "",
    max_output_tokens: int | None = None,
    reasoning_effort: str = "",
) -> dict[str, Any]:
    """The request body; never temperature/top_p.

    The caller passes only parameters the model accepts (the catalogue knows
    which): an empty `reasoning_effort` leaves the field out.
    """
    body: dict[str, Any] = {"model": model, "input": messages}
    if instructions:
        body["instructions"] = instructions
    if max_output_tokens:
        body["max_output_tokens"] = max_output_tokens
    if reasoning_effort:
        body["reasoning"] = {"effort": reasoning_effort}
    return body


# The names of the five usage figures in a Response object.
USAGE_NAMES = (
    "input_tokens", "input_tokens_details", "cached_tokens", "output_tokens", "output_tokens_details",
    "reasoning_tokens", "total_tokens",
)  # fmt: skip


def parse_usage(body: dict[str, Any]) -> Usage | None:
    return usage_from(body, USAGE_NAMES)


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
    error = mapping(body.get("error"))
    incomplete = mapping(body.get("incomplete_details"))
    # Every string from the provider is scrubbed, then cut to its column (a failed answer may quote the key).
    return Response(
        id=clean(body.get("id") or "", ID_CHARS),
        status=body["status"],
        model=clean(body.get("model") or "", MODEL_CHARS),
        text=clean(output_text(body)),
        usage=parse_usage(body),
        error_code=clean(error.get("code") or "", CODE_CHARS),
        error_message=clean(error.get("message") or ""),
        incomplete_reason=clean(incomplete.get("reason") or "", REASON_CHARS),
        raw=bounded_raw(body),
    )


def create(body: dict[str, Any], *, background: bool = False, abort: Abort | None = None) -> Response:
    """POST /responses and wait for the body (the whole answer, or a queued job in background mode)."""
    payload = {**body, "background": background, "store": background}
    resp = send_request("POST", "/responses", body=payload, abort=abort)
    return parse_response(read_json(resp, abort))


def retrieve(response_id: str, *, abort: Abort | None = None) -> Response:
    resp = send_request("GET", f"/responses/{quote(response_id, safe='')}", abort=abort)
    return parse_response(read_json(resp, abort))


def cancel(response_id: str) -> Response:
    resp = send_request("POST", f"/responses/{quote(response_id, safe='')}/cancel")
    return parse_response(read_json(resp))


def stream(
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
        payload = {**body, "stream": True, "store": False}
        resp = send_request("POST", "/responses", body=payload, stream=True, abort=abort)
    except AimlApiError as error:
        if error.code == "cancelled":
            return Response(id="", status="cancelled")
        raise
    text = ""
    response_id = ""
    try:
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return parse_response(read_json(resp, abort))
        for event in sse_events(resp):
            kind = event.get("type", "")
            response = event.get("response") if isinstance(event.get("response"), dict) else None
            if response and response.get("id"):
                response_id = clean(response["id"], ID_CHARS)
            if kind == "response.output_text.delta":
                text += clean(event.get("delta") or "")
            elif kind == "response.output_text.done" and not text:
                text = clean(event.get("text") or "")
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
        raise stream_cut(text) from None
    finally:
        resp.close()
    if abort is not None and abort.aborted:
        return Response(id=response_id, status="cancelled", text=text)
    raise stream_cut(text, ended=True)


def stream_cut(text: str, *, ended: bool = False) -> AimlApiError:
    """A stream that stopped before its last event, with the text that arrived (kept on the turn)."""
    how = "ended" if ended else "broke off"
    return AimlApiError(
        f"The stream from the AI/ML API {how} before the answer was complete.", code="stream_cut", partial_text=text
    )
