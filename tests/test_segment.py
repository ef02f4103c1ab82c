"""Salient-object fallback (real U²-Net-p weights), the segmenter chain, and the factory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamuse.segment import (
    AnnotationSegmenter,
    ChainSegmenter,
    OnDemandDetector,
    SalientSegmenter,
    default_chain,
)
from lamuse.segment.salient import SPLIT, split_shape
from lamuse.types import Instance
from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS, PHOTO_ANNOTATIONS, PHOTOS


@pytest.fixture(scope="module")
def salient() -> SalientSegmenter:
    return SalientSegmenter(threads=2)


def test_saliency_map_contract(salient: SalientSegmenter) -> None:
    image = Image.open(PHOTOS / "cat_chelsea_skimage.png")
    saliency = salient.saliency(image)
    assert saliency.shape == (image.height, image.width) and saliency.dtype == np.float32
    assert saliency.min() >= 0.0 and saliency.max() <= 1.0 and saliency.max() > 0.9


def test_single_subject_photo_gives_the_subject(salient: SalientSegmenter) -> None:
    image = Image.open(PHOTOS / "cat_chelsea_skimage.png")
    found = salient.segment(image)
    assert found and all(i.class_id == 0 and i.class_name == "object" for i in found)
    cat = found[0]
    assert cat.mask.shape == (image.height, image.width)
    assert 0.4 < cat.area / (image.width * image.height) < 0.9  # a close-up: the cat fills the frame
    assert cat.mask[image.height // 2, image.width // 2]  # the cat's face is in the middle
    assert not cat.mask[:30, -30:].any()  # the wall at the top right is not


@pytest.mark.parametrize(
    ("photo", "min_iou"), [("red_bus_coco568290.jpg", 0.8), ("dog_at_hydrant_coco377575.jpg", 0.65)]
)
def test_main_mask_matches_the_coco_annotation(salient: SalientSegmenter, photo: str, min_iou: float) -> None:
    image = Image.open(PHOTOS / photo)
    truth = max(AnnotationSegmenter(PHOTO_ANNOTATIONS).segment(image, name=photo), key=lambda i: i.area)
    main = salient.segment(image)[0].mask
    iou = (main & truth.mask).sum() / (main | truth.mask).sum()
    assert iou > min_iou


def test_component_filtering(salient: SalientSegmenter) -> None:
    saliency = np.zeros((100, 200), dtype=np.float32)
    saliency[10:60, 10:60] = 1.0  # main subject with a hole
    saliency[30:40, 30:40] = 0.0
    saliency[70:90, 120:150] = 0.9  # a secondary subject (24% of the main one)
    saliency[5:7, 190:192] = 1.0  # a speck
    masks = salient.masks(saliency)
    assert len(masks) == 2
    assert masks[0][35, 35]  # hole filled
    assert masks[0].sum() == 2500 and masks[1].sum() == 600


class _Fixed:
    def __init__(self, name: str, instances: list[Instance]) -> None:
        self.name = name
        self.instances = instances
        self.model_files: dict[str, Path] = {}
        self.calls = 0
        self.names: list[str | None] = []
        self.model_files: dict[str, Path] = {}

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        self.calls += 1
        self.names.append(name)
        return self.instances


def test_chain_returns_the_first_non_empty_answer() -> None:
    mask = np.ones((4, 4), dtype=bool)
    hit = Instance(class_id=1, class_name="person", score=0.9, mask=mask, box=(0, 0, 4, 4))
    empty, full, never = _Fixed("a", []), _Fixed("b", [hit]), _Fixed("c", [hit])
    result = ChainSegmenter([empty, full, never]).run(Image.new("RGB", (4, 4)), name="x.jpg")
    assert result.segmenter == "b" and result.instances == [hit] and never.calls == 0
    assert empty.names == full.names == ["x.jpg"]  # every segmenter may use the file name
    nothing = ChainSegmenter([_Fixed("a", []), _Fixed("z", [])]).run(Image.new("RGB", (4, 4)))
    assert nothing.segmenter == "z" and nothing.instances == []
    with pytest.raises(ValueError):
        ChainSegmenter([])


def test_chain_falls_through_to_salient(salient: SalientSegmenter) -> None:
    chain = ChainSegmenter([AnnotationSegmenter(PAINTING_ANNOTATIONS), salient])
    kiss = Image.open(PAINTINGS / "klimt_the_kiss.jpg")
    kiss.thumbnail((512, 512))
    result = chain.run(kiss, name="klimt_the_kiss.jpg")
    assert result.segmenter == "salient" and result.instances
    assert [i.class_name for i in chain.segment(kiss)] == ["object"] * len(result.instances)
    annotated = chain.run(Image.open(PAINTINGS / "cassatt_childs_bath.jpg"), name="cassatt_childs_bath.jpg")
    assert annotated.segmenter == "annotations" and len(annotated.instances) == 2


def test_default_chain_fetches_a_detector_unless_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cached Mask R-CNN weights: the chain holds a detector fetched on first need, or none offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("LAMUSE_OFFLINE", raising=False)
    chain = default_chain([PAINTING_ANNOTATIONS])
    assert [s.name for s in chain.segmenters] == ["annotations", "maskrcnn", "salient"]
    assert isinstance(chain.segmenters[1], OnDemandDetector)
    assert [s.name for s in default_chain(None, offline=True).segmenters] == ["salient"]
    monkeypatch.setenv("LAMUSE_OFFLINE", "1")
    assert [s.name for s in default_chain([PAINTING_ANNOTATIONS]).segmenters] == ["annotations", "salient"]


def test_importing_the_stage_does_not_import_torch() -> None:
    code = "import sys, lamuse.segment; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_touching_bodies_become_separate_shapes(salient: SalientSegmenter) -> None:
    """Two bodies joined by a neck (horses side by side) are two shapes; one body stays whole."""
    yy, xx = np.mgrid[0:200, 0:400]
    pair = (np.hypot(yy - 100, xx - 100) < 60) | (np.hypot(yy - 100, xx - 290) < 70)
    pair |= (np.abs(yy - 100) < 12) & (xx > 100) & (xx < 290)
    parts = split_shape(pair, *SPLIT)
    assert len(parts) == 2
    assert {bool(part[100, 100]) for part in parts} == {True, False}
    assert sum(int(p.sum()) for p in parts) > 0.97 * pair.sum()
    disc = np.hypot(yy - 100, xx - 200) < 80
    assert len(split_shape(disc, *SPLIT)) == 1
    assert len(salient.instances(pair.astype(np.float32))) == 1  # a photo's subject stays whole
    shapes = SalientSegmenter(split_shapes=True).instances(pair.astype(np.float32))
    assert len(shapes) == 2 and all(s.class_name == "object" and s.class_id == 0 for s in shapes)
