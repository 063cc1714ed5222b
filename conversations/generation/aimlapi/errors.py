"""The client's one exception, and what keeps secrets and odd values out of storage.

Every string that comes from the provider passes through `clean` before it is
kept: the API key and the provider's address are scrubbed (a proxy may echo
either back), NUL characters dropped (PostgreSQL refuses them), and only then
is it cut to its column, so a cut never leaves half a key behind.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings

# The turn's error_code column.
CODE_CHARS = 64


class AimlApiError(Exception):
    """Any failure talking to the provider, with a message a user can read.

    `retryable` says whether pressing Retry later may help; `partial_text` and
    `partial_thinking` carry what arrived before a stream broke.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "upstream_error",
        status_code: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        partial_text: str = "",
        partial_thinking: str = "",
        raw: Any = None,
    ):
        message = clean(message)
        super().__init__(message)
        self.message = message
        self.code = clean(str(code), CODE_CHARS)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.partial_text = partial_text
        self.partial_thinking = partial_thinking
        self.raw = bounded_raw(raw) if raw is not None else None


def scrub(text: str) -> str:
    """The text without the API key or the provider's base URL (a proxy may echo either back)."""
    key = settings.AIMLAPI_KEY
    if key and len(key) >= 4:
        text = text.replace(key, "[API key removed]")
    base = settings.AIMLAPI_BASE_URL
    host = base.split("://", 1)[-1].split("/", 1)[0]
    for secret in (base, host):
        if secret:
            text = text.replace(secret, "the AI/ML API")
    return text


def clean(value: Any, limit: int | None = None) -> str:
    """A provider string to keep: scrubbed, without NUL, then cut to `limit` characters."""
    text = scrub("" if value is None else str(value)).replace("\x00", "")
    return text if limit is None else text[:limit]


def storable(value: Any) -> Any:
    """JSON both databases accept: no NaN/Infinity, no NUL characters (PostgreSQL refuses both)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def bounded_raw(body: Any) -> Any:
    """`body` for storing: storable, scrubbed, and cut with a note when its JSON is over
    AIMLAPI_MAX_STORED_JSON_BYTES (setting)."""
    body = storable(body)
    text = json.dumps(body, ensure_ascii=False, default=str)
    scrubbed = scrub(text)
    size = len(scrubbed.encode())
    limit = settings.AIMLAPI_MAX_STORED_JSON_BYTES
    if size > limit:
        return {
            "note": f"The provider's response was {size:,} bytes; only the first {limit:,} are kept here.",
            "truncated": True,
            "size_bytes": size,
            "head": scrubbed.encode()[:limit].decode(errors="ignore"),
        }
    return body if scrubbed == text else json.loads(scrubbed)
