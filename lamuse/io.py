"""Decode untrusted image bytes once, safely: size guards before decoding, EXIF upright, one colour mode.

Everything downstream receives an RGB (or RGBA for cut-outs) ``PIL.Image`` and never re-checks.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lamuse.errors import ImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_PIXELS = 60_000_000
MIN_SIDE = 16
MAX_ASPECT = 20.0


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image plus what was done to it on the way in (said to the user when it matters).

    Attributes:
        image: RGB, or RGBA when the source had real transparency and ``keep_alpha`` was asked.
        format: the container format Pillow recognised ("JPEG", "PNG", ...), never the file extension.
        original_size: (width, height) as stored, before EXIF rotation.
        notes: short machine keys: "animated_first_frame", "exif_rotated", "converted_from_<mode>".
    """

    image: Image.Image
    format: str
    original_size: tuple[int, int]
    notes: list[str] = field(default_factory=list)


def load_image(
    data: bytes | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_alpha: bool = False,
) -> LoadedImage:
    """Decode ``data`` (bytes or a file path) into an upright RGB/RGBA image.

    Raises:
        ImageError: with ``reason`` one of ``empty``, ``too_large``, ``not_an_image``, ``too_many_pixels``,
            ``truncated``, ``too_small``, ``extreme_aspect``, ``unreadable``.
    """
    raw = _read_bytes(data, max_bytes)
    if not raw:
        raise ImageError("the file is empty", reason="empty")
    if len(raw) > max_bytes:
        raise ImageError(
            f"the file is {len(raw) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB", reason="too_large"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw))
    except UnidentifiedImageError as exc:
        raise ImageError("this file is not an image Pillow can read", reason="not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            "the image declares too many pixels to decode safely; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels",
            reason="too_many_pixels",
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"the image header is damaged ({exc})", reason="unreadable") from exc

    width, height = opened.size
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels",
            reason="too_many_pixels",
        )
    notes: list[str] = []
    if getattr(opened, "n_frames", 1) > 1:
        opened.seek(0)
        notes.append("animated_first_frame")
    fmt = opened.format or "unknown"
    try:
        opened.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError("the image data is truncated or corrupt", reason="truncated") from exc

    upright = ImageOps.exif_transpose(opened)
    if upright.size != opened.size or _exif_orientation(opened) not in (None, 1):
        notes.append("exif_rotated")
    image = _normalise_mode(upright, keep_alpha=keep_alpha, notes=notes)
    _check_shape(image)
    return LoadedImage(image=image, format=fmt, original_size=(width, height), notes=notes)


def _read_bytes(data: bytes | Path, max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    try:
        size = os.path.getsize(data)
        if size > max_bytes:
            raise ImageError(
                f"the file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB", reason="too_large"
            )
        return Path(data).read_bytes()
    except IsADirectoryError as exc:
        raise ImageError(f"{data} is a folder, not an image", reason="not_an_image") from exc
    except FileNotFoundError as exc:
        raise ImageError(f"{data} does not exist", reason="missing") from exc
    except OSError as exc:
        raise ImageError(f"{data} cannot be read ({exc.strerror or exc})", reason="unreadable") from exc


def _exif_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError):
        return None
    return int(value) if value is not None else None


def _normalise_mode(image: Image.Image, *, keep_alpha: bool, notes: list[str]) -> Image.Image:
    """Bring any Pillow mode to RGB (or RGBA with real transparency), scaling high bit depths properly."""
    mode = image.mode
    if mode in ("RGB",):
        return image
    notes.append(f"converted_from_{mode.replace(';', '_')}")
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = float(array.max()) if array.size else 0.0
        if mode.startswith("I;16") or peak > 255.0:
            array = array / 257.0
        elif mode == "F" and peak <= 1.0:
            array = array * 255.0
        grey = np.clip(array + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if keep_alpha and alpha.min() < 255:
            return rgba
        return flatten(rgba)
    return image.convert("RGB")


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite an RGBA image over a plain background."""
    canvas = Image.new("RGB", image.size, background)
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def _check_shape(image: Image.Image) -> None:
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"the image is {width}x{height}; it needs at least {MIN_SIDE} pixels on each side",
            reason="too_small",
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(
            f"the image is {width}x{height}, more than {MAX_ASPECT:.0f} times longer than it is wide",
            reason="extreme_aspect",
        )


def list_images(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by extension; the loader still checks the content), sorted; [] if it
    is not a folder."""
    if not folder.is_dir():
        return []
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def fit_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """Downscale (never upscale) so the longer side is at most ``long_side``; keeps the aspect ratio."""
    width, height = image.size
    scale = long_side / max(width, height)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def save_png_atomic(image: Image.Image, path: Path) -> None:
    """Write a PNG via a temp file and rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG", optimize=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
