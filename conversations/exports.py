"""CSV downloads, streamed: rows are read in chunks and written as they go, so memory stays flat."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime

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


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow(header)  # the BOM makes spreadsheets read UTF-8
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def queryset_csv(filename: str, queryset, columns: list[tuple[str, str]]) -> StreamingHttpResponse:
    """Stream `queryset` as CSV; `columns` are (header, field path) pairs read with values_list().iterator()."""
    rows = queryset.values_list(*(path for _, path in columns)).iterator(chunk_size=CHUNK)
    return csv_response(filename, [header for header, _ in columns], rows)
