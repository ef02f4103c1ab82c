"""Decode untrusted image bytes once, safely: an allow-list of formats, every limit checked from the
header before a pixel is allocated, EXIF upright, one colour mode, straight to the work size.

Everything downstream receives an RGB (or RGBA for cut-outs) ``PIL.Image`` and never re-checks.
Decoding stays in-process: each cost is bounded by a header check (pixels, aspect, JPEG scan count, the
WebP decoder's canvases) measured to be cheaper and tighter than a child process with rlimits
(docs/reliability.md gives the figures).
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from lamuse.errors import FileRefused, ImageError

log = logging.getLogger(__name__)

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""The raster formats a painter sends, recognised by content. Pillow's other plugins (EPS/PostScript and
PDF run Ghostscript; dozens more are rarely used and little audited) are never tried."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""File names worth offering to the loader when listing a folder (the content still decides)."""
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MAX_PIXELS = 60_000_000
MIN_SIDE = 16
MAX_ASPECT = 20.0
MAX_JPEG_SCANS = 100
"""Progressive JPEGs carry about 10 scans (libjpeg, mozjpeg: 6-20); each scan costs a pass over every
block, so thousands of empty scans make a small file decode for minutes."""
FRAME_BYTES = 4
"""Bytes per pixel of Pillow's widest frame (RGB is stored as RGBX). A decoder may hold at most
``FRAME_BYTES * max_pixels``; formats that hold more per pixel get a proportionally lower pixel limit."""
WEBP_BYTES_PER_PIXEL = 16
"""libwebp's animation decoder allocates two RGBA canvases when the file is opened, and Pillow copies the
frame twice more: 16 bytes a pixel, so a WebP may declare a quarter of ``max_pixels``."""
JPEG_COEFFICIENT_BYTES = 2
"""A progressive (or multi-scan) JPEG keeps every DCT coefficient until its last scan: 2 bytes per sample
of each component, at full resolution whatever the draft scale."""
_STRIP_PIXELS = 1 << 20
"""High-bit-depth frames are brought to 8 bits a strip of about this many pixels at a time."""
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError, struct.error)
"""What Pillow's plugins raise on damaged data (besides the bomb errors)."""
_ORIENTATION_TAG = 0x0112
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_RESIZABLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "I", "F", "La", "RGBa"})


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image plus what was done to it on the way in (said to the user when it matters).

    Attributes:
        image: RGB, or RGBA when the source had real transparency and ``keep_alpha`` was asked; at most
            ``max_side`` on its long side when the loader was given one.
        format: the container format Pillow recognised ("JPEG", "PNG", ...), never the file extension.
        original_size: (width, height) as stored, before EXIF rotation and any downscaling.
        notes: short machine keys: "animated_first_frame", "exif_rotated", "converted_from_<mode>",
            "downscaled".
    """

    image: Image.Image
    format: str
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()

    def to_png(self) -> bytes:
        """The normalised image as PNG bytes: what an adapter keeps so it never decodes the upload again."""
        return encode_png(self.image)


def load_image(
    data: bytes | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_alpha: bool = False,
    max_side: int | None = None,
) -> LoadedImage:
    """Decode ``data`` (bytes, or a path to a regular file) into an upright RGB/RGBA image.

    ``max_side`` (the work size) makes the one decode return the image already fitted to that long side:
    JPEG decodes at 1/2-1/8 scale, other formats are reduced before their mode is converted, so memory
    follows the output rather than the file's declared size.

    Raises:
        ImageError: with ``reason`` one of ``empty``, ``too_large``, ``not_an_image``, ``too_many_pixels``,
            ``truncated``, ``too_small``, ``extreme_aspect``, ``unreadable``, ``missing``, ``not_a_file``,
            ``too_complex``; the limit crossed is on the error (``limit_bytes``, ``limit_pixels``, ...).
    """
    raw = _read_input(data, max_bytes)
    if not raw:
        raise ImageError("the file is empty", reason="empty")
    if len(raw) > max_bytes:
        raise _too_large(len(raw), max_bytes)
    _check_webp_canvas(raw, max_pixels)
    opened = _open(raw, max_pixels)
    width, height = opened.size
    fmt = opened.format or "unknown"
    _check_pixels(width, height, max_pixels)
    _check_shape(width, height)
    if isinstance(opened, JpegImagePlugin.JpegImageFile):
        _check_jpeg_cost(opened, raw, max_pixels, max_side)
    notes: list[str] = []
    if _is_animated(opened):
        opened.seek(0)
        notes.append("animated_first_frame")
    orientation = exif_orientation(opened)
    if max_side is not None and isinstance(opened, JpegImagePlugin.JpegImageFile):
        opened.draft(opened.mode, _fitted_size((width, height), max_side))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened.load()
    except (*_DECODE_ERRORS, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("the image data is truncated or corrupt", reason="truncated") from exc

    if opened.mode != "RGB":
        notes.append(f"converted_from_{opened.mode.replace(';', '_')}")
    frame: Image.Image = opened
    if max_side is not None and max(frame.size) > max_side:
        frame = _box_reduce(frame, max_side)
        notes.append("downscaled")
    image = _normalise_mode(frame, keep_alpha=keep_alpha)
    if max_side is not None:
        image = fit_long_side(image, max_side)  # after flattening: RGB resizes without a premultiplied copy
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
        notes.append("exif_rotated")
    return LoadedImage(image=image, format=fmt, original_size=(width, height), notes=tuple(notes))


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a regular file of at most ``max_bytes``; FIFOs, devices, sockets and folders are refused
    before a byte is read (a FIFO would block forever, ``/dev/zero`` never ends).

    Raises:
        FileRefused: with ``reason`` ``missing``, ``folder``, ``not_a_file``, ``too_large`` or ``unreadable``.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; it is refused by fstat just after.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError as exc:
        raise FileRefused(f"{path} does not exist", reason="missing") from exc
    except IsADirectoryError as exc:
        raise FileRefused(f"{path} is a folder, not a file", reason="folder") from exc
    except OSError as exc:
        raise FileRefused(f"{path} cannot be read ({exc.strerror or exc})", reason="unreadable") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(f"{path} is a folder, not a file", reason="folder")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{path} is not a regular file (a FIFO, device or socket)", reason="not_a_file")
        if info.st_size > max_bytes:
            raise FileRefused(_size_text(info.st_size, max_bytes), reason="too_large", limit_bytes=max_bytes)
    except FileRefused:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        try:
            content = handle.read(max_bytes + 1)
        except OSError as exc:
            raise FileRefused(f"{path} cannot be read ({exc.strerror or exc})", reason="unreadable") from exc
    if len(content) > max_bytes:  # it grew while we read it
        raise FileRefused(_size_text(len(content), max_bytes), reason="too_large", limit_bytes=max_bytes)
    return content


def _read_input(data: bytes | Path, max_bytes: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    try:
        return read_regular_file(Path(data), max_bytes)
    except FileRefused as exc:
        reason = {"folder": "not_an_image"}.get(exc.reason, exc.reason)
        raise ImageError(str(exc), reason=reason, limit_bytes=exc.limit_bytes) from exc


def _size_text(size: int, max_bytes: int) -> str:
    return f"the file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"


def _too_large(size: int, max_bytes: int) -> ImageError:
    return ImageError(_size_text(size, max_bytes), reason="too_large", limit_bytes=max_bytes)


def _open(raw: bytes, max_pixels: int) -> Image.Image:
    """Parse the header with the allowed plugins only; no pixel is decoded yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageError(
            "this file is not an image in an accepted format (JPEG, PNG, WebP, GIF, BMP, TIFF)",
            reason="not_an_image",
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(None, max_pixels) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"the image header is damaged ({exc})", reason="unreadable") from exc


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> ImageError:
    if size is None:
        declared = "the image declares too many pixels to decode safely"
    else:
        declared = f"the image is {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} megapixels)"
    return ImageError(
        f"{declared}; the limit is {max_pixels / 1e6:.0f} megapixels",
        reason="too_many_pixels",
        limit_pixels=max_pixels,
    )


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _too_many_pixels((width, height), max_pixels)


def _check_webp_canvas(raw: bytes, max_pixels: int) -> None:
    """libwebp allocates its canvases when the file is opened, so a WebP's size is read here, first."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        return
    size = webp_canvas_size(raw)
    if size is None:
        raise ImageError("the WebP header is damaged", reason="unreadable")
    _check_decoder_memory(size, WEBP_BYTES_PER_PIXEL, max_pixels)


def _check_decoder_memory(size: tuple[int, int], bytes_per_pixel: float, max_pixels: int) -> None:
    """Refuse a file whose decoder would hold more than ``FRAME_BYTES * max_pixels``."""
    limit = int(max_pixels * FRAME_BYTES / bytes_per_pixel)
    if size[0] * size[1] > limit:
        raise _too_many_pixels(size, limit)


def webp_canvas_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a WebP's first chunk (VP8X canvas, VP8L or VP8 frame header), else None."""
    if len(raw) < 30:
        return None
    kind = raw[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(raw[24:27], "little"), 1 + int.from_bytes(raw[27:30], "little")
    if kind == b"VP8L":
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 ":
        return int.from_bytes(raw[26:28], "little") & 0x3FFF, int.from_bytes(raw[28:30], "little") & 0x3FFF
    return None


def _check_jpeg_cost(
    image: JpegImagePlugin.JpegImageFile, raw: bytes, max_pixels: int, max_side: int | None
) -> None:
    """Bound a JPEG's decode time (its scan count) and memory (its coefficient buffer) from the header."""
    # Entropy-coded data never holds FF DA (an FF there is followed by 00 or a restart marker), so this
    # counts the start-of-scan markers, plus the few of an embedded EXIF thumbnail.
    scans = raw.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageError(
            f"the JPEG has {scans} scans (at most {MAX_JPEG_SCANS}); it would take too long to decode",
            reason="too_complex",
            limit_scans=MAX_JPEG_SCANS,
        )
    if not image.info.get("progressive") and scans <= 1:
        return
    layers = image.layer or [(0, 1, 1, 0)]
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    samples = sum(layer[1] * layer[2] for layer in layers) / (h_max * v_max)
    # The output frame is decoded at the draft scale: at most a quarter of the pixels when it applies.
    frame = FRAME_BYTES / 4 if max_side is not None and max(image.size) >= 2 * max_side else FRAME_BYTES
    _check_decoder_memory(image.size, JPEG_COEFFICIENT_BYTES * samples + frame, max_pixels)


def _is_animated(image: Image.Image) -> bool:
    try:
        return bool(getattr(image, "is_animated", False))
    except _DECODE_ERRORS:
        return False


def exif_orientation(image: Image.Image) -> int | None:
    """The EXIF Orientation when it is an int 1-8; anything else (text, rational, tuple, out of range,
    damaged EXIF) is ignored, never raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd tags; they are ignored here anyway
            value = image.getexif().get(_ORIENTATION_TAG)
    except (*_DECODE_ERRORS, RuntimeError):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return None


def _fitted_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _resizable(image: Image.Image) -> Image.Image:
    """A mode Pillow can resize, converted at the frame's (cheapest) depth: palette and 1-bit to 8 bits."""
    if image.mode in _RESIZABLE_MODES:
        return image
    if image.mode.startswith("I;16"):
        return _high_depth_to_grey(image)
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "PA":
        return image.convert("RGBA")
    return image.convert("L" if image.mode == "1" else "RGB")


def _box_reduce(image: Image.Image, long_side: int) -> Image.Image:
    """Reduce by the largest integer factor that keeps the long side at least ``long_side``, a strip at a
    time, each strip brought to a resizable mode on its own: a whole-frame conversion (palette to RGBA)
    or a whole-frame reduce of RGBA (premultiplied first) would copy the full frame."""
    factor = max(image.size) // long_side
    if factor < 2:
        return _resizable(image)
    width, height = image.size
    rows = factor * max(1, _STRIP_PIXELS // max(1, width * factor))
    reduced: Image.Image | None = None
    for top in range(0, height, rows):
        part = _resizable(image.crop((0, top, width, min(height, top + rows)))).reduce(factor)
        if reduced is None:
            reduced = Image.new(part.mode, (-(-width // factor), -(-height // factor)))
        reduced.paste(part, (0, top // factor))
    assert reduced is not None  # height >= MIN_SIDE: at least one strip
    return reduced


def _normalise_mode(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Bring any Pillow mode to RGB (or RGBA with real transparency), scaling high bit depths properly."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_to_grey(image).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        alpha = rgba.getchannel("A").getextrema()
        if keep_alpha and isinstance(alpha[0], int | float) and alpha[0] < 255:
            return rgba
        return flatten(rgba)
    return image.convert("RGB")


def _high_depth_to_grey(image: Image.Image) -> Image.Image:
    """16/32-bit and float frames to 8-bit grey, a strip at a time (never a float64 copy of the frame)."""
    low_high = image.getextrema()
    peak = float(low_high[1]) if isinstance(low_high[1], int | float) else 0.0
    if image.mode.startswith("I;16") or peak > 255.0:
        scale = 1.0 / 257.0
    elif image.mode == "F" and peak <= 1.0:
        scale = 255.0
    else:
        scale = 1.0
    width, height = image.size
    grey = np.empty((height, width), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = np.asarray(image.crop((0, top, width, bottom)), dtype=np.float32)
        grey[top:bottom] = np.clip(strip * scale + 0.5, 0.0, 255.0)
    return Image.fromarray(grey, "L")


def flatten(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite an RGBA image over a plain background."""
    canvas = Image.new("RGB", image.size, background)
    canvas.paste(image, mask=image.getchannel("A"))
    return canvas


def _check_shape(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"the image is {width}x{height}; it needs at least {MIN_SIDE} pixels on each side",
            reason="too_small",
            min_side=MIN_SIDE,
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(
            f"the image is {width}x{height}, more than {MAX_ASPECT:.0f} times longer than it is wide",
            reason="extreme_aspect",
            max_aspect=MAX_ASPECT,
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
    if long_side >= max(width, height):
        return image
    return image.resize(_fitted_size(image.size, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0)


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` (fast settings: these are working copies, not archives)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_atomic(path: Path, content: bytes | Callable[[BinaryIO], object]) -> None:
    """Write ``content`` (bytes, or a callback writing to the open file) via a temp file in the same
    folder, flushed to disk and renamed over ``path``: a crash or a full disk never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_png_atomic(image: Image.Image, path: Path) -> None:
    """Write a PNG atomically (see ``write_atomic``)."""
    write_atomic(path, lambda handle: image.save(handle, format="PNG", optimize=False))
