"""The one cost formula: what tokens cost at a model's prices, as charged and as estimated before sending.

USD per 1M tokens. Cached input is billed at the cached rate (the input rate when the model has
none); reasoning tokens are output tokens. An unknown price or count gives an unknown cost
(None), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MILLION = Decimal(1_000_000)
CENTS6 = Decimal("0.000001")


@dataclass(frozen=True)
class Prices:
    """USD per 1M tokens, as charged for one attempt."""

    input: Decimal | None
    cached_input: Decimal | None
    output: Decimal | None

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None


NO_PRICES = Prices(None, None, None)


def cost(
    *, prices: Prices, input_tokens: int | None, cached_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    """USD for one attempt: uncached input, cached input and output (reasoning included) at their prices."""
    if prices.input is None or prices.output is None or input_tokens is None or output_tokens is None:
        return None
    cached = min(cached_tokens or 0, input_tokens)
    cached_rate = prices.cached_input if prices.cached_input is not None else prices.input
    usd = ((input_tokens - cached) * prices.input + cached * cached_rate + output_tokens * prices.output) / MILLION
    return usd.quantize(CENTS6)


def estimate(*, prices: Prices, input_tokens: int, output_tokens: int) -> Decimal | None:
    """The most an attempt can cost before it is sent: every input token uncached, the whole output cap."""
    return cost(prices=prices, input_tokens=input_tokens, cached_tokens=0, output_tokens=output_tokens)


def usd(value: float) -> Decimal:
    """A provider's USD figure (`usd_spent`) at the ledger's precision."""
    return Decimal(str(value)).quantize(CENTS6)
