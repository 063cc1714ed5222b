"""Is an uploaded file an image or a PDF we take? Decided by its content, never by its name or the browser's type:
the magic bytes first, then a real decode (Pillow, pypdf). An image is re-encoded (no metadata, its long side
capped); a PDF must parse, not be encrypted and stay within the page limit. A refusal names the file and why."""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from . import tokens

logger = logging.getLogger(__name__)

# Magic bytes -> (what it is, Pillow's format name). WebP: "RIFF", 4 bytes of size, "WEBP".
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"))
# Other contents, named in the refusal.
OTHER_MAGIC = ((b"PK\x03\x04", "a ZIP archive (or an Office document)"), (b"\x1f\x8b", "a gzip archive"))
# Re-encoded as: JPEG stays JPEG, WebP stays WebP, PNG and GIF (its first frame) become PNG.
OUTPUT = {"JPEG": ("JPEG", "image/jpeg", "jpg"), "WEBP": ("WEBP", "image/webp", "webp")}
PNG = ("PNG", "image/png", "png")
THUMBNAIL_SIDE = 320
# The text of a PDF's first pages is read for the estimate; the rest is counted at their average.
TEXT_SAMPLE_PAGES = 20
READ_BYTES = 1024 * 1024


class Refused(Exception):
    def __init__(self, name: str, why: str):
        self.message = f"“{name}” was not attached: {why}"
        super().__init__(self.message)


@dataclass
class Checked:
    kind: str  # Attachment.Kind
    content_type: str
    extension: str
    content: IO[bytes]  # what is stored: the re-encoded image, or the PDF as uploaded
    size: int
    sha256: str
    tokens: int
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    thumbnail: bytes = b""


def what(head: bytes) -> str:
    """ "PNG", "JPEG", "GIF", "WEBP", "PDF", or a description of something else."""
    for magic, name in IMAGE_MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"%PDF-"):
        return "PDF"
    for magic, name in OTHER_MAGIC:
        if head.startswith(magic):
            return name
    if head.lstrip()[:1] == b"<":
        return "HTML or XML"
    return "not an image or a PDF"


def file_check(name: str, upload: IO[bytes], size: int) -> Checked:
    """Check one upload (a file object at any position) and return what to store; Refused says why not."""
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise Refused(
            name, f"it is {filesizeformat(size)}, over the limit of {filesizeformat(settings.ATTACHMENT_MAX_BYTES)}."
        )
    if size == 0:
        raise Refused(name, "the file is empty.")
    upload.seek(0)
    kind = what(upload.read(16))
    upload.seek(0)
    if kind == "PDF":
        return _pdf(name, upload, size)
    if kind in ("PNG", "JPEG", "GIF", "WEBP"):
        return _image(name, upload, kind)
    raise Refused(name, f"its content is {kind}; only PNG, JPEG, WebP and GIF images and PDF files can be attached.")


def _image(name: str, upload: IO[bytes], kind: str) -> Checked:
    most = settings.ATTACHMENT_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=[kind]) as image:
                width, height = image.size
                if width * height > most:
                    raise Refused(name, f"it is {width:,} × {height:,} pixels, over the limit of {most:,} pixels.")
                image.seek(0)  # an animated GIF or WebP: its first frame
                image.load()
                picture = ImageOps.exif_transpose(image) or image
                cleaned = _reencoded(picture, kind)
    except Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(name, f"it has more pixels than the limit of {most:,}.") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError) as exc:
        logger.info("image refused (%s): %s", kind, exc)
        raise Refused(name, f"it is not a complete {kind.title()} image (it could not be decoded).") from None
    return cleaned


def _reencoded(image: Image.Image, kind: str) -> Checked:
    """A fresh image of the same pixels (no EXIF, no comments, no ICC profile), the long side capped."""
    fmt, content_type, extension = OUTPUT.get(kind, PNG)
    if fmt == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("P", "PA") else "RGB")
    side = settings.ATTACHMENT_IMAGE_MAX_SIDE
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    pixels = Image.new(image.mode, image.size)
    pixels.paste(image)
    out = io.BytesIO()
    pixels.save(out, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {"optimize": True}))
    small = pixels.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    thumb = io.BytesIO()
    small.save(thumb, "WEBP", quality=75)
    data = out.getvalue()
    width, height = pixels.size
    return Checked(
        kind="image",
        content_type=content_type,
        extension=extension,
        content=io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        tokens=tokens.image_tokens(width, height, settings.ATTACHMENT_IMAGE_DETAIL),
        width=width,
        height=height,
        thumbnail=thumb.getvalue(),
    )


def _pdf(name: str, upload: IO[bytes], size: int) -> Checked:
    digest = hashlib.sha256()
    while chunk := upload.read(READ_BYTES):
        digest.update(chunk)
    upload.seek(0)
    try:
        reader = PdfReader(upload, strict=False)
        if reader.is_encrypted:
            raise Refused(name, "it is encrypted (password protected); save a copy without a password and attach that.")
        pages = len(reader.pages)
        if pages > settings.ATTACHMENT_PDF_MAX_PAGES:
            raise Refused(name, f"it has {pages:,} pages, over the limit of {settings.ATTACHMENT_PDF_MAX_PAGES:,}.")
        if not pages:
            raise Refused(name, "it has no pages.")
        sample = [reader.pages[number].extract_text() or "" for number in range(min(pages, TEXT_SAMPLE_PAGES))]
    except Refused:
        raise
    except (PyPdfError, OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        logger.info("PDF refused: %s", exc)
        raise Refused(name, "it is not a PDF that can be read (it could not be parsed).") from None
    text_chars = sum(len(text) for text in sample) * pages // len(sample)
    upload.seek(0)
    return Checked(
        kind="pdf",
        content_type="application/pdf",
        extension="pdf",
        content=upload,
        size=size,
        sha256=digest.hexdigest(),
        tokens=tokens.pdf_tokens(pages, text_chars),
        pages=pages,
    )
