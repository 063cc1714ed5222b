"""What a call returns, whichever endpoint answered: a `Response` with its `Usage`.

Token counts and costs are checked here: a value a column cannot hold (negative,
fractional, NaN, absurd) is logged and dropped, never stored.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled"})
# Usage the columns can hold: token counts fit a 32-bit column; a cost above this is not a real answer.
MAX_TOKENS = 2_147_483_647
MAX_USD = 100_000.0
# Columns of the turn that hold provider strings.
ID_CHARS = 255
MODEL_CHARS = 100


@dataclass(frozen=True)
class Ask:
    """What one request asks, whichever endpoint it goes to (each endpoint's `build_body` spells it).

    The caller passes only parameters the model accepts (the catalogue knows which): an empty
    `reasoning_effort` leaves the field out; `reasoning_summary` asks for the reasoning summary.
    """

    model: str
    messages: list[dict[str, Any]] | str
    instructions: str = ""
    max_output_tokens: int | None = None
    reasoning_effort: str = ""
    reasoning_summary: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    usd_spent: float | None = None


@dataclass(frozen=True)
class Response:
    id: str
    status: str
    model: str = ""
    text: str = ""
    # The model's reasoning summary (plain text, scrubbed like the text): "" when none came.
    thinking: str = ""
    usage: Usage | None = None
    error_code: str = ""
    error_message: str = ""
    incomplete_reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def int_or_none(value: Any) -> int | None:
    """A token count the columns can hold, or None (negative, fractional, NaN, absurd: logged, not stored)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_TOKENS:
        return value
    logger.warning("ignored an invalid token count from the provider: %.80r", value)
    return None


def usd_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= MAX_USD:
        return float(value)
    logger.warning("ignored an invalid usd_spent from the provider: %.80r", value)
    return None


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (the provider's optional objects may be null)."""
    return value if isinstance(value, dict) else {}


def usd_spent(body: dict[str, Any]) -> float | None:
    """AI/ML API's own charge, `meta.usage.usd_spent`, on either endpoint."""
    return usd_or_none(mapping(mapping(body.get("meta")).get("usage")).get("usd_spent"))


def usage_from(body: dict[str, Any], names: tuple[str, str, str, str, str, str, str]) -> Usage | None:
    """The `usage` object of a body, whichever endpoint's names it uses: (input, details of input, cached,
    output, details of output, reasoning, total). Defensive: the details objects may be missing or null."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    input_name, input_details, cached, output_name, output_details, reasoning, total = names
    return Usage(
        input_tokens=int_or_none(usage.get(input_name)),
        cached_tokens=int_or_none(mapping(usage.get(input_details)).get(cached)),
        output_tokens=int_or_none(usage.get(output_name)),
        reasoning_tokens=int_or_none(mapping(usage.get(output_details)).get(reasoning)),
        total_tokens=int_or_none(usage.get(total)),
        usd_spent=usd_spent(body),
    )


def usage_checked(usage: Usage | None) -> Usage | None:
    """`usage` with every value its column can hold (a Usage built outside a parser too)."""
    if usage is None:
        return None
    counts = {name: int_or_none(getattr(usage, name)) for name in Usage.__dataclass_fields__ if name != "usd_spent"}
    return Usage(**counts, usd_spent=usd_or_none(usage.usd_spent))
