"""The case-study sheet: portrait, readable type, every part drawn from the result it describes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from lamuse.cli import main
from lamuse.library import CutoutLibrary
from lamuse.pipeline import Pipeline
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.segment.chain import ChainSegmenter
from lamuse.sheet import NEW_COLOUR, OLD_COLOUR, WIDTH, case_study_sheet, load_font
from lamuse.types import ReinterpretOptions

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS

SEURAT = PAINTINGS / "seurat_grande_jatte.jpg"


def _has_colour(image: Image.Image, rgb: Sequence[int], tolerance: int = 12) -> bool:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return bool((np.abs(pixels - np.array(rgb)).max(axis=2) <= tolerance).any())


def test_a_unicode_font_is_found() -> None:
    """DejaVu Sans on this machine: a TrueType font that has the arrow the swap table uses."""
    font = load_font(34)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert "DejaVu" in (font.getname()[0] or "")
    assert font.getmask("→").getbbox() is not None


def test_cli_sheet_is_a_portrait_with_overlay_palette_and_scores(
    annotated_library: Path, tmp_path: Path
) -> None:
    argv = ["reinterpret", str(SEURAT), "--library", str(annotated_library), "--out", str(tmp_path)]
    argv += ["--annotations", str(PAINTING_ANNOTATIONS), "--size", "320", "--stylizer", "none"]
    assert main([*argv, "--sheet", "--candidates", "2", "--theme", "coherent"]) == 0
    sheet = Image.open(tmp_path / "seurat_grande_jatte-0-sheet.png")
    trace = json.loads((tmp_path / "seurat_grande_jatte-0.json").read_text())
    assert sheet.width == WIDTH and sheet.height > 2 * sheet.width
    assert _has_colour(sheet, OLD_COLOUR) and _has_colour(sheet, NEW_COLOUR)
    for colour in trace["palette"]:
        assert _has_colour(sheet, tuple(int(colour["hex"][i : i + 2], 16) for i in (1, 3, 5)), tolerance=2)
    assert len(trace["pertinence"]["candidates"]) == 2
    assert all(s["new_class"] == s["cutout_class"] and "era" in s for s in trace["swaps"])


def test_sheet_without_swaps_or_scores_still_renders(tmp_path: Path, annotated_library: Path) -> None:
    """A painting where nothing was found: the sheet says so instead of failing."""
    segmenter = AnnotationSegmenter([PAINTING_ANNOTATIONS], image_dirs=[PAINTINGS])
    pipeline = Pipeline(segmenter=ChainSegmenter([segmenter]), library=CutoutLibrary(annotated_library))
    plain = Image.new("RGB", (300, 200), (90, 120, 160))
    result = pipeline.reinterpret(plain, name="plain.png", options=ReinterpretOptions(size=300))
    assert result.trace["swaps"] == []
    sheet = case_study_sheet(plain, result)
    assert sheet.width == WIDTH and sheet.height > sheet.width


@pytest.mark.parametrize("flag", [["--candidates", "0"], ["--year", "abc"], ["--theme", "baroque"]])
def test_bad_pertinence_flags_exit_2(
    flag: list[str], annotated_library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reinterpret", str(SEURAT), "--library", str(annotated_library), "--out", str(tmp_path), *flag]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("lamuse reinterpret: error:")
