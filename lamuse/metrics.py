"""Pure measurements of one reinterpretation against its painting (see docs/metrics.md).

Every function takes arrays (RGB uint8 images at one size, bool masks, Lab colours, style vectors) and
returns plain floats, so the evaluator can apply exactly the same computation to every strategy and the
tests can check each one on a synthetic case whose answer is known.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np

from lamuse.palette import to_lab
from lamuse.shapes import centroid, iou

CENTROID_TOLERANCE = 0.05
"""A pasted element "stayed in place" when its centroid moved less than this share of the diagonal."""
RING_FRACTION = 0.03
"""Width of the surroundings ring, as a share of the image diagonal (at least 3 px)."""
MIN_REFERENCE_GAP = 5.0
"""Floor of the painting's own element/surroundings gap in ``harmony_gap``: an element the painter
barely set apart (a figure melting into its scene) would otherwise make any ratio explode."""
SEAM_HALF_WIDTH = 2
"""Half-width in pixels of the band along a boundary where seam gradients are read."""
REMNANT_SIZE_FRACTION = 0.2
"""The surroundings of an element reach at least this share of √(its area) beyond it (a hat's height
for a standing figure), and at least the ``RING_FRACTION`` ring."""
UNCHANGED_DELTA_E = 10.0
"""A pixel of the collage is "unchanged" when its CIE76 ΔE from the painting is below this (JPEG noise
and the borrowed texture stay under 5; an inpainted or pasted pixel is far above)."""
SALIENT_THRESHOLD = 0.5
"""Saliency above which a pixel belongs to a salient object."""


# --- swap coverage -------------------------------------------------------------------------------------


def coverage(annotated: int, swapped: int, same_class: int) -> tuple[float, float]:
    """Share of annotated instances replaced, and share replaced by a cut-out of the same class.

    A painting with nothing annotated is fully covered by definition (there was nothing to replace).
    """
    if annotated <= 0:
        return 1.0, 1.0
    return min(1.0, swapped / annotated), min(1.0, same_class / annotated)


# --- composition ---------------------------------------------------------------------------------------


def mask_iou(placed: np.ndarray, original: np.ndarray) -> float:
    """IoU of a pasted silhouette with the instance mask it replaces (1 = the same outline)."""
    return iou(placed, original)


def centroid_shift(placed: np.ndarray, original: np.ndarray) -> float:
    """Distance between the two masks' centroids as a share of the image diagonal (1.0 if one is empty)."""
    if not placed.any() or not original.any():
        return 1.0
    (px, py), (ox, oy) = centroid(placed), centroid(original)
    return math.hypot(px - ox, py - oy) / math.hypot(*original.shape[:2])


def centroid_kept(shifts: Sequence[float], tolerance: float = CENTROID_TOLERANCE) -> float:
    """Share of pasted elements whose centroid moved less than ``tolerance`` of the diagonal."""
    if not shifts:
        return float("nan")
    return float(np.mean([s < tolerance for s in shifts]))


def aspect_distortion(native_size: tuple[int, int], placed_size: tuple[int, int]) -> float:
    """|log(placed aspect / native aspect)| of a cut-out resized from ``native_size`` to ``placed_size``.

    Sizes are (width, height). 0 = proportions kept; log(1.2) ≈ 0.18 = stretched by 20%.
    """
    native = native_size[1] / max(native_size[0], 1)
    placed = placed_size[1] / max(placed_size[0], 1)
    return abs(math.log(max(placed, 1e-9) / max(native, 1e-9)))


# --- style coherence -----------------------------------------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else 0.0


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of Lab colours broadcast against each other.

    Written from the formula in Sharma, Wu & Dalal (2005), including their notes on the hue mean and hue
    difference when one colour is achromatic.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    achromatic = (c1p * c2p) == 0

    dlp = l2 - l1
    dcp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(achromatic, 0.0, dh)
    dhp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))

    lp_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    )
    h_mean = np.where(achromatic, h_sum, h_mean)

    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / np.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    tl, tc, th = dlp / s_l, dcp / s_c, dhp / s_h
    return np.asarray(np.sqrt(tl**2 + tc**2 + th**2 + r_t * tc * th))


def palette_distance(palette_a: np.ndarray, palette_b: np.ndarray) -> float:
    """Mean CIEDE2000 between two Lab palettes under the best one-to-one matching of their colours.

    Brute force over permutations (5 colours: 120), so no assignment solver is needed; palettes of
    different lengths are compared on the shorter one's colours.
    """
    a = np.asarray(palette_a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(palette_b, dtype=np.float64).reshape(-1, 3)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    if len(a) > len(b):
        a, b = b, a
    costs = ciede2000(a[:, None, :], b[None, :, :])
    rows = np.arange(len(a))
    best = min(costs[rows, list(p)].mean() for p in itertools.permutations(range(len(b)), len(a)))
    return float(best)


# --- harmony and seams ---------------------------------------------------------------------------------


def lab_image(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (H, W, 3) float Lab."""
    return to_lab(rgb.reshape(-1, 3)).reshape(rgb.shape).astype(np.float32)


def gradient_magnitude(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel gradient magnitude of the Lab lightness, in L units per pixel (Sobel / 8)."""
    lightness = lab_image(rgb)[..., 0]
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3) / 8
    return np.asarray(np.hypot(gx, gy))


def ring(mask: np.ndarray, width: int | None = None) -> np.ndarray:
    """The band of pixels just outside ``mask`` (its surroundings), ``width`` px wide."""
    if width is None:
        width = max(3, round(RING_FRACTION * math.hypot(*mask.shape[:2])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    return np.asarray(grown & ~mask)


def region_gap(lab: np.ndarray, gradient: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> float:
    """How much a region stands out from its surroundings: the Euclidean distance of
    (L, a, b means, gradient-magnitude std) between the two regions. NaN if either is empty."""
    if not inside.any() or not outside.any():
        return float("nan")
    features = [np.r_[lab[region].mean(axis=0), gradient[region].std()] for region in (inside, outside)]
    return float(np.linalg.norm(features[0] - features[1]))


def harmony_gap(
    output: np.ndarray,
    placed: Sequence[np.ndarray],
    painting: np.ndarray,
    originals: Sequence[np.ndarray],
) -> float:
    """Mean gap of the pasted regions in ``output`` over the mean gap of the original elements in the
    painting (1 = new elements stand out as much as the painter's own; higher = more collage-like).

    The surroundings ring of each region excludes the other regions of the same picture, so a gap is
    always element versus scene. The painting's gap is floored at ``MIN_REFERENCE_GAP``.
    """
    reference = _mean_gap(painting, originals)
    return _ratio(
        _mean_gap(output, placed), reference if math.isnan(reference) else max(reference, MIN_REFERENCE_GAP)
    )


def _mean_gap(image: np.ndarray, masks: Sequence[np.ndarray]) -> float:
    if not masks:
        return float("nan")
    lab, gradient = lab_image(image), gradient_magnitude(image)
    union = np.logical_or.reduce(list(masks))
    gaps = [region_gap(lab, gradient, m, ring(m) & ~union) for m in masks]
    gaps = [g for g in gaps if not math.isnan(g)]
    return float(np.mean(gaps)) if gaps else float("nan")


def boundary(mask: np.ndarray, half_width: int = SEAM_HALF_WIDTH) -> np.ndarray:
    """Pixels within ``half_width`` of the mask's outline, not counting the image frame."""
    kernel = np.ones((2 * half_width + 1, 2 * half_width + 1), np.uint8)
    as_int = mask.astype(np.uint8)
    band = (cv2.dilate(as_int, kernel) - cv2.erode(as_int, kernel, borderValue=1)).astype(bool)
    band[:half_width] = band[-half_width:] = False
    band[:, :half_width] = band[:, -half_width:] = False
    return np.asarray(band)


def edge_energy(image: np.ndarray, masks: Sequence[np.ndarray]) -> float:
    """Mean gradient magnitude along the outlines of ``masks`` (NaN when they have no outline)."""
    if not masks:
        return float("nan")
    band = np.logical_or.reduce([boundary(m) for m in masks])
    if not band.any():
        return float("nan")
    return float(gradient_magnitude(image)[band].mean())


def seam_energy(
    output: np.ndarray,
    placed: Sequence[np.ndarray],
    painting: np.ndarray,
    originals: Sequence[np.ndarray],
) -> float:
    """Edge energy along the pasted outlines over the painting's own along its elements' outlines
    (1 = contours as strong as the painter's; much higher = visible cut-and-paste seams)."""
    return _ratio(edge_energy(output, placed), edge_energy(painting, originals))


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator <= 1e-9:
        return float("nan")
    return numerator / denominator


# --- what a painter sees -------------------------------------------------------------------------------


def surroundings(mask: np.ndarray) -> np.ndarray:
    """An element's mask and the band around it, ``max(RING_FRACTION × diagonal, REMNANT_SIZE_FRACTION ×
    √area)`` px wide: where its old pixels (and the hat or handle its mask missed) would show."""
    width = max(
        3,
        round(RING_FRACTION * math.hypot(*mask.shape[:2])),
        round(REMNANT_SIZE_FRACTION * math.sqrt(float(mask.sum()))),
    )
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    return np.asarray(cv2.dilate(mask.astype(np.uint8), kernel).astype(bool))


def old_parts(mask: np.ndarray, salient: np.ndarray, zone: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """The element's own pixels plus its missed parts: each salient region outside every annotated
    element (``elements``, the union of their masks) that touches the element and lies mostly (≥ half)
    inside its ``zone`` — a hat or a handle does; a neighbouring figure or fruit that continues beyond
    the zone does not."""
    pieces = (salient & ~elements).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces, connectivity=8)
    rim = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    touching = np.unique(labels[rim & (labels > 0)])
    inside = np.bincount(labels[zone], minlength=count)
    kept = [int(t) for t in touching if inside[t] >= 0.5 * stats[t, cv2.CC_STAT_AREA]]
    return np.asarray(mask | np.isin(labels, kept))


def remnant_area(
    collage: np.ndarray,
    painting: np.ndarray,
    mask: np.ndarray,
    covered: np.ndarray,
    salient: np.ndarray,
    elements: np.ndarray,
) -> float:
    """Share of an element's visible surroundings where its old parts survive unchanged in the collage.

    Surroundings: ``surroundings(mask)`` minus what any pasted cut-out covers (``covered``). Old parts:
    ``old_parts`` (the mask plus the salient pieces it missed; ``salient`` a bool map, ``elements`` the
    union of all annotated masks). Unchanged: CIE76 ΔE below ``UNCHANGED_DELTA_E``. 0 = nothing of the
    old element shows; NaN when the cut-outs cover all.
    """
    band = surroundings(mask)
    zone = band & ~covered
    if not zone.any():
        return float("nan")
    difference = np.linalg.norm(lab_image(collage) - lab_image(painting), axis=2)
    remnant = zone & old_parts(mask, salient, band, elements) & (difference < UNCHANGED_DELTA_E)
    return float(remnant.sum() / zone.sum())


def truncated_misuse_rate(misused: Sequence[bool]) -> float:
    """Share of swaps flagged as misuses (a frame-cut cut-out for a whole element while a whole cut-out
    of its class was in the library); NaN without swaps."""
    return float(np.mean(misused)) if misused else float("nan")
