"""Server-sent events, read with bounds: no line, event or stream over its limit, no silent stream forever.

Both endpoints stream this way (`/responses` named events, `/chat/completions`
chunks ending with `data: [DONE]`); what an event means is the caller's business.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import requests
from django.conf import settings

from .errors import AimlApiError


def _lines(resp: requests.Response, last_event: list[float]) -> Iterator[str]:
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


def sse_events(resp: requests.Response) -> Iterator[dict[str, Any]]:
    """Parsed `data:` events. A stream that keeps sending bytes but no event (nor a `:` keep-alive
    comment) for longer than the read timeout is cut: the read timeout alone never fires then."""
    data_lines: list[str] = []
    data_size = 0
    last_event = [time.monotonic()]  # shared with the line reader, which checks it as bytes arrive
    for line in _lines(resp, last_event):
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
