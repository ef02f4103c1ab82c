"""The image loader: every kind of broken or odd input gets a clear ImageError or a correct image."""

from __future__ import annotations

import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lamuse.errors import FileRefused, ImageError
from lamuse.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    MAX_ASPECT,
    MAX_JPEG_SCANS,
    MIN_SIDE,
    fit_long_side,
    list_images,
    load_image,
    read_regular_file,
    save_png_atomic,
    write_atomic,
)

from .conftest import PAINTINGS
from .hostile import HOSTILE, hostile_bytes

BOT_PIXELS = 40_000_000
WORK_SIDE = 2048
"""The bot's settings (bot.engine.MAX_INPUT_PIXELS, WORK_LONG_SIDE): the gauntlet holds there too."""


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


def test_wrong_extension_is_ignored(tmp_path: Path) -> None:
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


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_file_is_refused_for_its_reason_or_decoded(kind: str) -> None:
    """Every gauntlet file gives its expected ImageError reason, or an RGB picture of its declared shape."""
    hostile = HOSTILE[kind]
    data = hostile_bytes(kind)
    if hostile.refused is not None:
        with pytest.raises(ImageError) as caught:
            load_image(data)
        assert caught.value.reason == hostile.refused, str(caught.value)
        return
    loaded = load_image(data)
    assert loaded.image.mode == "RGB" and min(loaded.image.size) >= MIN_SIDE
    assert sorted(loaded.image.size) == sorted(loaded.original_size)


@pytest.mark.parametrize("kind", sorted(k for k, h in HOSTILE.items() if h.refused is None))
def test_hostile_file_decodes_straight_to_the_work_size(kind: str) -> None:
    """At the bot's settings the one decode returns the work-size image, with the same aspect ratio."""
    loaded = load_image(hostile_bytes(kind), max_pixels=BOT_PIXELS, max_side=WORK_SIDE)
    width, height = loaded.original_size
    assert max(loaded.image.size) == min(WORK_SIDE, max(width, height))
    assert (
        abs(max(loaded.image.size) / min(loaded.image.size) - max(width, height) / min(width, height)) < 0.01
    )
    assert ("downscaled" in loaded.notes) == (max(width, height) > WORK_SIDE)


@pytest.mark.parametrize("kind", sorted(k for k, h in HOSTILE.items() if h.refused is not None))
def test_hostile_file_is_refused_at_the_bot_settings_too(kind: str) -> None:
    with pytest.raises(ImageError) as caught:
        load_image(hostile_bytes(kind), max_pixels=BOT_PIXELS, max_side=WORK_SIDE)
    assert caught.value.reason == HOSTILE[kind].refused


def test_the_gauntlet_holds_every_file_the_issue_names() -> None:
    """At least 40 kinds, among them each file of issue 10 (sizes as reported there)."""
    assert len(HOSTILE) >= 40
    sizes = {kind: len(hostile_bytes(kind)) for kind in ("scan_bomb_286k", "scan_bomb_1m", "png16_6240")}
    sizes |= {kind: len(hostile_bytes(kind)) for kind in ("png16_16x2490000", "rgba_6150", "webp_25mpx_tiny")}
    assert 250_000 < sizes["scan_bomb_286k"] < 320_000 and 1_000_000 < sizes["scan_bomb_1m"] < 1_200_000
    assert sizes["png16_6240"] < 90_000 and sizes["png16_16x2490000"] < 90_000
    assert sizes["rgba_6150"] < 170_000 and sizes["webp_25mpx_tiny"] < 2_000
    assert HOSTILE["eps_named_png"].filename == "cute_cat.png"
    assert Image.open(io.BytesIO(hostile_bytes("png16_6240"))).size == (6240, 6240)


def test_eps_named_png_never_runs_ghostscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a `gs` on PATH, Pillow's EPS plugin runs it; the loader refuses the file without doing so."""
    from PIL import EpsImagePlugin

    calls = tmp_path / "gs-calls"
    fake = tmp_path / "bin" / "gs"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = --version ] && exit 0\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)
    eps = hostile_bytes("eps_named_png")
    # The harness is live: opening the file as Pillow does by default does run "Ghostscript".
    with pytest.raises(subprocess.CalledProcessError):
        Image.open(io.BytesIO(eps)).load()
    assert calls.read_text().count("\n") >= 2
    calls.unlink()
    path = tmp_path / "cute_cat.png"
    path.write_bytes(eps)
    for data in (eps, path):
        with pytest.raises(ImageError) as caught:
            load_image(data)
        assert caught.value.reason == "not_an_image"
    assert not calls.exists()


def _finishes(action: Callable[[], None], seconds: float = 20.0) -> None:
    """Run ``action`` in a thread and fail (instead of hanging the suite) if it does not return."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # handed to the test thread
            errors.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    if errors:
        raise errors[0]


def test_fifo_and_devices_are_refused_before_reading(tmp_path: Path) -> None:
    """A FIFO (which would block forever) and /dev/zero (which never ends) are refused unread."""
    import os

    fifo = tmp_path / "painting.png"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):

        def load(path: Path = path) -> None:
            with pytest.raises(ImageError) as caught:
                load_image(path)
            assert caught.value.reason == "not_a_file" and "not a regular file" in str(caught.value)

        _finishes(load)
    with pytest.raises(ImageError) as caught:
        load_image(tmp_path)
    assert caught.value.reason == "not_an_image" and "folder" in str(caught.value)
    with pytest.raises(ImageError) as caught:
        load_image(tmp_path / "missing.png")
    assert caught.value.reason == "missing"
    with pytest.raises(FileRefused) as refused:
        read_regular_file(Path("/dev/null"), 10)
    assert refused.value.reason == "not_a_file"


def test_regular_file_limit_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 101)
    with pytest.raises(FileRefused) as refused:
        read_regular_file(big, 100)
    assert refused.value.reason == "too_large" and refused.value.limit_bytes == 100
    assert read_regular_file(big, 101) == b"x" * 101


@pytest.mark.parametrize(
    ("kind", "rotated"),
    [
        ("exif_orientation_text", False),
        ("exif_orientation_rational", False),
        ("exif_orientation_rational_zero", False),
        ("exif_orientation_9", False),
        ("exif_orientation_0", False),
        ("exif_orientation_signed", False),
        ("exif_orientation_65535", False),
    ],
)
def test_odd_exif_orientation_is_ignored_not_raised(kind: str, rotated: bool) -> None:
    """Only an integer 1-8 rotates; text, rationals and out-of-range values leave the image as stored."""
    loaded = load_image(hostile_bytes(kind))
    assert (loaded.image.size == (40, 80)) == rotated
    assert ("exif_rotated" in loaded.notes) == rotated


def test_max_side_decodes_a_jpeg_at_reduced_scale_with_the_same_picture() -> None:
    """A 2000 px painting asked at 500 px comes out 500 px wide and matches the full decode fitted down."""
    path = PAINTINGS / "seurat_grande_jatte.jpg"
    small = load_image(path, max_side=500)
    full = fit_long_side(load_image(path).image, 500)
    assert small.image.size == full.size == (500, 333) and "downscaled" in small.notes
    assert small.original_size == (2000, 1331)
    small_pixels, full_pixels = np.asarray(small.image, np.int16), np.asarray(full, np.int16)
    difference = np.abs(small_pixels - full_pixels).mean()
    # Pointillism is the worst case for a DCT-scaled decode; a shifted copy is far further off.
    assert difference < 6.0 < np.abs(small_pixels[:, 4:] - full_pixels[:, :-4]).mean()


def test_max_side_keeps_alpha_when_asked() -> None:
    """Cut-outs keep real transparency through the reduced decode."""
    image = Image.new("RGBA", (4000, 400), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 2000, 400))
    loaded = load_image(_encode(image, "PNG"), max_side=1000, keep_alpha=True)
    assert loaded.image.mode == "RGBA" and loaded.image.size == (1000, 100)
    pixels = np.asarray(loaded.image)
    assert pixels[50, 10, 3] == 255 and pixels[50, 990, 3] == 0 and pixels[50, 10, 2] == 255


def test_decode_once_png_round_trip() -> None:
    """What an adapter keeps (PNG bytes of the work-size image) decodes back to the same pixels."""
    loaded = load_image(hostile_bytes("cmyk_jpeg"), max_side=WORK_SIDE)
    again = load_image(loaded.to_png(), max_side=WORK_SIDE)
    assert again.format == "PNG" and np.array_equal(np.asarray(again.image), np.asarray(loaded.image))


def test_image_errors_carry_their_limit() -> None:
    """Adapters word refusals from the error itself, not from the loader's constants."""
    cases: dict[str, tuple[Callable[[], object], str, float]] = {
        "too_large": (lambda: load_image(b"x" * 11, max_bytes=10), "limit_bytes", 10),
        "too_many_pixels": (
            lambda: load_image(hostile_bytes("png_declares_10gpx")),
            "limit_pixels",
            DEFAULT_MAX_PIXELS,
        ),
        "too_small": (lambda: load_image(hostile_bytes("tiny_8x8")), "min_side", MIN_SIDE),
        "extreme_aspect": (lambda: load_image(hostile_bytes("aspect_50_to_1")), "max_aspect", MAX_ASPECT),
        "too_complex": (lambda: load_image(hostile_bytes("scan_bomb_286k")), "limit_scans", MAX_JPEG_SCANS),
    }
    for reason, (action, field, value) in cases.items():
        with pytest.raises(ImageError) as caught:
            action()
        assert caught.value.reason == reason and getattr(caught.value, field) == value, reason
    with pytest.raises(ImageError) as caught:
        load_image(hostile_bytes("webp_25mpx_tiny"), max_pixels=BOT_PIXELS)
    assert caught.value.limit_pixels == BOT_PIXELS // 4


def test_write_atomic_bytes_callback_and_failure(tmp_path: Path) -> None:
    """Bytes or a writer callback land whole; a failing writer leaves the old file and no temp file."""
    target = tmp_path / "sub" / "out.bin"
    write_atomic(target, b"first")
    assert target.read_bytes() == b"first"
    write_atomic(target, lambda handle: handle.write(b"second"))
    assert target.read_bytes() == b"second"

    def broken(handle: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, broken)
    assert target.read_bytes() == b"second" and sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]
    save_png_atomic(_gradient(), tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").image.size == (64, 48)


def test_one_suffix_list_for_every_allowed_format(tmp_path: Path) -> None:
    """Listing a folder offers every allowed format's usual names, GIF included, and nothing else."""
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} == IMAGE_SUFFIXES
    for name in ("a.GIF", "b.jpg", "c.txt", "d.eps"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.GIF", "b.jpg"]
