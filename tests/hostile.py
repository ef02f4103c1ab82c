"""The gauntlet of hostile and odd image files, shared by the loader, CLI and bot tests.

Each kind says what the file is, the name an attacker would give it, and what must happen: refused with
a given ``ImageError.reason``, or decoded to a picture. Outcomes hold at the library defaults and at the
bot's settings alike (40 Mpx, work size 2048). Files are made on demand from synthetic pixels (never from
the shared data) and cached, since a few take a second to encode.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lamuse.io import MAX_JPEG_SCANS


@dataclass(frozen=True)
class Hostile:
    """One kind of file: ``refused`` is the loader's reason, or None when it must decode."""

    kind: str
    filename: str
    make: Callable[[], bytes]
    refused: str | None
    what: str


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    return Image.fromarray(np.dstack([x, x[::-1], np.full_like(x, 90)]), "RGB")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, *extra: bytes, idat: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + _png_chunk(b"IDAT", idat or zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's segments after SOI; each scan carries its entropy-coded data."""
    pos, found = 2, []
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            found.append((marker, data[pos : pos + 2]))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        found.append((marker, data[pos:end]))
        pos = end
    return found


def scan_bomb(side: int, extra_scans: int) -> bytes:
    """A flat progressive JPEG with ``extra_scans`` copies of its smallest (nearly empty) scan appended:
    each copy costs the decoder a pass over every block for a few bytes of file."""
    base = encode(Image.new("RGB", (side, side), (120, 130, 140)), "JPEG", progressive=True, quality=90)
    segments = _jpeg_segments(base)
    scans = [body for marker, body in segments if marker == 0xDA]
    empty = min(scans[1:], key=len)
    head = b"".join(body for marker, body in segments if marker != 0xD9)
    return b"\xff\xd8" + head + empty * extra_scans + b"\xff\xd9"


def _scans_in(data: bytes) -> int:
    return data.count(b"\xff\xda")


def _scans_at_limit() -> bytes:
    base = scan_bomb(4000, 0)
    return scan_bomb(4000, MAX_JPEG_SCANS - _scans_in(base))


def _exif_jpeg(orientation: object) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(gradient(80, 40), "JPEG", exif=exif.tobytes())


def _raw_orientation_jpeg(field_type: int, count: int, value: bytes) -> bytes:
    """A JPEG whose EXIF holds Orientation with any TIFF type/count (Pillow's writer would not)."""
    inline = len(value) <= 4
    field = value.ljust(4, b"\0") if inline else struct.pack("<I", 8 + 2 + 12 + 4)
    ifd = struct.pack("<H", 1) + struct.pack("<HHI", 0x0112, field_type, count) + field
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + (b"" if inline else value)
    return encode(gradient(80, 40), "JPEG", exif=b"Exif\x00\x00" + tiff)


def _tiff_header_only(width: int, height: int) -> bytes:
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1)]
    tags += [(273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    return b"II*\x00" + struct.pack("<I", 8 + 16) + b"\0" * 16 + ifd + struct.pack("<I", 0)


def _bmp_header_only(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 64, 0, 0, 54) + info + b"\0" * 64


def _jpeg_header_only(width: int, height: int) -> bytes:
    base = bytearray(encode(gradient(64, 64), "JPEG"))
    sof = base.index(b"\xff\xc0")
    base[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(base)


def _gif_screen(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("P", (32, 32)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _webp_vp8x(width: int, height: int) -> bytes:
    body = b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _animated(fmt: str, frames: int = 2, side: int = 64) -> bytes:
    images = [Image.new("RGB", (side, side), (255 * (i % 2), 40, 255 * ((i + 1) % 2))) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=40)


def _multipage_tiff() -> bytes:
    pages = [gradient(), gradient().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def _sixteen_bit(width: int, height: int) -> bytes:
    return encode(Image.fromarray(np.zeros((height, width), np.uint16)), "PNG", compress_level=9)


def _rgba(side: int) -> bytes:
    return encode(Image.new("RGBA", (side, side), (200, 30, 30, 128)), "PNG", compress_level=9)


def _iccp_bomb() -> bytes:
    return _png(64, 48, _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\0" * (64 << 20), 9)))


def _ztxt_bomb() -> bytes:
    png = encode(gradient(), "PNG")
    chunk = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 9))
    return png[:33] + chunk + png[33:]


def _huge_chunk_length() -> bytes:
    png = encode(gradient(), "PNG")
    return png[:33] + struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"x" * 100


def _bad_ihdr_crc() -> bytes:
    png = bytearray(encode(gradient(), "PNG"))
    png[29] ^= 0xFF
    return bytes(png)


def _zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("painting.jpg", b"not really")
    return buffer.getvalue()


def _tiff_mode(mode: str) -> bytes:
    values = np.linspace(0, 1 if mode == "F" else 70000, 64 * 48).reshape(48, 64)
    return encode(Image.fromarray(values.astype(np.float32 if mode == "F" else np.int32), mode), "TIFF")


def _eps() -> bytes:
    return encode(gradient(), "EPS")


POSTSCRIPT = b"%!PS-Adobe-3.0\n%%BoundingBox: 0 0 64 48\n/Helvetica findfont 12 scalefont setfont\nshowpage\n"

_KINDS: list[Hostile] = [
    # Formats outside the allow-list, whatever their name says.
    Hostile("eps_named_png", "cute_cat.png", _eps, "not_an_image", "EPS (PostScript: Ghostscript)"),
    Hostile("postscript", "drawing.png", lambda: POSTSCRIPT, "not_an_image", "bare PostScript"),
    Hostile("pdf", "painting.jpg", lambda: encode(gradient(), "PDF"), "not_an_image", "a PDF page"),
    Hostile("ico", "icon.png", lambda: encode(gradient(), "ICO"), "not_an_image", "Windows icon"),
    Hostile("tga", "x.jpg", lambda: encode(gradient(), "TGA"), "not_an_image", "Targa"),
    Hostile("pcx", "x.jpg", lambda: encode(gradient(), "PCX"), "not_an_image", "PCX"),
    Hostile("ppm", "x.png", lambda: encode(gradient(), "PPM"), "not_an_image", "netpbm"),
    Hostile("sgi", "x.png", lambda: encode(gradient(), "SGI"), "not_an_image", "SGI"),
    Hostile("qoi", "x.png", lambda: encode(gradient(), "QOI"), "not_an_image", "QOI"),
    Hostile("avif", "x.png", lambda: encode(gradient(), "AVIF"), "not_an_image", "AVIF (no plugin pinned)"),
    Hostile("jpeg2000", "x.jpg", lambda: encode(gradient(), "JPEG2000"), "not_an_image", "JPEG 2000"),
    Hostile("dds", "x.png", lambda: encode(gradient(), "DDS"), "not_an_image", "DirectDraw surface"),
    Hostile("xbm", "x.png", lambda: encode(gradient().convert("1"), "XBM"), "not_an_image", "X bitmap"),
    Hostile("icns", "x.png", lambda: encode(gradient(), "ICNS"), "not_an_image", "macOS icon"),
    Hostile("spider", "x.png", lambda: encode(gradient().convert("F"), "SPIDER"), "not_an_image", "SPIDER"),
    # Not images at all.
    Hostile("empty", "x.png", lambda: b"", "empty", "zero bytes"),
    Hostile("text", "x.png", lambda: b"just some text, not pixels\n" * 10, "not_an_image", "plain text"),
    Hostile("html", "x.png", lambda: b"<html><body><img src=x></body></html>", "not_an_image", "HTML"),
    Hostile("svg", "x.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not_an_image", "SVG"),
    Hostile("zip", "x.jpg", _zip, "not_an_image", "a zip archive"),
    Hostile(
        "random_bytes",
        "x.jpg",
        lambda: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        "not_an_image",
        "4 KiB of noise",
    ),
    # Damaged.
    Hostile(
        "truncated_jpeg", "x.jpg", lambda: encode(gradient(256, 256), "JPEG")[:1500], "truncated", "cut short"
    ),
    Hostile("truncated_png", "x.png", lambda: encode(gradient(), "PNG")[:120], "truncated", "cut short"),
    Hostile(
        "jpeg_header_only",
        "x.jpg",
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "unreadable",
        "a JPEG start and nothing else",
    ),
    Hostile("png_bad_ihdr_crc", "x.png", _bad_ihdr_crc, "not_an_image", "IHDR checksum wrong"),
    Hostile("png_huge_chunk_length", "x.png", _huge_chunk_length, "unreadable", "a chunk declaring 2 GB"),
    Hostile("webp_bad_chunk", "x.webp", lambda: b"RIFF\x20\0\0\0WEBPJUNK" + b"\0" * 24, "unreadable", "RIFF"),
    # Declared sizes that would allocate gigabytes.
    Hostile(
        "png_1bit_30000",
        "x.png",
        lambda: encode(Image.new("1", (30000, 30000)), "PNG", optimize=True),
        "too_many_pixels",
        "900 Mpx in a few KB",
    ),
    Hostile("png_declares_10gpx", "x.png", lambda: _png(100000, 100000), "too_many_pixels", "IHDR only"),
    Hostile(
        "tiff_declares_3_6gpx", "x.tif", lambda: _tiff_header_only(60000, 60000), "too_many_pixels", "IFD"
    ),
    Hostile("bmp_declares_2_5gpx", "x.bmp", lambda: _bmp_header_only(50000, 50000), "too_many_pixels", "BMP"),
    Hostile("jpeg_declares_4gpx", "x.jpg", lambda: _jpeg_header_only(65000, 65000), "too_many_pixels", "SOF"),
    Hostile("gif_screen_4gpx", "x.gif", lambda: _gif_screen(65535, 65535), "too_many_pixels", "GIF screen"),
    Hostile("webp_declares_268mpx", "x.webp", lambda: _webp_vp8x(16383, 16383), "too_many_pixels", "VP8X"),
    Hostile(
        "webp_25mpx_tiny",
        "x.webp",
        lambda: encode(Image.new("RGB", (5000, 5000), (9, 9, 9)), "WEBP", lossless=True),
        "too_many_pixels",
        "a 1-2 KB lossless WebP whose decoder needs 4 canvases of 25 Mpx",
    ),
    # Shapes refused from the header.
    Hostile("tiny_8x8", "x.png", lambda: encode(Image.new("RGB", (8, 8), "red"), "PNG"), "too_small", "8x8"),
    Hostile(
        "aspect_50_to_1",
        "x.png",
        lambda: encode(Image.new("RGB", (1000, 20), "blue"), "PNG"),
        "extreme_aspect",
        "1000x20",
    ),
    Hostile(
        "png16_16x2490000",
        "x.png",
        lambda: _sixteen_bit(16, 2_490_000),
        "extreme_aspect",
        "an 80 KB 16-bit strip of 40 Mpx",
    ),
    # CPU bombs.
    Hostile("scan_bomb_286k", "x.jpg", lambda: scan_bomb(6000, 3200), "too_complex", "3,200 empty scans"),
    Hostile("scan_bomb_1m", "x.jpg", lambda: scan_bomb(6000, 39000), "too_complex", "39,000 empty scans"),
    Hostile("png_iccp_zlib_bomb", "x.png", _iccp_bomb, "unreadable", "a 64 MB colour profile in 64 KB"),
    Hostile("png_ztxt_zlib_bomb", "x.png", _ztxt_bomb, "unreadable", "a 64 MB text chunk in 64 KB"),
    # Small files, large frames: decoded within the memory ceiling.
    Hostile("png16_6240", "x.png", lambda: _sixteen_bit(6240, 6240), None, "a 76 KB 16-bit PNG of 39 Mpx"),
    Hostile("rgba_6150", "x.png", lambda: _rgba(6150), None, "a 150 KB RGBA PNG of 38 Mpx"),
    Hostile("scans_at_limit", "x.jpg", _scans_at_limit, None, f"{MAX_JPEG_SCANS} scans over 16 Mpx"),
    Hostile(
        "webp_9mpx",
        "x.webp",
        lambda: encode(Image.new("RGB", (3000, 3000), (9, 9, 9)), "WEBP", lossless=True),
        None,
        "a WebP within its quarter of the pixel limit",
    ),
    # EXIF orientation of every odd type.
    Hostile("exif_orientation_text", "x.jpg", lambda: _raw_orientation_jpeg(2, 4, b"six\0"), None, "ASCII"),
    Hostile(
        "exif_orientation_rational",
        "x.jpg",
        lambda: _raw_orientation_jpeg(5, 1, struct.pack("<II", 6, 1)),
        None,
        "RATIONAL 6/1",
    ),
    Hostile(
        "exif_orientation_tuple",
        "x.jpg",
        lambda: _raw_orientation_jpeg(3, 2, struct.pack("<HH", 6, 6)),
        None,
        "two SHORTs",
    ),
    Hostile(
        "exif_orientation_rational_zero",
        "x.jpg",
        lambda: _raw_orientation_jpeg(5, 1, struct.pack("<II", 1, 0)),
        None,
        "RATIONAL 1/0",
    ),
    Hostile("exif_orientation_9", "x.jpg", lambda: _exif_jpeg(9), None, "out of range"),
    Hostile("exif_orientation_0", "x.jpg", lambda: _exif_jpeg(0), None, "out of range"),
    Hostile(
        "exif_orientation_signed",
        "x.jpg",
        lambda: _raw_orientation_jpeg(8, 1, struct.pack("<h", -3)),
        None,
        "SSHORT -3",
    ),
    Hostile("exif_orientation_65535", "x.jpg", lambda: _exif_jpeg(65535), None, "out of range"),
    # Odd but valid.
    Hostile("cmyk_jpeg", "x.jpg", lambda: encode(gradient().convert("CMYK"), "JPEG"), None, "CMYK"),
    Hostile(
        "palette_alpha_png",
        "x.png",
        lambda: encode(gradient().convert("P"), "PNG", transparency=0),
        None,
        "palette + tRNS",
    ),
    Hostile("la_png", "x.png", lambda: encode(gradient().convert("LA"), "PNG"), None, "grey + alpha"),
    Hostile("one_bit_png", "x.png", lambda: encode(gradient().convert("1"), "PNG"), None, "1-bit"),
    Hostile("png_named_gif", "x.gif", lambda: encode(gradient(), "PNG"), None, "misnamed"),
    Hostile("animated_gif", "x.gif", lambda: _animated("GIF"), None, "2 frames"),
    Hostile("animated_webp", "x.webp", lambda: _animated("WEBP"), None, "2 frames"),
    Hostile("gif_500_frames", "x.gif", lambda: _animated("GIF", 500, 32), None, "500 frames"),
    Hostile("tiff_float", "x.tif", lambda: _tiff_mode("F"), None, "32-bit float"),
    Hostile("tiff_int32", "x.tif", lambda: _tiff_mode("I"), None, "32-bit int"),
    Hostile("tiff_multipage", "x.tif", _multipage_tiff, None, "2 pages"),
    Hostile(
        "progressive_jpeg",
        "x.jpg",
        lambda: encode(gradient(640, 480), "JPEG", progressive=True),
        None,
        "an ordinary progressive JPEG",
    ),
    Hostile("bmp", "x.bmp", lambda: encode(gradient(), "BMP"), None, "BMP"),
]
HOSTILE: dict[str, Hostile] = {h.kind: h for h in _KINDS}
"""Every kind by name (the bot gauntlet parametrises over these)."""


@functools.cache
def hostile_bytes(kind: str) -> bytes:
    """The file of ``kind``, made once per process."""
    return HOSTILE[kind].make()
