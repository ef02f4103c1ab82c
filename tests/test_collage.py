"""What a painter sees, end to end through `lamuse reinterpret`: old elements cleared with what belongs
to them, no silent background fallback, and plain words when no object detector was available."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.cli import main

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS, SHARED_DATA

CAILLEBOTTE = PAINTINGS / "caillebotte_paris_street_rainy_day.jpg"
KISS = PAINTINGS / "klimt_the_kiss.jpg"


def _reinterpret(out: Path, library: Path, painting: Path, *extra: str) -> int:
    argv = ["reinterpret", str(painting), "--library", str(library), "--out", str(out)]
    return main([*argv, "--size", "384", "--stylizer", "none", *extra])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_removal_grow_is_the_default_and_tight_the_old_one(annotated_library: Path, tmp_path: Path) -> None:
    """Both removals run and say which they were; grow changes more of the painting round its elements."""
    annotations = ("--annotations", str(PAINTING_ANNOTATIONS))
    assert _reinterpret(tmp_path / "grow", annotated_library, CAILLEBOTTE, *annotations) == 0
    assert (
        _reinterpret(tmp_path / "tight", annotated_library, CAILLEBOTTE, *annotations, "--removal", "tight")
        == 0
    )
    stem = CAILLEBOTTE.stem + "-0"
    traces = {r: json.loads((tmp_path / r / f"{stem}.json").read_text()) for r in ("grow", "tight")}
    for removal, trace in traces.items():
        assert trace["background"] == {
            "mode": "keep",
            "method": "telea-inpaint+borrowed-texture",
            "removal": removal,
        }
        assert trace["options"]["removal"] == removal
    assert traces["grow"]["swaps"] == traces["tight"]["swaps"]  # same choices, only the clearing differs
    painting = np.asarray(Image.open(tmp_path / "grow" / f"{stem}.png").convert("RGB").resize((100, 75)))
    tight = np.asarray(Image.open(tmp_path / "tight" / f"{stem}.png").convert("RGB").resize((100, 75)))
    assert not np.array_equal(painting, tight)


def test_swap_without_backgrounds_is_refused(
    annotated_library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    annotations = ("--annotations", str(PAINTING_ANNOTATIONS))
    assert _reinterpret(tmp_path, annotated_library, CAILLEBOTTE, *annotations, "--background", "swap") == 2
    assert _error_line(capsys).startswith("error: background swap needs background images")
    only_strip = tmp_path / "strip"
    only_strip.mkdir()
    (only_strip / "trap.jpg").write_bytes(
        (SHARED_DATA / "backgrounds" / "forest_floor_camera_trap.jpg").read_bytes()
    )
    swap = ("--background", "swap", "--backgrounds", str(only_strip))
    assert _reinterpret(tmp_path, annotated_library, CAILLEBOTTE, *annotations, *swap) == 2
    assert "none usable is in" in _error_line(capsys)
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("language", ["en", "fr"])
def test_offline_unknown_painting_is_cut_into_shapes_and_says_why(
    annotated_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    extra = ("--annotations", str(PAINTING_ANNOTATIONS), "--offline", "--language", language)
    assert _reinterpret(tmp_path, annotated_library, KISS, *extra) == 0
    trace = json.loads((tmp_path / f"{KISS.stem}-0.json").read_text())
    assert trace["segmenter"] == "salient" and trace["detector_available"] is False
    assert trace["swaps"] and all(s["class_id"] == 0 for s in trace["swaps"])
    explanation = trace["explanation"]
    expected = "Aucun détecteur d'objets" if language == "fr" else "No object detector was available"
    assert explanation.startswith(expected)
    assert "object " not in explanation.replace("object detector", "") and "objet »" not in explanation
    assert ("La forme" if language == "fr" else "The shape") in explanation
