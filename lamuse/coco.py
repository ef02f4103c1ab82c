"""COCO category ids and mask decoding (polygons, RLE) without torchvision or pycocotools.

COCO ids have gaps (80 classes over ids 1..90); every segmenter reports the official id, so the names come
from one table here. The table is torchvision's ``MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.meta
["categories"]`` copied once (index = id), so ``import lamuse.coco`` does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from lamuse.io import DEFAULT_MAX_PIXELS

COCO_CATEGORIES: tuple[str, ...] = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A",
    "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "N/A",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""Index = COCO category id; "N/A" marks the ids COCO left unused, 0 is the detector's background."""

_UNUSED = frozenset({"__background__", "N/A"})
COCO_NAMES: Mapping[int, str] = {i: n for i, n in enumerate(COCO_CATEGORIES) if n not in _UNUSED}
"""The 80 real classes: official id → name."""
COCO_IDS: Mapping[str, int] = {n: i for i, n in COCO_NAMES.items()}
"""The 80 real classes: name → official id."""


MAX_POLYGON_POINTS = 100_000
"""Points per annotation, all parts together (COCO's own polygons have a few hundred)."""
MAX_FILL_COST = 200_000_000
"""Bound on the sum over rows of (edges crossing the row)², which is what OpenCV's scanline fill costs:
a 10,000-point zig-zag over 1,000 rows (cost 4e9) takes 7 s on the dev box, a 4M-point one minutes; any
real outline stays under 1e6. At the bound, about 0.2 s."""
MAX_MASK_PIXELS = DEFAULT_MAX_PIXELS
"""An annotated image may be no larger than an image the loader accepts (its masks are allocated)."""


@dataclass(frozen=True, eq=False)
class Polygons:
    """A validated COCO polygon segmentation: parts as (N, 2) float64 arrays, annotated pixel coordinates."""

    parts: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)
class Rle:
    """A validated COCO RLE segmentation: non-negative runs (column-major) that sum to height x width."""

    height: int
    width: int
    counts: np.ndarray


CocoSegmentation = Polygons | Rle


def parse_segmentation(raw: object, height: int, width: int) -> CocoSegmentation:
    """Check a raw COCO ``segmentation`` of an (H, W) image and type it; decoding it later cannot fail.

    Raises:
        ValueError: saying what is wrong (odd-length or non-numeric polygon, too many points, malformed,
            negative or mis-summed RLE, a size that differs from the image's, an unknown type).
    """
    check_image_size(height, width)
    if isinstance(raw, list):
        return _parse_polygons(raw, height, width)
    if isinstance(raw, Mapping):
        return _parse_rle(raw, height, width)
    raise ValueError(f"segmentation must be a list of polygons or an RLE dict, not {type(raw).__name__}")


def check_image_size(height: int, width: int) -> None:
    """Raise ValueError unless (H, W) is a positive size whose masks may be allocated."""
    if height <= 0 or width <= 0:
        raise ValueError(f"the image is {width}x{height}; width and height must be positive")
    if height * width > MAX_MASK_PIXELS:
        raise ValueError(f"the image is {width}x{height}; at most {MAX_MASK_PIXELS / 1e6:.0f} megapixels")


def _parse_polygons(raw: list[object], height: int, width: int) -> Polygons:
    total = sum(len(part) for part in raw if isinstance(part, list))
    if total // 2 > MAX_POLYGON_POINTS:
        raise ValueError(f"the polygons have {total // 2} points; at most {MAX_POLYGON_POINTS}")
    parts = []
    for index, part in enumerate(raw):
        if not isinstance(part, list) or not all(_is_number(v) for v in part):
            raise ValueError(f"polygon {index} is not a list of numbers")
        if len(part) % 2:
            raise ValueError(f"polygon {index} has an odd number of coordinates ({len(part)})")
        points = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise ValueError(f"polygon {index} has a coordinate that is not finite")
        parts.append(points)
    polygons = Polygons(tuple(parts))
    cost = _fill_cost(_contours(polygons, height, width, (1.0, 1.0)), height)
    if cost > MAX_FILL_COST:
        raise ValueError(f"the polygons cross themselves too often to rasterise (cost {cost:.1e})")
    return polygons


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_rle(raw: Mapping[Any, Any], height: int, width: int) -> Rle:
    size = raw.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise ValueError(f"RLE size must be [height, width], not {size!r:.40}")
    if (size[0], size[1]) != (height, width):
        raise ValueError(f"RLE size {size[0]}x{size[1]} differs from the image's {height}x{width}")
    encoded = raw.get("counts")
    if isinstance(encoded, bytes):
        encoded = encoded.decode("ascii", errors="replace")
    if isinstance(encoded, str):
        counts = np.asarray(_counts_from_string(encoded), dtype=np.int64)
    elif isinstance(encoded, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in encoded):
        counts = np.asarray(encoded, dtype=np.int64)
    else:
        raise ValueError("RLE counts must be a compressed string or a list of integers")
    if (counts < 0).any():
        raise ValueError("RLE counts hold a negative run length")
    if int(counts.sum()) != height * width:
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {height}x{width}={height * width}")
    return Rle(height, width, counts)


def _contours(polygons: Polygons, height: int, width: int, scale: tuple[float, float]) -> list[np.ndarray]:
    shift = 4  # sub-pixel precision for cv2: coordinates in 1/16 px
    contours = []
    for part in polygons.parts:
        if len(part) < 3:
            continue
        points = part * np.asarray(scale)
        points[:, 0] = np.clip(points[:, 0], 0.0, width)
        points[:, 1] = np.clip(points[:, 1], 0.0, height)
        # cv2 puts pixel centres on integers; COCO puts them on half-integers.
        contours.append(np.round((points - 0.5) * (1 << shift)).astype(np.int32))
    return contours


def _fill_cost(contours: Sequence[np.ndarray], height: int) -> float:
    """Sum over rows of the squared number of edges crossing each row (OpenCV's fill work)."""
    active = np.zeros(height + 2, dtype=np.int64)
    for contour in contours:
        rows = contour[:, 1] >> 4
        top = np.clip(np.minimum(rows, np.roll(rows, -1)), 0, height)
        bottom = np.clip(np.maximum(rows, np.roll(rows, -1)), 0, height)
        np.add.at(active, top, 1)
        np.add.at(active, bottom + 1, -1)
    crossing = np.cumsum(active, dtype=np.float64)
    return float(np.square(crossing).sum())


def polygons_to_mask(
    polygons: Sequence[Sequence[float]] | Polygons,
    height: int,
    width: int,
    *,
    scale: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Rasterise COCO polygons (flat ``[x0, y0, x1, y1, ...]`` lists, union) to a bool (H, W) mask.

    Coordinates are continuous (pixel ``i`` spans ``[i, i+1)``), so a point at ``x = width`` is the right
    border; points are clipped to the image. ``scale = (sx, sy)`` maps annotated coordinates to this size,
    which keeps edges sharp when masks are wanted at another size than the one annotated.
    """
    if not isinstance(polygons, Polygons):
        parsed = parse_segmentation(list(polygons), math.ceil(height / scale[1]), math.ceil(width / scale[0]))
        assert isinstance(parsed, Polygons)
        polygons = parsed
    mask = np.zeros((height, width), dtype=np.uint8)
    contours = _contours(polygons, height, width, scale)
    if _fill_cost(contours, height) > MAX_FILL_COST:
        raise ValueError("the polygons cross themselves too often to rasterise at this size")
    if contours:
        cv2.fillPoly(mask, contours, color=1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _counts_from_string(encoded: str) -> list[int]:
    """Decode COCO's compressed RLE string (5-bit LEB128-like chunks, deltas from the run two back)."""
    if any(not 48 <= ord(c) < 112 for c in encoded):
        raise ValueError("RLE counts string holds characters outside COCO's alphabet")
    counts: list[int] = []
    pos = 0
    while pos < len(encoded):
        value = 0
        shift = 0
        more = True
        while more:
            if pos >= len(encoded) or shift > 60:
                raise ValueError("RLE counts string is cut short or malformed")
            chunk = ord(encoded[pos]) - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            pos += 1
            shift += 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def rle_to_mask(rle: Mapping[str, Any] | Rle) -> np.ndarray:
    """Decode a COCO RLE (dict with ``size`` = [H, W] and ``counts``, or a parsed ``Rle``) to bool (H, W).

    Runs alternate background/foreground starting with background, in column-major order.
    """
    if not isinstance(rle, Rle):
        size = rle.get("size")
        height, width = (int(v) for v in size) if isinstance(size, list) and len(size) == 2 else (0, 0)
        parsed = parse_segmentation(rle, height, width)
        assert isinstance(parsed, Rle)
        rle = parsed
    values = np.arange(len(rle.counts)) % 2 == 1
    flat = np.repeat(values, rle.counts)
    return flat.reshape(rle.width, rle.height).T.copy()


def segmentation_to_mask(
    segmentation: object, height: int, width: int, *, out_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode any COCO ``segmentation`` (raw polygon list or RLE dict, or parsed) of an (H, W) image.

    ``out_size = (out_h, out_w)`` returns the mask at another size: polygons are rasterised there
    directly; RLE is decoded at (H, W) and resized nearest-neighbour.
    """
    parsed = (
        segmentation
        if isinstance(segmentation, Polygons | Rle)
        else parse_segmentation(segmentation, height, width)
    )
    out_h, out_w = out_size or (height, width)
    if isinstance(parsed, Polygons):
        return polygons_to_mask(parsed, out_h, out_w, scale=(out_w / width, out_h / height))
    mask = rle_to_mask(parsed)
    if (out_h, out_w) != (height, width):
        resized = cv2.resize(mask.astype(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST)
        mask = resized.astype(bool)
    return mask
