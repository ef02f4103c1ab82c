"""COCO decoding and the annotation segmenter, against the shared hand-checked files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lamuse.coco import (
    COCO_CATEGORIES,
    COCO_IDS,
    COCO_NAMES,
    mask_to_rle,
    polygons_to_mask,
    rle_to_mask,
    segmentation_to_mask,
)
from lamuse.segment.annotations import AnnotationSegmenter, CocoAnnotations, perceptual_hash
from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS, PHOTO_ANNOTATIONS, PHOTOS


def _load(path: Path) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    data = json.loads(path.read_text())
    return {im["id"]: im for im in data["images"]}, data["annotations"]


def test_category_table_has_the_official_ids() -> None:
    assert len(COCO_CATEGORIES) == 91 and len(COCO_NAMES) == 80
    assert (COCO_IDS["person"], COCO_IDS["boat"], COCO_IDS["dog"], COCO_IDS["horse"]) == (1, 9, 18, 19)
    assert COCO_NAMES[90] == "toothbrush" and 12 not in COCO_NAMES
    data = json.loads(PAINTING_ANNOTATIONS.read_text())
    assert {c["id"]: c["name"] for c in data["categories"]} == dict(COCO_NAMES)


def test_torchvision_table_matches() -> None:
    torchvision = pytest.importorskip("torchvision")
    meta = torchvision.models.detection.MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.meta
    assert tuple(meta["categories"]) == COCO_CATEGORIES


def test_painting_polygons_match_their_area() -> None:
    images, annotations = _load(PAINTING_ANNOTATIONS)
    for ann in annotations:
        im = images[ann["image_id"]]
        mask = segmentation_to_mask(ann["segmentation"], im["height"], im["width"])
        assert mask.shape == (im["height"], im["width"])
        assert abs(int(mask.sum()) - ann["area"]) <= 0.01 * ann["area"], ann["id"]


def test_photo_polygons_and_crowd_rle_decode() -> None:
    images, annotations = _load(PHOTO_ANNOTATIONS)
    crowd = 0
    for ann in annotations:
        im = images[ann["image_id"]]
        mask = segmentation_to_mask(ann["segmentation"], im["height"], im["width"])
        if ann["iscrowd"]:
            crowd += 1
            # COCO's own crowd areas drift from their RLE by up to ~8%; the bbox must still hold the mask.
            assert abs(int(mask.sum()) - ann["area"]) <= 0.1 * ann["area"]
            x, y, w, h = ann["bbox"]
            ys, xs = np.nonzero(mask)
            assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h
        elif ann["area"] > 5000:  # small polygons: edge pixels dominate the rasterised area
            assert abs(int(mask.sum()) - ann["area"]) <= 0.07 * ann["area"], ann["id"]
    assert crowd == 4


def test_rle_round_trip_compressed_and_list() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((37, 23)) > 0.6
    mask[0, 0] = True  # a leading foreground run needs the empty first count
    rle = mask_to_rle(mask)
    assert isinstance(rle["counts"], str)
    assert np.array_equal(rle_to_mask(rle), mask)
    assert np.array_equal(rle_to_mask({**rle, "counts": rle["counts"].encode()}), mask)
    column_major = mask.T.reshape(-1)
    runs, value, count = [], False, 0
    for pixel in column_major:
        if pixel != value:
            runs.append(count)
            value, count = bool(pixel), 0
        count += 1
    runs.append(count)
    assert np.array_equal(rle_to_mask({"size": [37, 23], "counts": runs}), mask)
    with pytest.raises(ValueError):
        rle_to_mask({"size": [37, 23], "counts": runs[:-1]})


def test_polygon_on_the_border_is_clipped() -> None:
    mask = polygons_to_mask([[0, 0, 10, 0, 10, 5, 0, 5]], 5, 10)
    assert mask.all()
    beyond = polygons_to_mask([[5, 0, 12, 0, 12, 7, 5, 7]], 5, 10)
    assert beyond.shape == (5, 10) and beyond[:, 5:].all() and not beyond[:, :5].any()


@pytest.fixture(scope="module")
def segmenter() -> AnnotationSegmenter:
    return AnnotationSegmenter([PAINTING_ANNOTATIONS, PHOTO_ANNOTATIONS])


def test_default_image_dirs_are_beside_the_annotations(segmenter: AnnotationSegmenter) -> None:
    assert PAINTINGS.resolve() in segmenter.image_dirs and PHOTOS.resolve() in segmenter.image_dirs


def test_match_by_file_name(segmenter: AnnotationSegmenter) -> None:
    coco = CocoAnnotations(PAINTING_ANNOTATIONS)
    entry = coco.by_name["cassatt_childs_bath.jpg"]
    image = Image.open(PAINTINGS / entry.file_name)
    found = segmenter.segment(image, name="/uploads/cassatt_childs_bath.jpg")
    assert [i.class_name for i in found] == ["person", "person"]
    for instance, ann in zip(found, coco.annotations[entry.id], strict=True):
        assert instance.score == 1.0 and instance.class_id == ann.category_id
        assert instance.mask.shape == (image.height, image.width) and instance.mask.dtype == bool
        assert abs(instance.area - ann.area) <= 0.01 * ann.area
        x0, y0, x1, y1 = instance.box
        assert instance.mask[y0:y1, x0:x1].sum() == instance.area
    # A name matching an entry of another shape is not trusted.
    assert segmenter.segment(Image.new("RGB", (100, 400)), name="cassatt_childs_bath.jpg") == []


def test_match_a_resized_reencoded_copy_by_content(segmenter: AnnotationSegmenter, tmp_path: Path) -> None:
    original = Image.open(PAINTINGS / "botticelli_birth_of_venus.jpg").convert("RGB")
    copy_path = tmp_path / "upload.jpg"
    original.resize((640, round(640 * original.height / original.width))).save(copy_path, quality=70)
    copy = Image.open(copy_path)
    assert segmenter.annotated(copy)
    found = segmenter.segment(copy, name="upload.jpg")
    expected = segmenter.segment(original)
    assert len(found) == len(expected) > 0
    for small, full in zip(found, expected, strict=True):
        assert small.mask.shape == (copy.height, copy.width)
        assert small.class_id == full.class_id
        ratio = small.area / full.area * (original.width * original.height) / (copy.width * copy.height)
        assert 0.95 < ratio < 1.05


def test_unknown_image_gives_nothing(segmenter: AnnotationSegmenter) -> None:
    unknown = Image.open(PAINTINGS / "klimt_the_kiss.jpg")  # not annotated
    assert segmenter.annotated(unknown, name="klimt_the_kiss.jpg") == []
    assert segmenter.segment(unknown, name="klimt_the_kiss.jpg") == []
    assert segmenter.segment(Image.new("RGB", (300, 200), "white")) == []


def test_crowd_regions_are_exposed_but_not_segmented(segmenter: AnnotationSegmenter) -> None:
    image = Image.open(PHOTOS / "tennis_player_clay_coco174375.jpg")
    everything = segmenter.annotated(image)
    kept = segmenter.segment(image)
    assert len(everything) - len(kept) == 2  # two crowd regions in this photo
    photos = segmenter.files[1]
    entry = photos.by_name["tennis_player_clay_coco174375.jpg"]
    assert sum(ann.iscrowd for ann in photos.annotations[entry.id]) == 2


def test_hash_separates_pictures() -> None:
    a = perceptual_hash(Image.open(PAINTINGS / "klimt_the_kiss.jpg"))
    b = perceptual_hash(Image.open(PAINTINGS / "vermeer_girl_pearl_earring.jpg"))
    assert a.shape == (256,) and a.dtype == bool
    assert int(np.count_nonzero(a != b)) > 60
