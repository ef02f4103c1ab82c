"""Hostile and odd inputs through `lamuse reinterpret`: a clear one-line error (exit 2) or a right result."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.cli import main

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS
from .hostile import HOSTILE, hostile_bytes

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


REFUSED_KINDS = sorted(kind for kind, hostile in HOSTILE.items() if hostile.refused is not None)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and (lines[0].startswith("error:") or ": error:" in lines[0]), err
    return lines[0]


@pytest.mark.parametrize("kind", REFUSED_KINDS)
def test_every_refused_hostile_file_is_one_error_line(
    kind: str, tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gauntlet's refused files, under the names an attacker gives them: exit 2, one line."""
    path = tmp_path / HOSTILE[kind].filename
    path.write_bytes(hostile_bytes(kind))
    assert _run(path, tmp_path / "out", annotated_library) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def _cli_in_child(
    *argv: str, timeout: float = 120, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, so a hang is a failed test and a killed child, not a stuck suite."""
    code = "import sys; from lamuse.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
        preexec_fn=preexec_fn,
    )


def _assert_one_error(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], result.stderr


@pytest.mark.parametrize("where", ["painting", "style", "annotations"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_fifos_and_devices_are_refused_before_reading(
    where: str, special: str, tmp_path: Path, annotated_library: Path
) -> None:
    """A FIFO used to block forever and /dev/zero to read until MemoryError; both are refused unread."""
    if special == "fifo":
        path = tmp_path / "painting.jpg"
        os.mkfifo(path)
    else:
        path = Path(special)
    painting = path if where == "painting" else SEURAT
    argv = ["reinterpret", str(painting), "--library", str(annotated_library), "--out", str(tmp_path / "o")]
    argv += ["--stylizer", "none", "--size", "256"]
    if where == "style":
        argv += ["--style", str(path)]
    if where == "annotations":
        argv += ["--annotations", str(path)]
    _assert_one_error(_cli_in_child(*argv), "not a regular file")


def test_a_file_where_the_output_folder_should_be(
    tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out` under a file (not a folder) is one error line, for reinterpret, demo and eval alike."""
    (tmp_path / "taken").write_text("a file")
    clash = str(tmp_path / "taken" / "out")
    assert _run(SEURAT, Path(clash), annotated_library) == 2
    assert "cannot write" in _one_error_line(capsys)
    argv = ["eval", "--paintings", str(PAINTINGS), "--annotations", str(PAINTING_ANNOTATIONS)]
    argv += ["--library", str(annotated_library), "--out", clash, "--limit", "1"]
    argv += ["--stylizer", "magenta-onnx", "--size", "128", "--strategy", "ours"]
    result = _cli_in_child(*argv, timeout=300)
    _assert_one_error(result, "Not a directory")


def test_a_full_disk_is_one_error_line(tmp_path: Path, annotated_library: Path) -> None:
    """Writing the result fails for want of space (RLIMIT_FSIZE stands in for a full disk): exit 2."""

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    argv = ["reinterpret", str(SEURAT), "--library", str(annotated_library), "--out", str(tmp_path / "out")]
    argv += ["--stylizer", "none", "--size", "256", "--annotations", str(PAINTING_ANNOTATIONS)]
    result = _cli_in_child(*argv, timeout=300, preexec_fn=small_files)
    _assert_one_error(result, "File too large")
    assert not list((tmp_path / "out").glob("*.png")) and not list((tmp_path / "out").glob(".*.part"))


BAD_OPTIONS = {
    "bench --runs 0": (["bench", "--runs", "0"], "must be 1 or more"),
    "bench --runs -3": (["bench", "--runs", "-3"], "must be 1 or more"),
    "eval --seed -1": (["eval", "--seed", "-1"], "must be 0 or more"),
    "eval --variations 0": (["eval", "--variations", "0"], "must be 1 or more"),
    "eval --size 0": (["eval", "--size", "0"], "between 64 and 8192"),
    "eval --limit 0": (["eval", "--limit", "0"], "must be 1 or more"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_numbers_are_refused_by_the_parser(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Counts and seeds out of range exit 2 with argparse's one error line, before any work."""
    argv, words = BAD_OPTIONS[case]
    if argv[0] == "eval":
        argv = [*argv, "--paintings", "p", "--annotations", "a.json", "--library", "l", "--out", "o"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and words in err.strip().splitlines()[-1], err


def _coco(segmentation: object, *, height: int = 1331, width: int = 2000) -> dict[str, object]:
    return {
        "images": [{"id": 1, "file_name": "seurat_grande_jatte.jpg", "width": width, "height": height}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": segmentation}],
        "categories": [{"id": 1, "name": "person"}],
    }


ZIGZAG = [float(v) for i in range(3000) for v in ((i * 7919) % 2000, (i * 104729) % 1331)]

BAD_ANNOTATIONS = {
    "odd-length polygon": (_coco([[10, 10, 50, 10, 50]]), "odd number of coordinates (5)"),
    "string polygon": (_coco([["10", "10", "50", "10", "50", "50"]]), "polygon 0 is not a list of numbers"),
    "polygon of strings": (_coco(["10 10 50 10 50 50"]), "polygon 0 is not a list of numbers"),
    "integer segmentation": (_coco(5), "not int"),
    "bad RLE characters": (_coco({"size": [1331, 2000], "counts": "~~ \n"}), "outside COCO's alphabet"),
    "RLE cut short": (_coco({"size": [1331, 2000], "counts": "0P"}), "cut short"),
    "negative RLE counts": (_coco({"size": [1331, 2000], "counts": [-5, 2662005]}), "negative run length"),
    "RLE of another size": (_coco({"size": [10, 10], "counts": [100]}), "differs from the image's"),
    "RLE not summing": (_coco({"size": [1331, 2000], "counts": [5, 5]}), "sum to 10"),
    "height 0": (_coco([[0, 0, 5, 0, 5, 5]], height=0), "must be positive"),
    "too many points": (_coco([[1.0] * 200_002]), "100001 points; at most 100000"),
    "self-crossing zig-zag": (_coco([ZIGZAG]), "cross themselves too often"),
    "missing key": ({"images": [], "annotation": []}, "missing key 'annotations'"),
    "unknown image": (
        {"images": [], "annotations": [{"id": 1, "image_id": 9, "category_id": 1, "segmentation": []}]},
        "of image 9, which is not listed",
    ),
    "nested too deep": ("[" * 100_000 + "]" * 100_000, "is not JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANNOTATIONS))
def test_bad_annotations_are_one_error_line_naming_the_problem(
    case: str, tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed segmentations are found when the file is read, said in words, never a traceback."""
    content, words = BAD_ANNOTATIONS[case]
    path = tmp_path / "coco.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert _run(SEURAT, tmp_path / "out", annotated_library, "--annotations", str(path)) == 2
    line = _one_error_line(capsys)
    assert words in line, line


@pytest.mark.parametrize("option", ["--classes", "--maskrcnn-weights"])
def test_fifo_as_a_side_file_is_refused_by_the_parser(option: str, tmp_path: Path) -> None:
    """The other files the CLI reads (class sidecar, weights) are refused when not regular files."""
    fifo = tmp_path / "side.json"
    os.mkfifo(fifo)
    if option == "--classes":
        argv = ["library", "add", str(tmp_path), "--library", str(tmp_path / "lib"), option, str(fifo)]
    else:
        argv = ["reinterpret", str(SEURAT), "--out", str(tmp_path / "o"), option, str(fifo)]
    result = _cli_in_child(*argv, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "is not a regular file" in errors[0], result.stderr
