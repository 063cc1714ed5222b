"""Files for the attachment tests, made in code (Pillow, pypdf's writer): no binary fixtures."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pypdf import PdfWriter


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 40, 40), **info) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG", **info)
    return out.getvalue()


def jpeg_with_exif(width: int = 80, height: int = 60) -> bytes:
    image = Image.new("RGB", (width, height), (20, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x9286] = "where I live"  # UserComment-like: metadata that must not be kept
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def webp(width: int = 40, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 160, 0)).save(out, "WEBP")
    return out.getvalue()


def gif(width: int = 30, height: int = 30) -> bytes:
    out = io.BytesIO()
    frames = [Image.new("P", (width, height), index) for index in (1, 2)]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def pdf(pages: int = 2, size: tuple[int, int] = (300, 400)) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(*size)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    return out.getvalue()


def huge_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small PNG whose header says it is enormous (a decompression bomb's shape): its IHDR rewritten."""
    data = bytearray(png(8, 8))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    """A file as a browser posts it (the name and type are the browser's: never believed)."""
    return SimpleUploadedFile(name, data, content_type=content_type)
