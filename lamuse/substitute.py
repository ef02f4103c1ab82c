"""Choose, for each element of a painting, a real cut-out whose silhouette fits the original one.

Candidates of the same class are pre-filtered by Hu-moment distance, then each is scored directly by the
IoU of its placed silhouette against the element's mask, trying a horizontal flip, a rotation to the
element's orientation (up to a quarter turn) and aspect changes of at most ±20%. ``chaos`` turns the
argmax into a softmax.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lamuse.library import Cutout
from lamuse.shapes import centroid, hu_moments, mask_box, orientation, rotate_expand, touches_border
from lamuse.types import Instance

GRID_SIDE = 64
"""Long side of the low-resolution frame silhouettes are compared in."""
ASPECT_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)
MAX_ROTATION_DEG = 90.0
"""Up to a quarter turn: a standing figure may lie down where the painting has a reclining one."""
ROTATION_COST = 0.05
"""IoU given up per quarter turn, so an upright fit wins over a rotated one that is barely better."""
MIN_ELONGATION_TO_ROTATE = 2.0
PREFILTER_KEEP = 24
TRUNCATED_PENALTY = 0.25


@dataclass(frozen=True)
class Placement:
    """How a cut-out is laid over an element, in the painting's (working) pixel coordinates.

    The cut-out is flipped (if ``flip``), rotated by ``rotation`` degrees (cv2 convention, about its
    centre, canvas expanded), resized to ``width`` x ``height`` and placed with its mask centroid at
    ``center``.
    """

    flip: bool
    rotation: float
    width: int
    height: int
    center: tuple[float, float]
    aspect_change: float


@dataclass(frozen=True)
class Choice:
    """The cut-out picked for one element, with the evidence for the choice."""

    instance: Instance
    cutout: Cutout
    placement: Placement
    predicted_iou: float
    shape_distance: float
    same_class: bool


@dataclass(frozen=True)
class _Target:
    grid_mask: np.ndarray
    grid_scale: float
    grid_origin: tuple[float, float]
    area: float
    center: tuple[float, float]
    angle: float
    elongation: float
    hu: np.ndarray


def _target_of(instance: Instance) -> _Target:
    mask = instance.mask
    x0, y0, x1, y1 = instance.box
    width, height = x1 - x0, y1 - y0
    # A square frame around the box, with a margin so a placed silhouette can stick out and be
    # penalised for it, area-averaged down to the grid (thin limbs count by how much they cover).
    side = max(1, math.ceil(1.5 * max(width, height)))
    left = (x0 + x1 - side) // 2
    top = (y0 + y1 - side) // 2
    frame = np.zeros((side, side), dtype=np.float32)
    src_x0, src_y0 = max(0, left), max(0, top)
    src_x1, src_y1 = min(mask.shape[1], left + side), min(mask.shape[0], top + side)
    frame[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = mask[src_y0:src_y1, src_x0:src_x1]
    grid = cv2.resize(frame, (GRID_SIDE, GRID_SIDE), interpolation=cv2.INTER_AREA) >= 0.5
    scale = GRID_SIDE / side
    origin = (float(left), float(top))
    angle, elongation = orientation(mask[y0:y1, x0:x1])
    return _Target(
        grid_mask=grid,
        grid_scale=scale,
        grid_origin=origin,
        area=float(mask.sum()),
        center=centroid(mask),
        angle=angle,
        elongation=elongation,
        hu=hu_moments(mask[y0:y1, x0:x1]),
    )


def _oriented(silhouette: np.ndarray, flip: bool, rotation: float) -> np.ndarray:
    """Flip then rotate a tight silhouette, expanding the canvas, and crop it tight again."""
    shape = silhouette[:, ::-1] if flip else silhouette
    if abs(rotation) < 0.5:
        return np.ascontiguousarray(shape)
    rotated = rotate_expand(shape.astype(np.float32), rotation) >= 0.5
    box = mask_box(rotated)
    if box is None:
        return np.ascontiguousarray(shape)
    x0, y0, x1, y1 = box
    return rotated[y0:y1, x0:x1]


@dataclass(frozen=True)
class _Shape:
    """An oriented silhouette with the statistics every aspect trial reuses."""

    mask: np.ndarray
    fill: float
    offset: tuple[float, float]
    """Mask centroid inside the silhouette's box, as fractions of its width and height."""

    @classmethod
    def of(cls, mask: np.ndarray) -> _Shape:
        height, width = mask.shape
        ys, xs = np.nonzero(mask)
        offset = ((xs.mean() + 0.5) / width, (ys.mean() + 0.5) / height)
        return cls(mask=mask.astype(np.float32), fill=max(len(xs) / mask.size, 1e-6), offset=offset)


def _place_in_grid(shape: _Shape, target: _Target, aspect_factor: float) -> tuple[np.ndarray, int, int]:
    """Render ``shape`` with its area matched to the target's and centroids aligned; return the grid
    mask and the full-resolution width and height it stands for."""
    height, width = shape.mask.shape
    aspect = (height / width) * aspect_factor
    full_w = math.sqrt(target.area / (shape.fill * aspect))
    full_h = aspect * full_w
    grid_w = max(1, round(full_w * target.grid_scale))
    grid_h = max(1, round(full_h * target.grid_scale))
    resized = cv2.resize(shape.mask, (grid_w, grid_h), interpolation=cv2.INTER_LINEAR) >= 0.5
    # Continuous grid coordinates (pixel j spans [j, j+1)): the target's centroid is a mean of pixel
    # indices, hence the half pixel; ``offset`` is already continuous.
    cx = (target.center[0] + 0.5 - target.grid_origin[0]) * target.grid_scale
    cy = (target.center[1] + 0.5 - target.grid_origin[1]) * target.grid_scale
    left, top = round(cx - shape.offset[0] * grid_w), round(cy - shape.offset[1] * grid_h)
    canvas = np.zeros((GRID_SIDE, GRID_SIDE), dtype=bool)
    sx0, sy0 = max(0, -left), max(0, -top)
    dx0, dy0 = max(0, left), max(0, top)
    dx1, dy1 = min(GRID_SIDE, left + grid_w), min(GRID_SIDE, top + grid_h)
    if dx1 > dx0 and dy1 > dy0:
        canvas[dy0:dy1, dx0:dx1] = resized[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    return canvas, max(1, round(full_w)), max(1, round(full_h))


def best_placement(cutout: Cutout, target: _Target) -> tuple[Placement, float, float]:
    """Try flips, a rotation to the target's orientation and ±20% aspect; keep the best grid IoU.

    Returns the placement, its grid IoU, and that IoU less the rotation cost (what candidates are
    ranked by, so an upright fit wins over a rotated one that is barely better).
    """
    best: tuple[Placement, float, float] | None = None
    target_sum = int(target.grid_mask.sum())
    for flip in (False, True):
        source_angle = -cutout.orientation if flip else cutout.orientation
        rotations = [0.0]
        delta = target.angle - source_angle
        delta = (delta + 90.0) % 180.0 - 90.0
        if (
            0.5 < abs(delta) <= MAX_ROTATION_DEG
            and target.elongation >= MIN_ELONGATION_TO_ROTATE
            and cutout.elongation >= MIN_ELONGATION_TO_ROTATE
        ):
            rotations.append(delta)
        for rotation in rotations:
            shape = _Shape.of(_oriented(cutout.silhouette, flip, rotation))
            for factor in ASPECT_FACTORS:
                grid, width, height = _place_in_grid(shape, target, factor)
                inter = np.logical_and(grid, target.grid_mask).sum()
                union = grid.sum() + target_sum - inter
                score = float(inter / union) if union else 0.0
                preference = score - ROTATION_COST * abs(rotation) / 90.0
                if best is None or preference > best[2]:
                    placement = Placement(
                        flip=flip,
                        rotation=rotation,
                        width=width,
                        height=height,
                        center=target.center,
                        aspect_change=factor,
                    )
                    best = (placement, score, preference)
    assert best is not None
    return best


def hu_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance of log Hu moments (the first four carry most of the shape; the rest are noisy)."""
    return float(np.abs(a[:4] - b[:4]).sum())


def choose_cutouts(
    instances: Sequence[Instance],
    library: Sequence[Cutout],
    *,
    rng: np.random.Generator,
    chaos: float = 0.2,
    cutout_weights: Mapping[str, float] | None = None,
    class_plan: Sequence[Sequence[frozenset[int]]] | None = None,
) -> list[Choice]:
    """Pick one cut-out per instance (same class when the library has it, else any class by shape).

    ``chaos`` in [0, 1]: 0 takes the best-fitting silhouette (votes do not change an exact choice), 1
    samples almost uniformly among the candidates. A candidate's fit is its placed IoU less the rotation
    cost and the cropped-subject penalty. ``cutout_weights`` (votes) multiply each candidate's
    probability; no photo is used twice in one picture while other photos are left. ``class_plan`` (the
    theme, ``lamuse.pertinence.class_plan``) gives per instance ordered tiers of class ids: the pool is
    the library's cut-outs of the first tier it has any of, else the rule above.
    """
    chaos = float(np.clip(chaos, 0.0, 1.0))
    temperature = 0.002 + 0.25 * chaos
    used: set[str] = set()
    choices: list[Choice] = []
    for index, instance in enumerate(instances):
        target = _target_of(instance)
        same_class = [c for c in library if c.class_id == instance.class_id and instance.class_id != 0]
        pool = same_class or list(library)
        if class_plan is not None:
            tiers = ([c for c in library if c.class_id in tier] for tier in class_plan[index])
            pool = next((tier_pool for tier_pool in tiers if tier_pool), pool)
        fresh = [c for c in pool if c.source not in used]
        pool = fresh or pool
        distances = np.array([hu_distance(c.hu, target.hu) for c in pool])
        keep = PREFILTER_KEEP + int(chaos * len(pool))
        order = np.argsort(distances, kind="stable")[:keep]
        scored = [(pool[i], float(distances[i]), *best_placement(pool[i], target)) for i in order]
        # A cut-out cropped by its photo's frame (a head-and-shoulders portrait) reads as a torso cut in
        # mid-air when the element it replaces stands whole inside the painting.
        penalty = 0.0 if touches_border(instance.mask) else TRUNCATED_PENALTY
        fits = np.array([s[4] - (penalty if s[0].truncated else 0.0) for s in scored])
        logits = (fits - fits.max()) / temperature
        weights = np.exp(logits)
        if cutout_weights:
            weights *= np.array([cutout_weights.get(s[0].id, 1.0) for s in scored])
        weights /= weights.sum()
        pick = int(rng.choice(len(scored), p=weights)) if chaos > 0 else int(np.argmax(fits))
        cutout, distance, placement, predicted, _ = scored[pick]
        used.add(cutout.source)
        choices.append(
            Choice(
                instance=instance,
                cutout=cutout,
                placement=placement,
                predicted_iou=predicted,
                shape_distance=distance,
                same_class=instance.class_id != 0 and cutout.class_id == instance.class_id,
            )
        )
    return choices
