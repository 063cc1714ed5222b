"""What an attachment adds to a prompt's input tokens: the provider's rule for images at their detail
level, and a PDF as an image of each page plus its text (docs: responses-api.md, Addendum B)."""

from __future__ import annotations

import math

# OpenAI's tile rule (GPT-4o / GPT-5 family): low detail costs the base; high (and auto, counted as high
# here, the most it may cost) scales the image into 2048 x 2048, then its short side to 768, and adds a
# tile's tokens for each 512 x 512 tile.
BASE_TOKENS = 85
TILE_TOKENS = 170
# A PDF page is read as an image (a page at high detail: 2 x 2 tiles) plus its text.
PAGE_IMAGE_TOKENS = BASE_TOKENS + 4 * TILE_TOKENS
CHARS_PER_TOKEN = 4


def image_tokens(width: int, height: int, detail: str = "auto") -> int:
    if detail == "low" or not width or not height:
        return BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    wide, high = width * scale, height * scale
    scale = min(1.0, 768 / min(wide, high))
    return BASE_TOKENS + TILE_TOKENS * math.ceil(wide * scale / 512) * math.ceil(high * scale / 512)


def pdf_tokens(pages: int, text_chars: int) -> int:
    return pages * PAGE_IMAGE_TOKENS + -(-text_chars // CHARS_PER_TOKEN)
