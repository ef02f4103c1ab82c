"""COCO category ids and mask decoding (polygons, RLE) without torchvision or pycocotools.

COCO ids have gaps (80 classes over ids 1..90); every segmenter reports the official id, so the names come
from one table here. The table is torchvision's ``MaskRCNN_ResNet50_FPN_V2_Weights.DEFAULT.meta
["categories"]`` copied once (index = id), so ``import lamuse.coco`` does not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

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


def polygons_to_mask(
    polygons: Sequence[Sequence[float]], height: int, width: int, *, scale: tuple[float, float] = (1.0, 1.0)
) -> np.ndarray:
    """Rasterise COCO polygons (flat ``[x0, y0, x1, y1, ...]`` lists, union) to a bool (H, W) mask.

    Coordinates are continuous (pixel ``i`` spans ``[i, i+1)``), so a point at ``x = width`` is the right
    border; points are clipped to the image. ``scale = (sx, sy)`` maps annotated coordinates to this size,
    which keeps edges sharp when masks are wanted at another size than the one annotated.
    """
    mask = np.zeros((height, width), dtype=np.uint8)
    shift = 4  # sub-pixel precision for cv2: coordinates in 1/16 px
    contours = []
    for poly in polygons:
        points = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        if len(points) < 3:
            continue
        points = points * np.asarray(scale)
        points[:, 0] = np.clip(points[:, 0], 0.0, width)
        points[:, 1] = np.clip(points[:, 1], 0.0, height)
        # cv2 puts pixel centres on integers; COCO puts them on half-integers.
        contours.append(np.round((points - 0.5) * (1 << shift)).astype(np.int32))
    if contours:
        cv2.fillPoly(mask, contours, color=1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


def _counts_from_string(encoded: str) -> list[int]:
    """Decode COCO's compressed RLE string (5-bit LEB128-like chunks, deltas from the run two back)."""
    counts: list[int] = []
    pos = 0
    while pos < len(encoded):
        value = 0
        shift = 0
        more = True
        while more:
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


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode a COCO RLE dict (``size`` = [H, W]; ``counts`` a compressed str/bytes or a list) to bool (H, W).

    Runs alternate background/foreground starting with background, in column-major order.
    """
    height, width = (int(v) for v in rle["size"])
    raw = rle["counts"]
    if isinstance(raw, bytes):
        raw = raw.decode("ascii")
    counts = np.asarray(_counts_from_string(raw) if isinstance(raw, str) else raw, dtype=np.int64)
    if counts.sum() != height * width or (counts < 0).any():
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {height}x{width}={height * width}")
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T.copy()


def segmentation_to_mask(
    segmentation: Any, height: int, width: int, *, out_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode any COCO ``segmentation`` (polygon list or RLE) of an (H, W) image to a bool mask.

    ``out_size = (out_h, out_w)`` returns the mask at another size: polygons are rasterised there
    directly; RLE is decoded at (H, W) and resized nearest-neighbour.
    """
    out_h, out_w = out_size or (height, width)
    if isinstance(segmentation, list):
        return polygons_to_mask(segmentation, out_h, out_w, scale=(out_w / width, out_h / height))
    if not isinstance(segmentation, Mapping):
        raise ValueError(f"unknown COCO segmentation of type {type(segmentation).__name__}")
    rle_h, rle_w = (int(v) for v in segmentation["size"])
    if (rle_h, rle_w) != (height, width):
        raise ValueError(f"RLE size {rle_h}x{rle_w} differs from the image's {height}x{width}")
    mask = rle_to_mask(segmentation)
    if (out_h, out_w) != (height, width):
        resized = cv2.resize(mask.astype(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST)
        mask = resized.astype(bool)
    return mask
