"""`lamuse batch` on the in-process worker: the same files `reinterpret` writes, a summary, clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lamuse.cli import main

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS

NAMES = ("seurat_grande_jatte.jpg", "monet_woman_with_parasol.jpg")
FAST = ["--size", "256", "--seed", "5", "--no-progress"]


def _folder(tmp_path: Path, names: tuple[str, ...] = NAMES) -> Path:
    folder = tmp_path / "paintings"
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(PAINTINGS / name)
    return folder


def _common(library: Path) -> list[str]:
    return ["--library", str(library), "--annotations", str(PAINTING_ANNOTATIONS), *FAST]


def test_batch_writes_what_reinterpret_writes(tmp_path: Path, annotated_library: Path) -> None:
    """Per painting and variation the same PNG bytes and swaps as `reinterpret`; summary and provenance."""
    folder = _folder(tmp_path)
    common = _common(annotated_library)
    assert main(["batch", str(folder), "--out", str(tmp_path / "batch"), "--variations", "2", *common]) == 0
    for name in NAMES:
        single = ["reinterpret", str(PAINTINGS / name), "--out", str(tmp_path / "one"), "--variations", "2"]
        assert main([*single, *[a for a in common if a != "--no-progress"]]) == 0
    summary = json.loads((tmp_path / "batch" / "summary.json").read_text())
    assert [e["painting"] for e in summary["paintings"]] == sorted(NAMES) and summary["failures"] == []
    assert summary["variations"] == 2 and summary["seed"] == 5 and summary["backend"] == "local"
    for entry in summary["paintings"]:
        stem = Path(entry["painting"]).stem
        assert entry["outputs"] == [f"{stem}-0.png", f"{stem}-1.png"]
        for k, output in enumerate(entry["outputs"]):
            batch_png, one_png = tmp_path / "batch" / output, tmp_path / "one" / output
            assert batch_png.read_bytes() == one_png.read_bytes()
            trace = json.loads(batch_png.with_suffix(".json").read_text())
            alone = json.loads(one_png.with_suffix(".json").read_text())
            assert trace["swaps"] == alone["swaps"] and trace["swaps"], output
            assert [s["cutout_id"] for s in trace["swaps"]] == entry["cutouts"][k]
            assert trace["worker"] == {**alone["worker"]} == entry["worker"]
            assert trace["worker"]["backend"] == "local" and trace["worker"]["pid"] == os.getpid()
            assert trace["worker"]["device"] == "cpu" and trace["worker"]["node"]


def test_a_bad_painting_is_reported_and_the_rest_is_done(
    tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-image in the folder fails alone: the others are written, summary lists it, exit 2, one line."""
    folder = _folder(tmp_path, NAMES[:1])
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    out = tmp_path / "out"
    assert (
        main(["batch", str(folder), "--out", str(out), "--stylizer", "none", *_common(annotated_library)])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 1 of 2 paintings failed (broken.jpg: "), err
    summary = json.loads((out / "summary.json").read_text())
    assert [f["painting"] for f in summary["failures"]] == ["broken.jpg"]
    assert "not an image" in summary["failures"][0]["error"] and summary["failures"][0]["tries"] == 1
    assert (out / "seurat_grande_jatte-0.png").is_file() and not (out / "broken-0.png").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["batch", "{missing}"], "is not a folder"),
        (["batch", "{empty}"], "no images in"),
        (["batch", "{folder}", "--workers", "threads"], "--workers 'threads'"),
        (["batch", "{folder}", "--ray-actors", "0"], "--ray-actors must be at least 1"),
        (["batch", "{folder}", "--variations", "0"], "--variations must be at least 1"),
    ],
)
def test_bad_arguments_get_one_error_line(
    argv: list[str], words: str, tmp_path: Path, annotated_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    places = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty", "folder": _folder(tmp_path)}
    filled = [a.format(**places) for a in argv]
    assert (
        main([*filled, "--out", str(tmp_path / "out"), "--stylizer", "none", *_common(annotated_library)])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
