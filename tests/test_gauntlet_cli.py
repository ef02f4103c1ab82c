"""Hostile and odd inputs through `lamuse reinterpret`: a clear one-line error (exit 2) or a right result."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.cli import main

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS

SEURAT = PAINTINGS / "seurat_grande_jatte.jpg"


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _painting(size: int = 320) -> Image.Image:
    image = Image.open(SEURAT).convert("RGB")
    image.thumbnail((size, size))
    return image


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("painting.jpg", b"not really")
    return buffer.getvalue()


REJECTED = {
    "text.png": (b"hello, I am text", "not an image"),
    "document.pdf": (b"%PDF-1.4\n%%EOF", "not an image"),
    "archive.zip": (_zip(), "not an image"),
    "zero.jpg": (b"", "empty"),
    "truncated.jpg": (_save(_painting(), "JPEG")[:2000], "truncated"),
    "truncated.png": (_save(_painting(), "PNG")[:3000], "truncated"),
    "bomb.png": (_save(Image.new("1", (20000, 20000)), "PNG"), "megapixels"),
    "tiny.png": (_save(Image.new("RGB", (8, 8), "red"), "PNG"), "at least 16 pixels"),
    "strip.png": (_save(Image.new("RGB", (1000, 20), "red"), "PNG"), "longer than it is wide"),
}


def _run(path: Path, out: Path, library: Path, *extra: str) -> int:
    argv = ["reinterpret", str(path), "--library", str(library), "--out", str(out), "--size", "320"]
    return main([*argv, "--stylizer", "none", *extra])


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_unusable_input_gets_one_clear_error_line(
    name: str, tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each unusable file exits 2 with a single `error:` line naming the problem; no traceback."""
    data, words = REJECTED[name]
    (tmp_path / name).write_bytes(data)
    assert _run(tmp_path / name, tmp_path / "out", annotated_library) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_over_the_byte_limit(
    tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file larger than the byte limit is refused before it is read."""
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG" + bytes(31 * 1024 * 1024))
    assert _run(big, tmp_path / "out", annotated_library) == 2
    assert "MB" in capsys.readouterr().err


def test_an_url_is_not_fetched(
    tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image URL instead of a file is refused with a clear message (the CLI never downloads)."""
    assert _run(Path("https://example.org/painting.jpg"), tmp_path / "out", annotated_library) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "download" in err


ACCEPTED = {
    "animated.gif": lambda: _gif(),
    "animated.webp": lambda: _animated_webp(),
    "cmyk.jpg": lambda: _save(_painting().convert("CMYK"), "JPEG"),
    "sixteen_bit.png": lambda: _save(
        Image.fromarray(np.asarray(_painting().convert("L"), np.uint16) * 257), "PNG"
    ),
    "palette_alpha.png": lambda: _save(_painting().convert("P"), "PNG", transparency=0),
    "wrong_extension.gif": lambda: _save(_painting(), "PNG"),
}


def _gif() -> bytes:
    frames = [_painting(), _painting().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200)


def _animated_webp() -> bytes:
    frames = [_painting(), _painting().transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=200)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_odd_but_valid_input_is_reinterpreted(name: str, tmp_path: Path, annotated_library: Path) -> None:
    """Animated, CMYK, 16-bit, palette+alpha and misnamed files give a picture of the painting's shape."""
    path = tmp_path / name
    path.write_bytes(ACCEPTED[name]())
    assert _run(path, tmp_path / "out", annotated_library, "--annotations", str(PAINTING_ANNOTATIONS)) == 0
    output = Image.open(tmp_path / "out" / f"{path.stem}-0.png")
    assert abs(output.width / output.height - 2000 / 1331) < 0.03
    trace = json.loads((tmp_path / "out" / f"{path.stem}-0.json").read_text())
    assert trace["segmenter"] in ("annotations", "salient")


def test_exif_rotated_photo_comes_out_upright(tmp_path: Path, annotated_library: Path) -> None:
    """A painting stored sideways with EXIF orientation 8 is processed and written upright."""
    upright = _painting()
    stored = upright.transpose(Image.Transpose.ROTATE_270)  # what a camera would store for orientation 8
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "sideways.jpg"
    path.write_bytes(_save(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert _run(path, tmp_path / "out", annotated_library, "--annotations", str(PAINTING_ANNOTATIONS)) == 0
    output = Image.open(tmp_path / "out" / "sideways-0.png")
    assert output.size == upright.size
    trace = json.loads((tmp_path / "out" / "sideways-0.json").read_text())
    assert trace["segmenter"] == "annotations"  # recognised by content as the upright Seurat


def _corrupt_library(tmp_path: Path, annotated_library: Path) -> Path:
    broken = tmp_path / "broken-library"
    broken.mkdir()
    (broken / "library.db").write_bytes(b"this is not sqlite" * 100)
    return broken


def _library_missing_a_png(tmp_path: Path, annotated_library: Path) -> Path:
    import shutil

    copy = tmp_path / "library-copy"
    shutil.copytree(annotated_library, copy)
    for png in (copy / "cutouts").rglob("*.png"):
        png.unlink()
    return copy


BAD_SETTINGS = {
    "negative seed": (["--seed", "-1"], None, "must be 0 or more"),
    "zero size": (["--size", "0"], None, "between 64 and 8192"),
    "unknown stylizer": (["--stylizer", "bogus"], None, "unknown stylizer"),
    "unknown upscaler": (["--upscale", "2", "--upscaler", "bogus"], None, "unknown upscaler"),
    "unknown device": (["--device", "tpu"], None, "unknown device"),
    "cuda without a GPU": (["--device", "cuda:0", "--stylizer", "magenta-torch"], None, "CUDA"),
    "missing annotations": (["--annotations", "/nonexistent/coco.json"], None, "cannot read annotations"),
    "annotations not COCO": (["--annotations", "{tmp}/bad.json"], None, "not COCO instance JSON"),
    "garbage Mask R-CNN weights": (["--maskrcnn-weights", "{tmp}/bad.json"], None, "not a Mask R-CNN"),
    "corrupt library": ([], _corrupt_library, "unreadable"),
    "library missing its images": (
        ["--annotations", str(PAINTING_ANNOTATIONS)],
        _library_missing_a_png,
        "re-add",
    ),
    "output path is a file": (["--out", "{tmp}/bad.json"], None, "cannot write"),
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_settings_get_one_clear_error_line(
    case: str, tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong options, files or libraries exit 2 with one `error:` line (argparse usage errors too)."""
    if case == "cuda without a GPU":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    options, make_library, words = BAD_SETTINGS[case]
    (tmp_path / "bad.json").write_text('{"images": "nope"}')
    library = make_library(tmp_path, annotated_library) if make_library else annotated_library
    argv = ["reinterpret", str(SEURAT), "--library", str(library), "--out", str(tmp_path / "out")]
    argv += ["--size", "256", *[o.replace("{tmp}", str(tmp_path)) for o in options]]
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse rejects bad values itself, with status 2
        status = int(exit_.code or 0)
    assert status == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:") or ": error:" in line]
    assert "Traceback" not in err
    assert len(errors) == 1 and words in errors[0], err
