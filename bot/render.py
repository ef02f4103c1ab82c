"""Encode an image under an upload limit: PNG when it fits, else WebP/JPEG, else smaller."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024


def upload_limit(guild_limit: int | None, cap: int | None) -> int:
    """Bytes a reply may upload: the guild's own limit (or Discord's default), capped by the operator's
    ``LAMUSE_UPLOAD_LIMIT_BYTES``."""
    limit = guild_limit if guild_limit is not None else DEFAULT_UPLOAD_LIMIT
    return min(limit, cap) if cap is not None else limit


@dataclass(frozen=True)
class Encoded:
    """Encoded bytes ready to upload, with the extension matching the format actually used."""

    data: bytes
    extension: str
    size: tuple[int, int]

    @property
    def filename(self) -> str:
        return f"muse.{self.extension}"


def _encode(image: Image.Image, fmt: str, quality: int | None = None) -> bytes:
    buffer = io.BytesIO()
    if fmt == "PNG":
        image.save(buffer, "PNG", optimize=False, compress_level=6)
    else:
        image.save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def encode_for_upload(image: Image.Image, limit: int = DEFAULT_UPLOAD_LIMIT) -> Encoded:
    """Smallest-effort encoding that fits ``limit`` bytes; Discord refuses larger files.

    Order: PNG, WebP (q 90, 75), JPEG (q 85, 70); then the image shrinks by 25% and lossy formats retry.
    """
    rgb = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    data = _encode(rgb, "PNG")
    if len(data) <= limit:
        return Encoded(data, "png", rgb.size)
    current = rgb
    while True:
        for fmt, ext, quality in (
            ("WEBP", "webp", 90),
            ("WEBP", "webp", 75),
            ("JPEG", "jpg", 85),
            ("JPEG", "jpg", 70),
        ):
            data = _encode(current, fmt, quality)
            if len(data) <= limit:
                return Encoded(data, ext, current.size)
        if min(current.size) <= 64:
            return Encoded(data, "jpg", current.size)
        width, height = current.size
        current = current.resize((max(1, width * 3 // 4), max(1, height * 3 // 4)), Image.Resampling.LANCZOS)
