"""The export format ("aimlweb-export", version 4): its names, its fields in order, and how it writes
a time and an amount. docs/export-format.md describes it field by field.

The writers (export_json.py, export_markdown.py), the reader (import_reader.py, import_checks.py)
and the share snapshots (shares.py) all take the format from here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from conversations.models import USAGE_COLUMNS

FORMAT = "aimlweb-export"
VERSION = 4
# Versions this app can read (it refuses newer ones: it could not know what they mean).
# Version 1 marked a replaced turn `superseded_by` the newer one; version 2 has each turn's `parent`;
# version 3 adds each turn's `thinking` (the model's reasoning summary); version 4 each turn's `attachments`
# (its files, each with its bytes as a base64 data URL).
READABLE_VERSIONS = (1, 2, 3, 4)

# A turn's usage, as the file writes it: the token counts of models.USAGE_COLUMNS, the prices it
# was charged at, then the cost columns of USAGE_COLUMNS.
TOKEN_FIELDS = tuple(name for name in USAGE_COLUMNS if name.endswith("_tokens"))
PRICE_FIELDS = ("input_price", "cached_input_price", "output_price")
COST_FIELDS = tuple(name for name in USAGE_COLUMNS if name.endswith("_usd"))

TURN_FIELDS = (
    "id",
    "prompt",
    "answer",
    "thinking",
    "attachments",
    "status",
    "model",
    "response_id",
    "mode",
    "attempts",
    *TOKEN_FIELDS,
    *PRICE_FIELDS,
    *COST_FIELDS,
    "error_code",
    "error_message",
    "earlier_attempts",
    "parent",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
)
TURN_FIELDS_V3 = tuple(name for name in TURN_FIELDS if name != "attachments")
TURN_FIELDS_V2 = tuple(name for name in TURN_FIELDS_V3 if name != "thinking")
# An attachment of a turn (version 4), in order; `data` is "data:<type>;base64,<the file>".
ATTACHMENT_FIELDS = ("name", "kind", "content_type", "size", "sha256", "pages", "data")
TURN_FIELDS_V1 = tuple("superseded_by" if name == "parent" else name for name in TURN_FIELDS_V2)
CONVERSATION_FIELDS = (
    "id",
    "origin_id",
    "title",
    "model",
    "instructions",
    "max_output_tokens",
    "reasoning_effort",
    "created_at",
    "updated_at",
    "pinned_at",
    "archived_at",
    "current_turn",
    "turns",
)
CONVERSATION_FIELDS_V1 = tuple(name for name in CONVERSATION_FIELDS if name != "current_turn")
# The order an earlier attempt's fields are shown in (PostgreSQL's jsonb does not keep the written order).
HISTORY_ORDER = ("attempt", "status", "error_code", "error_message", "response_id", "input_tokens", "output_tokens",
                 "cost_usd", "started_at", "completed_at")  # fmt: skip


def iso_time(value: datetime | None) -> str | None:
    """A time as the format writes it: ISO 8601 in UTC, with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def money_text(value: Decimal | None) -> str | None:
    """An amount as the format writes it: exact decimal text."""
    return None if value is None else str(value)
