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
    parse_segmentation,
    polygons_to_mask,
    rle_to_mask,
    segmentation_to_mask,
)
from lamuse.segment.annotations import AnnotationSegmenter, CocoAnnotations, perceptual_hash
from tests.conftest import PAINTING_ANNOTATIONS, PAINTINGS, PHOTO_ANNOTATIONS, PHOTOS
from tests.hostile import hostile_bytes


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


def mask_to_rle(mask: np.ndarray) -> dict[str, object]:
    """Encode a bool (H, W) mask as compressed COCO RLE (the form COCO result files use)."""
    height, width = mask.shape
    flat = np.asarray(mask, dtype=bool).T.reshape(-1)
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs: list[int] = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs.insert(0, 0)
    return {"size": [height, width], "counts": _counts_to_string(runs)}


def _counts_to_string(counts: list[int]) -> str:
    """COCO's compressed string form of RLE counts, the inverse of ``lamuse.coco``'s decoder."""
    chars: list[str] = []
    for i, count in enumerate(counts):
        value = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            chunk = value & 0x1F
            value >>= 5
            more = value != -1 if chunk & 0x10 else value != 0
            if more:
                chunk |= 0x20
            chars.append(chr(chunk + 48))
    return "".join(chars)


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


def test_a_four_million_point_polygon_is_refused_at_once() -> None:
    """The issue's 4M-point polygon (over 120 s in fillPoly) is refused by its point count, unrasterised."""
    import time

    huge = [[float(i % 997) for i in range(8_000_000)]]
    started = time.process_time()
    with pytest.raises(ValueError, match="4000000 points; at most 100000"):
        parse_segmentation(huge, 1000, 1000)
    assert time.process_time() - started < 5.0  # a bound on work done, far from the old minutes


def test_fill_cost_bound_refuses_zigzags_and_keeps_real_outlines() -> None:
    """A 3,000-point self-crossing zig-zag is refused; a 3,000-point circle and every shared mask pass."""
    zigzag = [float(v) for i in range(3000) for v in ((i * 7919) % 1000, (i * 104729) % 1000)]
    with pytest.raises(ValueError, match="cross themselves"):
        parse_segmentation([zigzag], 1000, 1000)
    angles = np.linspace(0, 2 * np.pi, 3000, endpoint=False)
    circle = [float(v) for a in angles for v in (500 + 400 * np.cos(a), 500 + 400 * np.sin(a))]
    assert polygons_to_mask([circle], 1000, 1000).sum() == pytest.approx(np.pi * 400**2, rel=0.01)
    for path in (PAINTING_ANNOTATIONS, PHOTO_ANNOTATIONS):
        coco = CocoAnnotations(path)
        assert sum(len(v) for v in coco.annotations.values()) > 0


def test_an_unusable_annotated_image_is_skipped_when_hashing(tmp_path: Path) -> None:
    """An EPS (or any refused file) among the annotated images is left out of the content index."""
    folder = tmp_path / "paintings"
    folder.mkdir()
    data = json.loads(PAINTING_ANNOTATIONS.read_text())
    first = data["images"][0]["file_name"]
    (folder / first).write_bytes(hostile_bytes("eps_named_png"))
    second = data["images"][1]["file_name"]
    (folder / second).write_bytes((PAINTINGS / second).read_bytes())
    segmenter = AnnotationSegmenter([PAINTING_ANNOTATIONS], image_dirs=[folder])
    painting = Image.open(PAINTINGS / second)
    assert segmenter.annotated(painting) and not segmenter.annotated(Image.new("RGB", (300, 200), "white"))
