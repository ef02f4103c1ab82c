"""`Pipeline` on real paintings and cut-outs: which elements it swaps, the masks view, and the trace it
writes (every key the TypedDicts in `lamuse.types` declare, none they do not), for our strategy and the
La Muse baseline alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lamuse.baseline import LaMuseBaseline
from lamuse.library import CutoutLibrary
from lamuse.pipeline import Pipeline
from lamuse.segment import ChainSegmenter
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.types import (
    BackgroundRecord,
    ModelRecord,
    OptionsRecord,
    PaletteRecord,
    PlacementRecord,
    Reinterpretation,
    ReinterpretOptions,
    SwapRecord,
    Timings,
    Trace,
    WeightsRecord,
)
from lamuse.upscale.base import LanczosUpscaler

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS, SHARED_DATA

SEURAT = PAINTINGS / "seurat_grande_jatte.jpg"


@pytest.fixture(scope="module")
def pipeline(annotated_library: Path) -> Pipeline:
    """Curated masks, the shared library and backgrounds; no stylizer (these tests look at the swaps)."""
    return Pipeline(
        segmenter=ChainSegmenter([AnnotationSegmenter([PAINTING_ANNOTATIONS])]),
        library=CutoutLibrary(annotated_library),
        upscaler=LanczosUpscaler(),
        backgrounds=SHARED_DATA / "backgrounds",
    )


@pytest.fixture(scope="module")
def seurat_variations(pipeline: Pipeline) -> list[Reinterpretation]:
    painting = Image.open(SEURAT)
    options = ReinterpretOptions(seed=7, size=512)
    return [pipeline.reinterpret(painting, name=SEURAT.name, options=options, variation=k) for k in range(3)]


def test_every_annotated_instance_is_swapped_with_good_fit(
    seurat_variations: list[Reinterpretation], annotated_library: Path
) -> None:
    """Each annotated element whose class the library has is swapped; mean pasted-vs-original IoU ≥ 0.6."""
    painting = Image.open(SEURAT)
    annotated = AnnotationSegmenter([PAINTING_ANNOTATIONS]).segment(painting, name=SEURAT.name)
    classes = CutoutLibrary(annotated_library).class_counts()
    expected = sorted(i.class_name for i in annotated if i.class_name in classes)
    ious = []
    for result in seurat_variations:
        trace = result.trace
        swapped = sorted(s["class"] for s in trace["swaps"] if s["same_class"])
        assert swapped == expected
        assert len({s["cutout_id"] for s in trace["swaps"]}) == len(trace["swaps"])
        ious += [s["mask_iou"] for s in trace["swaps"]]
    assert np.mean(ious) >= 0.6, ious


def test_show_masks_outlines_each_element(annotated_library: Path) -> None:
    """The masks view is the painting with a coloured contour on each element's edge."""
    segmenter = AnnotationSegmenter([PAINTING_ANNOTATIONS])
    pipeline = Pipeline(segmenter=ChainSegmenter([segmenter]), library=CutoutLibrary(annotated_library))
    painting = Image.open(SEURAT).convert("RGB")
    outlined = np.asarray(pipeline.show_masks(painting, name=SEURAT.name, long_side=512)).astype(int)
    plain = np.asarray(painting.resize((512, 341), Image.Resampling.LANCZOS)).astype(int)
    changed = np.abs(outlined - plain).sum(axis=2) > 60
    for instance in segmenter.segment(painting.resize((512, 341)), name=SEURAT.name):
        x0, y0, x1, y1 = instance.box
        assert changed[y0:y1, x0:x1].mean() > 0.02  # its outline is drawn
    assert changed.mean() < 0.2  # the rest of the painting is left alone


def _assert_fits(value: Mapping[str, object], record: type[Any]) -> None:
    """``value`` has every required key of the TypedDict ``record`` and no key it does not declare."""
    required: frozenset[str] = record.__required_keys__
    optional: frozenset[str] = record.__optional_keys__
    assert required <= set(value) <= required | optional, (record.__name__, sorted(value))


def _assert_swaps_fit(swaps: list[SwapRecord]) -> None:
    assert swaps
    for swap in swaps:
        _assert_fits(swap, SwapRecord)
        _assert_fits(swap["placement"], PlacementRecord)


def test_pipeline_trace_has_exactly_the_declared_keys(pipeline: Pipeline) -> None:
    """A trace with every optional stage (background swap, upscale) fills each declared record, and its
    options record is the options, field for field."""
    options = ReinterpretOptions(seed=3, size=256, upscale=2, background="swap")
    trace = pipeline.reinterpret(Image.open(SEURAT), name=SEURAT.name, options=options).trace
    _assert_fits(trace, Trace)
    assert "strategy" not in trace
    _assert_swaps_fit(trace["swaps"])
    _assert_fits(trace["background"], BackgroundRecord)
    assert trace["background"]["mode"] == "swap" and "source" in trace["background"]
    _assert_fits(trace["timings"], Timings)
    _assert_fits(trace["weights_applied"], WeightsRecord)
    for model in trace["models"].values():
        _assert_fits(model, ModelRecord)
    assert len(trace["palette"]) == 5
    for colour in trace["palette"]:
        _assert_fits(colour, PaletteRecord)
    _assert_fits(trace["options"], OptionsRecord)
    assert trace["options"] == asdict(options)
    assert set(OptionsRecord.__required_keys__) == {f.name for f in fields(ReinterpretOptions)}


def test_baseline_trace_has_the_declared_keys_and_the_same_swap_record(annotated_library: Path) -> None:
    """The La Muse baseline writes the same swap record (one builder) and the trace keys it has."""
    baseline = LaMuseBaseline(
        library=CutoutLibrary(annotated_library),
        segmenter=ChainSegmenter([AnnotationSegmenter([PAINTING_ANNOTATIONS])]),
    )
    trace = baseline.reinterpret(Image.open(SEURAT), name=SEURAT.name, seed=3, size=256).trace
    _assert_fits(trace, Trace)
    assert trace["strategy"] == "lamuse"
    _assert_swaps_fit(trace["swaps"])
    assert all(
        s["placement"]["flip"] is False and s["placement"]["rotation_deg"] == 0.0 for s in trace["swaps"]
    )
    assert trace["background"] == {"mode": "keep", "method": trace["background"]["method"]}
    _assert_fits(trace["timings"], Timings)
