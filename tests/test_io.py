"""The image loader: every kind of broken or odd input gets a clear ImageError or a correct image."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lamuse.errors import ImageError
from lamuse.io import fit_long_side, load_image

from .conftest import PAINTINGS


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    return Image.fromarray(np.dstack([x, x[::-1], np.full_like(x, 90)]), "RGB")


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


def _bomb_png() -> bytes:
    """A tiny PNG file that declares 30000x30000 pixels."""
    return _encode(Image.new("1", (30000, 30000)), "PNG", optimize=True)


BROKEN = {
    "empty": (b"", "empty"),
    "text": (b"just some text, not pixels\n" * 10, "not_an_image"),
    "pdf": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not_an_image"),
    "zip": (_zip_bytes(), "not_an_image"),
    "html": (b"<html><body><img src=x></body></html>", "not_an_image"),
    "truncated_jpeg": (_encode(_gradient(256, 256), "JPEG")[:1500], "truncated"),
    "truncated_png": (_encode(_gradient(), "PNG")[:120], "truncated"),
    "jpeg_header_only": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "unreadable"),
    "tiny_8x8": (_encode(Image.new("RGB", (8, 8), "red"), "PNG"), "too_small"),
    "aspect_50_to_1": (_encode(Image.new("RGB", (1000, 20), "blue"), "PNG"), "extreme_aspect"),
    "bomb": (_bomb_png(), "too_many_pixels"),
    "random_bytes": (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not_an_image"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_input_is_rejected_with_a_reason(kind: str) -> None:
    """Each kind of unusable file raises ImageError with its specific reason, never anything else."""
    data, reason = BROKEN[kind]
    with pytest.raises(ImageError) as caught:
        load_image(data)
    assert caught.value.reason == reason, str(caught.value)
    assert str(caught.value)


def test_byte_limit_is_checked_before_decoding() -> None:
    """A file over the byte limit is refused as too large."""
    data = _encode(_gradient(), "PNG")
    with pytest.raises(ImageError) as caught:
        load_image(data, max_bytes=len(data) - 1)
    assert caught.value.reason == "too_large"


def test_pixel_limit() -> None:
    """A valid image over the pixel limit is refused before its pixels are decoded."""
    with pytest.raises(ImageError) as caught:
        load_image(_encode(_gradient(400, 300), "PNG"), max_pixels=100_000)
    assert caught.value.reason == "too_many_pixels"


def test_wrong_extension_is_ignored(tmp_path) -> None:
    """A PNG saved as .jpg decodes as PNG: the content decides, not the name."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(_gradient(), "PNG"))
    loaded = load_image(path)
    assert loaded.format == "PNG" and loaded.image.size == (64, 48)


def test_exif_rotation_is_applied() -> None:
    """An EXIF orientation 6 (rotate 90° clockwise) photo comes out upright with swapped sides."""
    image = _gradient(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6
    loaded = load_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert loaded.image.size == (40, 80)
    assert "exif_rotated" in loaded.notes
    # The left edge of the stored image (dark red channel) is now the top edge.
    top, bottom = np.asarray(loaded.image)[:5, :, 0].mean(), np.asarray(loaded.image)[-5:, :, 0].mean()
    assert top < bottom


def test_cmyk_jpeg_becomes_rgb() -> None:
    """A CMYK JPEG is converted to RGB with plausible colours."""
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    loaded = load_image(_encode(cmyk, "JPEG"))
    assert loaded.image.mode == "RGB"
    r, g, b = np.asarray(loaded.image).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_16_bit_png_is_scaled_not_clipped() -> None:
    """A 16-bit greyscale PNG keeps its tones (mid-grey 32768 → about 128), not clipped to white."""
    array = np.full((32, 32), 32768, dtype=np.uint16)
    array[:, :16] = 65535
    source = Image.fromarray(array)
    assert source.mode.startswith("I;16")
    loaded = load_image(_encode(source, "PNG"))
    values = np.asarray(loaded.image)[..., 0]
    assert abs(int(values[0, 20]) - 128) <= 2 and values[0, 0] == 255


def test_palette_png_with_transparency() -> None:
    """A palette PNG with a transparent index is flattened on white, or kept as RGBA when asked."""
    image = Image.new("P", (32, 32), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(0, (0, 0, 16, 32))
    data = _encode(image, "PNG", transparency=0)
    flat = np.asarray(load_image(data).image)
    assert tuple(flat[0, 0]) == (255, 255, 255) and tuple(flat[0, 31]) == (255, 0, 0)
    rgba = load_image(data, keep_alpha=True).image
    assert rgba.mode == "RGBA" and np.asarray(rgba)[0, 0, 3] == 0


def test_animated_gif_takes_first_frame() -> None:
    """An animated GIF gives its first frame and says so."""
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(buffer.getvalue())
    assert "animated_first_frame" in loaded.notes
    assert np.asarray(loaded.image)[0, 0, 0] > 200


def test_real_painting_loads() -> None:
    """A shared painting loads at its stored size as RGB."""
    loaded = load_image(PAINTINGS / "seurat_grande_jatte.jpg")
    assert loaded.image.size == (2000, 1331) and loaded.image.mode == "RGB" and loaded.format == "JPEG"


def test_fit_long_side_keeps_aspect_and_never_upscales() -> None:
    """Downscaling keeps the aspect ratio; a small image is left alone."""
    image = Image.new("RGB", (2000, 1331))
    assert fit_long_side(image, 1024).size == (1024, 681)
    assert fit_long_side(image, 4000) is image


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any byte string either loads or raises ImageError; nothing else escapes."""
    try:
        loaded = load_image(data)
    except ImageError:
        return
    assert loaded.image.mode in ("RGB", "RGBA")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 255))
def test_fuzz_corrupted_png_never_crashes(cut: int, flip: int) -> None:
    """A real PNG truncated and with one byte changed loads or raises ImageError."""
    data = bytearray(_encode(_gradient(), "PNG"))
    data = data[: max(1, len(data) - cut)]
    data[len(data) // 2] ^= flip
    try:
        load_image(bytes(data))
    except ImageError:
        pass
