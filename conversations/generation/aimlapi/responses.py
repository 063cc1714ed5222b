"""`POST /v1/responses`: the request body, the Response object, background polling and the event stream.

Facts about the wire format: shared/docs/responses-api.md (sections 2-9).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
import urllib3

from . import files
from .errors import AimlApiError, bounded_raw, clean
from .results import ID_CHARS, MODEL_CHARS, Ask, Response, Usage, mapping, usage_from
from .sse import sse_events
from .transport import Abort, Watch, read_json, send_request

# The columns the outcome's strings go to (error_code is cut by AimlApiError's rule too).
CODE_CHARS = 64
REASON_CHARS = 200


def build_body(ask: Ask) -> dict[str, Any]:
    """The request body; never temperature/top_p. The reasoning summary is `reasoning.summary: "auto"`,
    beside the effort."""
    messages = (
        ask.messages
        if isinstance(ask.messages, str)
        else files.messages_with_files(ask.messages, files.responses_content)
    )
    body: dict[str, Any] = {"model": ask.model, "input": messages}
    if ask.instructions:
        body["instructions"] = ask.instructions
    if ask.max_output_tokens:
        body["max_output_tokens"] = ask.max_output_tokens
    reasoning = {"effort": ask.reasoning_effort} if ask.reasoning_effort else {}
    if ask.reasoning_summary:
        reasoning["summary"] = "auto"
    if reasoning:
        body["reasoning"] = reasoning
    return body


def asks_summary(body: dict[str, Any]) -> bool:
    return bool(mapping(body.get("reasoning")).get("summary"))


def without_summary(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without `reasoning.summary` (and without `reasoning` if nothing else is left in it)."""
    reasoning = {name: value for name, value in mapping(body.get("reasoning")).items() if name != "summary"}
    rest = {name: value for name, value in body.items() if name != "reasoning"}
    return {**rest, "reasoning": reasoning} if reasoning else rest


# Parts of a reasoning summary are paragraphs of one text.
SUMMARY_SEPARATOR = "\n\n"


def summary_text(body: dict[str, Any]) -> str:
    """The summary parts of the `reasoning` items of `output`, in order."""
    parts = []
    for item in body.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "reasoning":
            parts += [part for part in _summary_parts(item) if part]
    return SUMMARY_SEPARATOR.join(parts)


def _summary_parts(item: dict[str, Any]) -> list[str]:
    summary = item.get("summary")
    if not isinstance(summary, list):
        return []
    return [str(part.get("text") or "") if isinstance(part, dict) else "" for part in summary]


class Summary:
    """A reasoning summary as a stream's events bring it: parts in order, each grown by its deltas
    (`response.reasoning_summary_text.delta`) and set whole by its `.done` events (docs §7)."""

    EVENTS = (
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    )

    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], str] = {}
        self.revision = 0  # grows with every change (cheaper to compare than the text)

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind not in self.EVENTS:
            return
        if kind == "response.output_item.done":
            item = mapping(event.get("item"))
            if item.get("type") == "reasoning":
                for number, text in enumerate(_summary_parts(item)):
                    self._set((str(item.get("id") or ""), number), text)
            return
        index = event.get("summary_index")
        key = (str(event.get("item_id") or ""), index if isinstance(index, int) else 0)
        if kind == "response.reasoning_summary_text.delta":
            self.parts[key] = self.parts.get(key, "") + str(event.get("delta") or "")
            self.revision += 1
        elif kind == "response.reasoning_summary_text.done":
            self._set(key, event.get("text"))
        else:
            self._set(key, mapping(event.get("part")).get("text"))

    def _set(self, key: tuple[str, int], text: Any) -> None:
        if text and self.parts.get(key) != (text := str(text)):  # without its text, a done event changes nothing
            self.parts[key] = text
            self.revision += 1

    @property
    def text(self) -> str:
        """Scrubbed whole (a key split across two deltas is still found)."""
        return clean(SUMMARY_SEPARATOR.join(part for part in self.parts.values() if part))


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
        thinking=clean(summary_text(body)),
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


def stream(body: dict[str, Any], watch: Watch) -> Response:
    """POST /responses with stream=true; `on_event(text_so_far, response_id)` after each event, and
    before it `on_thinking(summary_so_far)` whenever the reasoning summary grew.

    Returns the terminal response. Its text (and summary) come from the deltas when the
    terminal event's `output` is empty (some proxies send it that way). When
    `abort` is triggered the stream is closed and a `cancelled` response with
    the text so far is returned.
    """
    on_event, on_thinking, abort = watch.on_event, watch.on_thinking, watch.abort
    try:
        payload = {**body, "stream": True, "store": False}
        resp = send_request("POST", "/responses", body=payload, stream=True, abort=abort)
    except AimlApiError as error:
        if error.code == "cancelled":
            return Response(id="", status="cancelled")
        raise
    text = ""
    response_id = ""
    summary = Summary()
    told = 0  # the summary's revision on_thinking was last given
    try:
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return parse_response(read_json(resp, abort))
        for event in sse_events(resp):
            kind = event.get("type", "")
            response = event.get("response") if isinstance(event.get("response"), dict) else None
            if response and response.get("id"):
                response_id = clean(response["id"], ID_CHARS)
            summary.add(event)
            if kind == "response.output_text.delta":
                text += clean(event.get("delta") or "")
            elif kind == "response.output_text.done" and not text:
                text = clean(event.get("text") or "")
            elif kind in ("response.completed", "response.incomplete", "response.failed") and response:
                result = parse_response(response)
                if not result.text and text:
                    result = Response(**{**result.__dict__, "text": text})
                if not result.thinking and summary.text:
                    result = Response(**{**result.__dict__, "thinking": summary.text})
                return result
            elif kind == "error":
                raise AimlApiError(
                    f"The AI/ML API reported an error while streaming: {event.get('message') or 'unknown error'}.",
                    code=str(event.get("code") or "stream_error"),
                    partial_text=text,
                    raw=event,
                )
            if on_thinking and summary.revision != told:
                told = summary.revision
                on_thinking(summary.text)
            if on_event:
                on_event(text, response_id)
            if abort is not None and abort.aborted:
                return Response(id=response_id, status="cancelled", text=text, thinking=summary.text)
    except AimlApiError as error:
        error.partial_text = error.partial_text or text  # what arrived before the cut is kept
        error.partial_thinking = error.partial_thinking or summary.text
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        if abort is not None and abort.aborted:
            return Response(id=response_id, status="cancelled", text=text, thinking=summary.text)
        raise stream_cut(text, summary.text) from None
    finally:
        resp.close()
    if abort is not None and abort.aborted:
        return Response(id=response_id, status="cancelled", text=text, thinking=summary.text)
    raise stream_cut(text, summary.text, ended=True)


def stream_cut(text: str, thinking: str = "", *, ended: bool = False) -> AimlApiError:
    """A stream that stopped before its last event, with the text (and summary) that arrived (kept on the turn)."""
    how = "ended" if ended else "broke off"
    return AimlApiError(
        f"The stream from the AI/ML API {how} before the answer was complete.",
        code="stream_cut",
        partial_text=text,
        partial_thinking=thinking,
    )
