"""`POST /v1/chat/completions`, for the models AI/ML API documents only there (e.g. openai/gpt-5.6-sol-pro).

Mapped onto the same `Response` as `/responses` (shared/docs/responses-api.md, Addendum B):
`id` is the response id, `choices[0].message.content` the text, `prompt_tokens` /
`prompt_tokens_details.cached_tokens` / `completion_tokens` (reasoning included) /
`completion_tokens_details.reasoning_tokens` / `total_tokens` the usage, `meta.usage.usd_spent`
the provider's cost; `finish_reason` "length" is incomplete (max tokens), "content_filter" failed.
`message.reasoning` (streamed: `delta.reasoning`) is the model's reasoning summary, where the provider
sends it: nothing in the body asks for it, the caller decides whether to keep it.
There is no background mode and no retrieve by id: a lost stream is a lost answer, never resent.
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3

from . import files
from .errors import AimlApiError, bounded_raw, clean
from .responses import CODE_CHARS, stream_cut
from .results import ID_CHARS, MODEL_CHARS, Ask, Response, mapping, usage_from
from .sse import sse_events
from .transport import Abort, Watch, read_json, send_request

PATH = "/chat/completions"
CONTENT_FILTERED = "The provider's content filter stopped this answer."


def build_body(ask: Ask) -> dict[str, Any]:
    """The request body: instructions as the first `system` message, then the path's messages.

    Never temperature/top_p; the output cap is `max_completion_tokens` (reasoning models). There is
    no field asking for the reasoning: `message.reasoning` comes where the provider sends it.
    """
    messages = ask.messages
    history = (
        [{"role": "user", "content": messages}]
        if isinstance(messages, str)
        else files.messages_with_files(messages, files.chat_content)
    )
    system = [{"role": "system", "content": ask.instructions}] if ask.instructions else []
    body: dict[str, Any] = {"model": ask.model, "messages": [*system, *history]}
    if ask.reasoning_effort:
        body["reasoning_effort"] = ask.reasoning_effort
    if ask.max_output_tokens:
        body["max_completion_tokens"] = ask.max_output_tokens
    return body


# The names of the five usage figures in a chat completion (Addendum B's mapping).
USAGE_NAMES = (
    "prompt_tokens", "prompt_tokens_details", "cached_tokens", "completion_tokens", "completion_tokens_details",
    "reasoning_tokens", "total_tokens",
)  # fmt: skip


def reasoning_text(message: dict[str, Any]) -> str:
    """A message's reasoning: `reasoning` (text), else the text of its `reasoning_details` (Addendum B)."""
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str):
        return reasoning
    details = message.get("reasoning_details")
    if not isinstance(details, list):
        return ""
    texts = [mapping(detail).get("text") or mapping(detail).get("summary") for detail in details]
    return "\n\n".join(text for text in texts if isinstance(text, str) and text)


def content_text(content: Any) -> str:
    """A message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    return ""


def parse_completion(body: Any) -> Response:
    """A `chat.completion` object as a Response (also one assembled from a stream's chunks)."""
    if not isinstance(body, dict):
        raise AimlApiError("The AI/ML API answered with JSON that is not a chat completion.", code="bad_response")
    choices = body.get("choices")
    error = mapping(body.get("error"))
    common = {
        "id": clean(body.get("id") or "", ID_CHARS),
        "model": clean(body.get("model") or "", MODEL_CHARS),
        "usage": usage_from(body, USAGE_NAMES),
        "raw": bounded_raw(body),
    }
    if not isinstance(choices, list) or not choices:
        if error:  # a 200 that carries an error instead of choices
            return Response(
                status="failed",
                error_code=clean(error.get("code") or error.get("type") or "failed", CODE_CHARS),
                error_message=clean(error.get("message") or ""),
                **common,
            )
        raise AimlApiError(
            "The AI/ML API answered with JSON that is not a chat completion.", code="bad_response", raw=body
        )
    choice = mapping(choices[0])
    message = mapping(choice.get("message"))
    text = content_text(message.get("content")) or str(message.get("refusal") or "")
    common["thinking"] = clean(reasoning_text(message))
    finish = str(choice.get("finish_reason") or "")
    if finish == "length":
        return Response(status="incomplete", text=clean(text), incomplete_reason="max_output_tokens", **common)
    if finish == "content_filter":
        return Response(
            status="failed", text=clean(text), error_code="content_filter", error_message=CONTENT_FILTERED, **common
        )
    return Response(status="completed", text=clean(text), **common)


def create(body: dict[str, Any], *, abort: Abort | None = None) -> Response:
    """POST /chat/completions and wait for the whole answer."""
    resp = send_request("POST", PATH, body={**body, "stream": False}, abort=abort)
    return parse_completion(read_json(resp, abort))


class _Chunks:
    """The stream's chunks put back together as one `chat.completion` (its raw body is kept like a sync one's)."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.text = ""
        self.reasoning = ""  # raw: scrubbed whole (`thinking`), as a split key would pass piece by piece
        self.finish_reason = ""
        self.extra: dict[str, Any] = {}
        self.count = 0

    def add(self, chunk: dict[str, Any]) -> None:
        self.count += 1
        self.id = self.id or clean(chunk.get("id") or "", ID_CHARS)
        self.model = self.model or clean(chunk.get("model") or "", MODEL_CHARS)
        for name in ("usage", "meta"):  # on AI/ML API, in the last chunk (with or after finish_reason)
            if isinstance(chunk.get(name), dict):
                self.extra[name] = chunk[name]
        choices = chunk.get("choices")
        choice = mapping(choices[0]) if isinstance(choices, list) and choices else {}
        delta = mapping(choice.get("delta"))
        self.text += clean(content_text(delta.get("content")))
        if isinstance(delta.get("reasoning"), str):
            self.reasoning += delta["reasoning"]
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    @property
    def thinking(self) -> str:
        return clean(self.reasoning)

    def completion(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.text}
        if self.reasoning:
            message["reasoning"] = self.reasoning
        return {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "finish_reason": self.finish_reason, "message": message}],
            **self.extra,
            "stream_chunks": self.count,
        }


def stream(body: dict[str, Any], watch: Watch) -> Response:
    """POST /chat/completions with stream=true; `on_event(text_so_far, response_id)` after each chunk,
    and before it `on_thinking(reasoning_so_far)` whenever `delta.reasoning` grew.

    Usage is asked for (`stream_options.include_usage`, OpenAI's rule; AI/ML API sends it anyway).
    The answer is done at `data: [DONE]` once a chunk gave its `finish_reason`; a stream that ends
    before that is cut, with the text so far kept. Stop closes it and returns `cancelled`.
    """
    on_event, on_thinking, abort = watch.on_event, watch.on_thinking, watch.abort
    payload = {**body, "stream": True, "stream_options": {"include_usage": True}}
    try:
        resp = send_request("POST", PATH, body=payload, stream=True, abort=abort)
    except AimlApiError as error:
        if error.code == "cancelled":
            return Response(id="", status="cancelled")
        raise
    chunks = _Chunks()
    try:
        if "text/event-stream" not in resp.headers.get("Content-Type", ""):
            return parse_completion(read_json(resp, abort))
        for chunk in sse_events(resp):
            reported = chunk.get("error")
            if isinstance(reported, dict):
                raise AimlApiError(
                    f"The AI/ML API reported an error while streaming: {reported.get('message') or 'unknown error'}.",
                    code=str(reported.get("code") or "stream_error"),
                    partial_text=chunks.text,
                    partial_thinking=chunks.thinking,
                    raw=chunk,
                )
            told = len(chunks.reasoning)
            chunks.add(chunk)
            if on_thinking and len(chunks.reasoning) != told:
                on_thinking(chunks.thinking)
            if on_event:
                on_event(chunks.text, chunks.id)
            if abort is not None and abort.aborted:
                return Response(id=chunks.id, status="cancelled", text=chunks.text, thinking=chunks.thinking)
    except AimlApiError as error:
        error.partial_text = error.partial_text or chunks.text
        error.partial_thinking = error.partial_thinking or chunks.thinking
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        if abort is not None and abort.aborted:
            return Response(id=chunks.id, status="cancelled", text=chunks.text, thinking=chunks.thinking)
        if not chunks.finish_reason:
            raise stream_cut(chunks.text, chunks.thinking) from None
    finally:
        resp.close()
    if abort is not None and abort.aborted:
        return Response(id=chunks.id, status="cancelled", text=chunks.text, thinking=chunks.thinking)
    if not chunks.finish_reason:
        raise stream_cut(chunks.text, chunks.thinking, ended=True)
    return parse_completion(chunks.completion())
