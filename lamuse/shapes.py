"""Small geometry of binary masks: boxes, centroids, orientation, Hu moments, IoU, a figure's head."""

from __future__ import annotations

import math
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from lamuse.types import Box, Instance


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight box ``(x0, y0, x1, y1)`` of a bool mask (x1, y1 exclusive); None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def centroid(mask: np.ndarray) -> tuple[float, float]:
    """Mean (x, y) of the mask's pixels."""
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def orientation(mask: np.ndarray) -> tuple[float, float]:
    """Angle in degrees of the principal axis from vertical, and elongation.

    The angle follows ``cv2.getRotationMatrix2D``: positive is counter-clockwise on screen, so rotating a
    shape by ``target - source`` aligns the source's axis with the target's.

    Elongation is the ratio of the principal second moments (1 = isotropic); the angle of a near-round
    shape is meaningless, so callers check elongation before rotating anything.
    """
    moments = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if moments["m00"] == 0:
        return 0.0, 1.0
    mu20 = moments["mu20"] / moments["m00"]
    mu02 = moments["mu02"] / moments["m00"]
    mu11 = moments["mu11"] / moments["m00"]
    spread = math.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major = (mu20 + mu02 + spread) / 2
    minor = max((mu20 + mu02 - spread) / 2, 1e-9)
    theta_from_x = 0.5 * math.degrees(math.atan2(2 * mu11, mu20 - mu02))
    # Image y grows downwards; express the major axis as a lean from vertical in [-90, 90).
    lean = theta_from_x - 90.0 if theta_from_x >= 0 else theta_from_x + 90.0
    return float(-lean), float(major / minor)


def hu_moments(mask: np.ndarray) -> np.ndarray:
    """Log-scaled Hu moments (7,) of a mask: scale/rotation invariant shape signature."""
    hu = cv2.HuMoments(cv2.moments(mask.astype(np.uint8), binaryImage=True)).ravel()
    return np.asarray(-np.sign(hu) * np.log10(np.abs(hu) + 1e-30), dtype=np.float64)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two same-shape bool masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 0.0
    return float(np.logical_and(a, b).sum() / union)


def frame_contact(mask: np.ndarray) -> float:
    """Share of a silhouette's outline that is the image's own frame (0: whole object; near 0.5: a
    sliver cut along the edge of the photo, like a sleeve or half a table)."""
    padded = np.pad(mask.astype(np.uint8), 1)
    inner = cv2.erode(padded, np.ones((3, 3), np.uint8))[1:-1, 1:-1].astype(bool)
    outline = int((mask & ~inner).sum())
    frame = np.zeros_like(mask, dtype=bool)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = True
    return float((mask & frame).sum() / outline) if outline else 0.0


LEFT, TOP, RIGHT, BOTTOM = 1, 2, 4, 8
"""Bits of an image's or a silhouette's sides."""

NARROW_CUT_SHARE = 0.5
"""An element the painting's frame cuts across at most this share of its extent still stands whole:
feet, shins or a hat brim off the edge (Caillebotte's couple), not a torso cut across (a bust)."""


PHOTO_FRAME_MARGIN = 0.01
"""A photo's object within this share of the photo's long side of an edge is cut by it (never under
2 px): COCO polygons stop a few pixels short of the frame, and a margin fixed in pixels called 11 of
the shared cut-outs whole, a spectator whose head is off the photo among them."""
ELEMENT_FRAME_MARGIN = 0.004
"""A painting's element within this share of the long side of an edge reaches it (never under 2 px).
Narrower than a photo's: a cut-out is whole only when surely so, an element is cut only when surely so
(Caillebotte's woman, her hem 0.6% above the bottom edge, is a standing figure: at 1% she was cut and got
a bust). In pixels, a fixed margin made the Milkmaid cut at 512 px and whole at 1200 px."""


def frame_margin(shape: tuple[int, ...], share: float = ELEMENT_FRAME_MARGIN) -> int:
    """``share`` of the long side of an image of ``shape``, in pixels (at least 2)."""
    return max(2, round(share * max(shape[:2])))


def touched_sides(mask: np.ndarray, share: float = ELEMENT_FRAME_MARGIN) -> int:
    """The image sides (``LEFT`` | ``TOP`` | ``RIGHT`` | ``BOTTOM``) the mask reaches within ``share`` of the
    long side."""
    margin = frame_margin(mask.shape, share)
    return (
        (LEFT if mask[:, :margin].any() else 0)
        | (TOP if mask[:margin].any() else 0)
        | (RIGHT if mask[:, -margin:].any() else 0)
        | (BOTTOM if mask[-margin:].any() else 0)
    )


def frame_cut_share(mask: np.ndarray) -> float:
    """How wide the image frame cuts across the mask: per side, the share of the mask's extent along that
    side (box width for top and bottom, height for left and right) that reaches it
    (``ELEMENT_FRAME_MARGIN``); the widest side. 0: untouched; about 1: cut right across, like a
    head-and-shoulders portrait."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0.0
    margin = frame_margin(mask.shape)
    width, height = int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1
    return max(
        int(mask[:margin].any(axis=0).sum()) / width,
        int(mask[-margin:].any(axis=0).sum()) / width,
        int(mask[:, :margin].any(axis=1).sum()) / height,
        int(mask[:, -margin:].any(axis=1).sum()) / height,
    )


def stands_whole(mask: np.ndarray) -> bool:
    """Whether a painting's element reads as a whole figure or object (see ``NARROW_CUT_SHARE``): the rule
    by which selection gives it whole cut-outs and ``lamuse eval`` counts misuses."""
    return frame_cut_share(mask) <= NARROW_CUT_SHARE


STRAIGHT_BASE = 0.7
"""A figure whose outline has a straight, near-level (±10°) edge across this share of its width in its
lowest tenth is cut along it by something (a mirror's frame, a wall, a table's edge): people and animals
stand on legs, not on a straight base. On the shared person cut-outs: a man seen in a mirror 0.81;
figures standing on the ground 0.00-0.60."""


def straight_base(mask: np.ndarray) -> float:
    """The longest straight, near-level edge of the mask's outline in its lowest tenth, as a share of its
    width (outline simplified to 1% of its length)."""
    padded = np.pad(mask.astype(np.uint8), 2)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 0.0
    contour = max(contours, key=cv2.contourArea)
    polygon = cv2.approxPolyDP(contour, 0.01 * cv2.arcLength(contour, True), True)[:, 0, :]
    ys, xs = np.nonzero(padded)
    width, height = int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1
    floor = ys.max() - 0.1 * height
    level = math.tan(math.radians(10))
    longest = 0
    for start, end in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        dx, dy = abs(int(end[0] - start[0])), abs(int(end[1] - start[1]))
        if dy <= dx * level and min(start[1], end[1]) >= floor:
            longest = max(longest, dx)
    return longest / width


CUT_SIDE_RUN = 0.6
"""A side of a cut-out's tight silhouette its mask fills for at least this share of the side's length, in
its outermost pixel row or column, is where it was cut (a bust's bottom edge: all of it); a whole figure
touches its box at feet, head and hands, a rounded one along less (an upright ellipse: 45%)."""


def cut_sides(silhouette: np.ndarray) -> int:
    """The sides (``LEFT`` | ``TOP`` | ...) along which a tight silhouette is cut straight."""
    mask = silhouette.astype(bool)
    if not mask.any():
        return 0
    edges = ((LEFT, mask[:, 0]), (TOP, mask[0]), (RIGHT, mask[:, -1]), (BOTTOM, mask[-1]))
    return sum(bit for bit, run in edges if run.mean() >= CUT_SIDE_RUN)


SideBits = TypeVar("SideBits", int, npt.NDArray[np.int64])


def mirrored_sides(sides: SideBits) -> SideBits:
    """``sides`` (one set of side bits, or an array of them) after a left-right flip."""
    return (sides & (TOP | BOTTOM)) | ((sides & RIGHT) >> 2) | ((sides & LEFT) << 2)


def rotate_expand(array: np.ndarray, angle: float) -> np.ndarray:
    """Rotate an image or mask by ``angle`` degrees (cv2 convention) about its centre, growing the canvas
    so no corner is cut; new pixels are 0 (transparent for RGBA)."""
    height, width = array.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(height * sin + width * cos), math.ceil(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    return cv2.warpAffine(
        np.ascontiguousarray(array), matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=0
    )


HEAD_DEPTH = 0.25
"""A figure's head is looked for in the rows of its mask from its top down to this share of √area."""
HEAD_FRAMING = (2.0, 0.5)
"""The crop framed on a head: a square this many head widths wide, centred this many head widths below
the mask's top. MediaPipe's selfie network wants a head and shoulders filling its frame: framed wider
(3.5 head widths) on Renoir's seated boater it marks the whole crowd round him as one person."""
UPRIGHT = 0.8
"""A figure whose box is less tall than this share of its width lies down: its mask's top is no head."""


def head_size(element: Instance) -> tuple[float, float]:
    """``(centre x, width)`` of the head at the top of ``element``'s mask: its widest row and mean column
    over the top ``HEAD_DEPTH`` × √area rows."""
    top = element.box[1]
    rows = element.mask[top : top + max(1, round(HEAD_DEPTH * np.sqrt(element.area)))]
    columns = np.nonzero(rows)[1]
    return float(columns.mean()), float(rows.sum(axis=1).max())


def head_window(element: Instance) -> Box | None:
    """The square crop framed on ``element``'s head (``HEAD_FRAMING``), possibly beyond the image; None
    for a figure lying down or one whose head is cut by the image's top."""
    x0, y0, x1, y1 = element.box
    if y0 == 0 or y1 - y0 < UPRIGHT * (x1 - x0):
        return None
    centre, head = head_size(element)
    if head < 4:
        return None
    side, below = HEAD_FRAMING
    half = max(2, round(side * head / 2))
    cx, cy = round(centre), round(y0 + below * head)
    return (cx - half, cy - half, cx + half, cy + half)
