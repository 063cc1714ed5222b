"""Content parts of a request to the fake AI/ML API (tests/fake_aimlapi.py): images and files checked as the
provider documents them (shared/docs/responses-api.md §3 and Addendum B), and what they carried.

Only the standard library is used, like the fake itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
DETAILS = ("auto", "low", "high")
TEXT_PARTS = {"responses": "input_text", "chat": "text"}


def _data_url(value: Any, types: tuple[str, ...]) -> tuple[str, bytes] | str:
    """(content type, bytes) of a base64 data URL of one of `types`, or why it is not one."""
    if not isinstance(value, str) or not value.startswith("data:") or ";base64," not in value:
        return "not a base64 data URL"
    head, data = value[5:].split(";base64,", 1)
    if head not in types:
        return f"type {head!r} not accepted"
    try:
        return head, base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "invalid base64"


def _file(endpoint: str, kind: str, filename: str, content_type: str, data: bytes, detail: str = "") -> dict:
    return {
        "endpoint": endpoint,
        "kind": kind,
        "filename": filename,
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "detail": detail,
        "data": data,
    }


def _responses_part(part: dict) -> dict | str:
    kind = part.get("type")
    if kind == "input_image":
        found = _data_url(part.get("image_url"), IMAGE_TYPES)
        if isinstance(found, str):
            return f"input_image.image_url: {found}"
        if part.get("detail", "auto") not in DETAILS:
            return "input_image.detail: not auto, low or high"
        return _file("responses", "image", "", found[0], found[1], part.get("detail", "auto"))
    if kind == "input_file":
        if not isinstance(part.get("filename"), str) or not part["filename"]:
            return "input_file.filename: missing"
        found = _data_url(part.get("file_data"), ("application/pdf",))
        if isinstance(found, str):
            return f"input_file.file_data: {found}"
        return _file("responses", "pdf", part["filename"], found[0], found[1])
    return f"unknown content part {kind!r}"


def _chat_part(part: dict) -> dict | str:
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url") if isinstance(part.get("image_url"), dict) else {}
        found = _data_url(image.get("url"), IMAGE_TYPES)
        if isinstance(found, str):
            return f"image_url.url: {found}"
        if image.get("detail", "auto") not in DETAILS:
            return "image_url.detail: not auto, low or high"
        return _file("chat", "image", "", found[0], found[1], image.get("detail", "auto"))
    if kind == "file":
        file = part.get("file") if isinstance(part.get("file"), dict) else {}
        if not isinstance(file.get("filename"), str) or not file["filename"]:
            return "file.filename: missing"
        found = _data_url(file.get("file_data"), ("application/pdf",))  # PDF only on this endpoint
        if isinstance(found, str):
            return f"file.file_data: {found}"
        return _file("chat", "pdf", file["filename"], found[0], found[1])
    return f"unknown content part {kind!r}"


def content_files(endpoint: str, messages: Any) -> list[dict] | str:
    """The files of the user messages' content parts, in order (with `message`: its index), or why a part is
    invalid (the fake answers 400 then)."""
    files: list[dict] = []
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        if message.get("role") != "user":
            return f"messages[{index}]: files only in user messages"
        for part in content:
            if not isinstance(part, dict):
                return f"messages[{index}]: a part is not an object"
            if part.get("type") == TEXT_PARTS[endpoint]:
                if not isinstance(part.get("text"), str):
                    return f"messages[{index}]: text part without text"
                continue
            found = (_responses_part if endpoint == "responses" else _chat_part)(part)
            if isinstance(found, str):
                return f"messages[{index}]: {found}"
            files.append({**found, "message": index})
    return files
