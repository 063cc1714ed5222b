"""Files in a request (images, PDFs): a prompt's parts in each endpoint's shape, and the body written with
each file's base64 read from storage as it is sent, never held whole (a 20 MB PDF is ~27 MB of base64).

A message of `Ask.messages` may carry `"attachments": [FilePart, ...]` beside its text `content`:
- /v1/responses (docs §3): `input_text`, `input_image` (a data URL, `detail`), `input_file` (`filename`,
  `file_data` as a data URL);
- /v1/chat/completions (Addendum B): `text`, `image_url` (`url` a data URL, `detail`), `file` (`filename`,
  `file_data`; PDF only). OpenAI's own examples give `file_data` as a data URL on both endpoints.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

# Read from storage in pieces of a multiple of 3 bytes: each piece's base64 stands alone.
READ_BYTES = 3 * 64 * 1024


@dataclass(frozen=True)
class FilePart:
    """One attached file as the request needs it: its name, type and size, and how to read it."""

    kind: str  # "image" or "pdf"
    filename: str
    content_type: str
    size: int
    open: Callable[[], IO[bytes]]
    detail: str = "auto"


@dataclass(frozen=True, eq=False)
class DataUrl:
    """A file's bytes as `data:<type>;base64,…`, written into the body while it is sent (`encode`)."""

    part: FilePart

    @property
    def prefix(self) -> bytes:
        return f"data:{self.part.content_type};base64,".encode()

    def __len__(self) -> int:
        return len(self.prefix) + 4 * -(-self.part.size // 3)

    def chunks(self) -> Iterator[bytes]:
        yield self.prefix
        sent = 0
        with self.part.open() as source:
            rest = b""
            while chunk := source.read(READ_BYTES):
                chunk, sent = rest + chunk, sent + len(chunk)
                cut = len(chunk) - len(chunk) % 3
                rest = chunk[cut:]
                yield base64.b64encode(chunk[:cut])
            yield base64.b64encode(rest)
        if sent != self.part.size:  # the Content-Length said otherwise: the request cannot be completed
            raise OSError(f"{self.part.filename} changed while it was being sent")


def responses_content(text: str, parts: list[FilePart]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    for part in parts:
        if part.kind == "image":
            content.append({"type": "input_image", "image_url": DataUrl(part), "detail": part.detail})
        else:
            content.append({"type": "input_file", "filename": part.filename, "file_data": DataUrl(part)})
    return content


def chat_content(text: str, parts: list[FilePart]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for part in parts:
        if part.kind == "image":
            content.append({"type": "image_url", "image_url": {"url": DataUrl(part), "detail": part.detail}})
        else:
            content.append({"type": "file", "file": {"filename": part.filename, "file_data": DataUrl(part)}})
    return content


def messages_with_files(
    messages: list[dict[str, Any]], content: Callable[[str, list[FilePart]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """`messages` with each one's `attachments` made parts of its content (the endpoint's `content`)."""
    shaped = []
    for message in messages:
        parts = message.get("attachments")
        rest = {name: value for name, value in message.items() if name != "attachments"}
        if parts:
            rest["content"] = content(str(message.get("content") or ""), list(parts))
        shaped.append(rest)
    return shaped


class StreamedBody:
    """A JSON body whose files are read as it is sent: iterable (again, for a retry) with a known length,
    so `requests` sends it with a Content-Length, piece by piece."""

    def __init__(self, pieces: list[bytes | DataUrl]):
        self.pieces = pieces

    def __len__(self) -> int:
        return sum(len(piece) + (2 if isinstance(piece, DataUrl) else 0) for piece in self.pieces)

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, DataUrl):
                yield b'"'
                yield from piece.chunks()
                yield b'"'
            elif piece:
                yield piece


def encode(body: Any, *, ensure_ascii: bool = True) -> bytes | StreamedBody:
    """The body as `requests` sent `json=` (UTF-8, no NaN), with every DataUrl streamed in its place
    (also the JSON export's files: history/export_json.py)."""
    files: dict[str, DataUrl] = {}
    mark = uuid.uuid4().hex

    def placeholder(value: Any) -> str:
        if not isinstance(value, DataUrl):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        key = f"@@file-{mark}-{len(files)}@@"
        files[key] = value
        return key

    text = json.dumps(body, allow_nan=False, default=placeholder, ensure_ascii=ensure_ascii)
    if not files:
        return text.encode()
    pieces: list[bytes | DataUrl] = []
    for number, chunk in enumerate(text.split('"@@file-')):
        if number and chunk.startswith(mark) and (end := chunk.find('@@"')) != -1:
            pieces.append(files[f"@@file-{chunk[:end]}@@"])
            chunk = chunk[end + 3 :]
        elif number:  # not one of ours (a string of the prompt's): put back as it was
            chunk = '"@@file-' + chunk
        pieces.append(chunk.encode())
    return StreamedBody(pieces)
