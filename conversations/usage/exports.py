"""Streamed downloads (CSV tables, exports): rows are read in chunks and sent as they go, so memory stays flat."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone

CHUNK = 2000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value):
        return value


def _cell(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # A spreadsheet would run it as a formula (CSV injection): quote it as text.
        return "'" + value
    return value


def _buffered(chunks: Iterator[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    buffer: list[bytes] = []
    length = 0
    for chunk in chunks:
        buffer.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield b"".join(buffer)


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Each step reads the database: in the request's one sync thread (thread_sensitive), where
    # the connection holding the iterator's cursor lives.
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    while (chunk := await step(chunks)) is not None:
        yield chunk


def streaming_response(request, chunks: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    """A response that sends chunks as they are made, never holding them all.

    Under ASGI it must be an async iterator: Django collects a sync one into a list first
    (a million-row table in memory); under WSGI it must be a sync one, for the same reason.
    """
    chunks = _buffered(chunks)
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_async_chunks(chunks), content_type=content_type)
    return StreamingHttpResponse(chunks, content_type=content_type)


def csv_response(request, filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[bytes]:
        yield ("\ufeff" + writer.writerow(header)).encode()  # the BOM makes spreadsheets read UTF-8
        for row in rows:
            yield writer.writerow([_cell(value) for value in row]).encode()

    response = streaming_response(request, lines(), "text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def queryset_csv(request, filename: str, queryset, columns: list[tuple[str, str]]) -> StreamingHttpResponse:
    """Stream `queryset` as CSV; `columns` are (header, field path) pairs read with values_list().iterator()."""
    rows = queryset.values_list(*(path for _, path in columns)).iterator(chunk_size=CHUNK)
    return csv_response(request, filename, [header for header, _ in columns], rows)
