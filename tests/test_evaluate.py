"""`lamuse eval` end to end on three shared paintings, and the La Muse baseline's contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.baseline import LaMuseBaseline
from lamuse.cli import main
from lamuse.evaluate import AGGREGATE_KEYS
from lamuse.library import CutoutLibrary
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.segment.chain import ChainSegmenter
from lamuse.shapes import iou

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS, SHARED_DATA

SEURAT = PAINTINGS / "seurat_grande_jatte.jpg"


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory: pytest.TempPathFactory, annotated_library: Path) -> Path:
    out = tmp_path_factory.mktemp("eval")
    argv = ["eval", "--paintings", str(PAINTINGS), "--annotations", str(PAINTING_ANNOTATIONS)]
    argv += ["--library", str(annotated_library), "--out", str(out), "--limit", "3", "--size", "384"]
    argv += ["--backgrounds", str(SHARED_DATA / "backgrounds"), "--seed", "3"]
    assert main(argv) == 0
    return out


def test_eval_json_structure(eval_run: Path) -> None:
    """Command, versions, per-painting records and the aggregate with exactly the agreed keys."""
    report = json.loads((eval_run / "eval.json").read_text())
    assert report["command"].startswith("lamuse eval --paintings")
    assert report["versions"]["lamuse"] and report["versions"]["stylizer"]
    assert set(report["aggregate"]) == {"strategies"}
    assert set(report["aggregate"]["strategies"]) == {"ours", "lamuse"}
    for values in report["aggregate"]["strategies"].values():
        assert tuple(values) == AGGREGATE_KEYS
        assert all(isinstance(v, float) for v in values.values())
        assert 0.0 <= values["coverage"] <= 1.0 and values["seconds_per_variation"] > 0
    assert len(report["paintings"]) == 3
    for record in report["paintings"]:
        assert record["annotated_instances"] > 0
        for strategy in ("ours", "lamuse"):
            run = record["strategies"][strategy]["variations"][0]
            assert run["swaps"] > 0 and len(run["cutouts"]) == run["swaps"]
    sheet = Image.open(eval_run / "contact_sheet.png")
    assert sheet.width > sheet.height / 3  # five columns, three rows


def test_ours_beats_lamuse_on_composition(eval_run: Path) -> None:
    """Silhouette fitting must beat box stretching on IoU and on kept proportions."""
    strategies = json.loads((eval_run / "eval.json").read_text())["aggregate"]["strategies"]
    ours, lamuse = strategies["ours"], strategies["lamuse"]
    assert ours["mask_iou_mean"] > lamuse["mask_iou_mean"] + 0.1
    assert ours["aspect_distortion_mean"] < lamuse["aspect_distortion_mean"] / 1.5


def test_baseline_is_deterministic_and_stretches_to_the_box(annotated_library: Path) -> None:
    """Same (seed, variation) → same pixels; each paste fills its element's box; trace keys as ours."""
    library = CutoutLibrary(annotated_library)
    segmenter = AnnotationSegmenter([PAINTING_ANNOTATIONS])
    painting = Image.open(SEURAT).convert("RGB")
    baseline = LaMuseBaseline(
        library=library, segmenter=ChainSegmenter([segmenter]), backgrounds=SHARED_DATA / "backgrounds"
    )
    first = baseline.reinterpret(painting, name=SEURAT.name, seed=5, variation=1, size=256)
    again = baseline.reinterpret(painting, name=SEURAT.name, seed=5, variation=1, size=256)
    other = baseline.reinterpret(painting, name=SEURAT.name, seed=5, variation=2, size=256)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert first.trace["swaps"] != other.trace["swaps"]
    trace = first.trace
    assert trace["strategy"] == "lamuse" and trace["background"]["mode"] == "swap"
    for key in ("painting", "segmenter", "seed", "swaps", "background", "timings", "explanation"):
        assert key in trace
    assert trace["segmenter"] == "annotations"
    for placed, swap in zip(first.placed, trace["swaps"], strict=True):
        for key in ("class", "box", "cutout_id", "source", "credit", "shape_distance", "mask_iou"):
            assert key in swap
        x0, y0, x1, y1 = placed.instance.box
        assert placed.placed_size == (x1 - x0, y1 - y0)
        assert not placed.mask[:y0].any() and not placed.mask[y1:].any()
        assert swap["mask_iou"] == round(iou(placed.mask, placed.instance.mask), 4)


def test_truncated_misuse_counts_busts_for_whole_figures_only(annotated_library: Path) -> None:
    from lamuse.evaluate import truncated_misuses
    from lamuse.types import Instance, Placed

    cutouts = {c.id: c for c in CutoutLibrary(annotated_library).cutouts}
    persons = [c for c in cutouts.values() if c.class_name == "person"]
    bust = next(c for c in persons if not c.whole)
    whole = next(c for c in persons if c.whole)
    standing = np.zeros((100, 100), bool)
    standing[10:90, 40:60] = True
    cut_by_frame = np.zeros_like(standing)
    cut_by_frame[50:100, 10:30] = True

    def swap(mask: np.ndarray, cutout_id: str, class_name: str = "person") -> Placed:
        element = Instance(class_id=1, class_name=class_name, score=1.0, mask=mask, box=(0, 0, 100, 100))
        return Placed(element, cutout_id, True, mask, (10, 10), (10, 10))

    placed = [swap(standing, bust.id), swap(cut_by_frame, bust.id), swap(standing, whole.id)]
    assert truncated_misuses(placed, cutouts) == [True, False, False]
    no_whole_dogs = {k: c for k, c in cutouts.items() if not (c.class_name == "dog" and c.whole)}
    assert truncated_misuses([swap(standing, bust.id, "dog")], no_whole_dogs) == [False]
