"""Choose, for each element of a painting, a real cut-out whose silhouette fits the original one.

A shape index (``lamuse.shape_index``) ranks every candidate of the element's class at once by a coarse
placed IoU; the top of that ranking is re-scored exactly by the IoU of the placed silhouette against the
element's mask, trying a horizontal flip, a rotation to the element's orientation (up to a quarter turn)
and aspect changes of at most ±20%; the best fits are then slid a little off the centroid match, the
slide paid for in IoU, and their aspect and size adjusted, as equal areas and centroids are not always
the best overlap. ``chaos`` samples from a ranked window instead of taking the best, and a variation
whose pick repeats an earlier variation's moves to the nearest assignment nobody took.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from lamuse.library import Cutout
from lamuse.shape_index import (
    MAX_ROTATION_DEG,
    MIN_ELONGATION_TO_ROTATE,
    ROTATION_COST,
    IndexEntry,
    Policy,
    ShapeIndex,
    ShapeQuery,
    top_positions,
)
from lamuse.shapes import (
    BOTTOM,
    LEFT,
    RIGHT,
    TOP,
    centroid,
    hu_moments,
    mask_box,
    mirrored_sides,
    orientation,
    rotate_expand,
    stands_whole,
    touched_sides,
)
from lamuse.types import Instance

GRID_SIDE = 64
"""Long side of the low-resolution frame silhouettes are compared in."""
ASPECT_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.2)
EXACT_KEEP = 12
"""Candidates at the top of the coarse ranking that are re-scored exactly."""
NEAR_FRAME_EXACT_KEEP = 64
"""...for an element near the frame: the coarse index neither leaves out what falls beyond the frame
nor tries ``OVERFLOW_SCALES``, so the best fit there can rank low in it."""
WINDOW_KEEP = 8
"""Size of the ranked window ``chaos`` samples from, plus ``chaos`` times the pool."""
AVOID_PENALTY = 0.05
"""Fit an avoided cut-out (e.g. one a guild saw recently) gives up: it wins only when clearly better."""
NEAREST_STEPS = 1024
"""Most assignments tried when moving off one an earlier variation took."""
SHIFT_CELLS = 4
"""Grid cells a placed silhouette may slide off the centroid match to cover the element better (a figure
whose weight sits off its outline's middle); 4 cells are 9% of the element's long side."""
SHIFT_COST = 2.0
"""IoU a slide must gain per painting diagonal it moves the cut-out (1% of the diagonal: 0.02). Measured
on the 44 annotated paintings: at 0.004 a cell, big figures slid by 2% of the diagonal for a hundredth of
IoU and the pertinence judge's composition score (centroids) lost more than the silhouettes gained."""
REFINED_CANDIDATES = EXACT_KEEP
"""Best re-scored candidates of an element (plus the variation's rank) whose placements are refined
(``REFINED_TRIALS``): the refinement gains a few hundredths of IoU, seldom enough to lift one from
further down, so the 64 of an element near the frame are not all refined."""
REFINED_TRIALS = 4
"""Best centroid-matched trials of a cut-out that are then slid and resized (``SHIFT_CELLS``,
``REFINE_STEPS``)."""
REFINE_STEPS = 3
"""Rounds of the local search that then moves the best slid trial's aspect by ``ASPECT_STEP`` or its
area by ``SCALE_STEP`` while that gains: equal areas are not always the best overlap."""
ASPECT_STEP = 0.05
SCALE_STEP = 0.08
OVERFLOW_SCALES = (1.25, 1.6)
"""Areas (times the visible element's) tried for an element the frame cuts: the element goes on beyond
the frame, so a whole cut-out may too, its far side on the element's (a figure whose shins the bottom edge
cuts keeps its head where the old head was)."""


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
    whole_policy: Policy
    """How the element's wholeness was honoured: ``whole`` (a whole cut-out for a whole element),
    ``other_class_whole`` (its class had only frame-cut cut-outs, so a whole one of another class was taken
    by shape), ``frame_cut_only`` (no whole cut-out anywhere) or ``element_cut`` (the painting's frame
    cuts across the element itself, see ``lamuse.shapes.stands_whole``, so any cut-out may replace it)."""
    window: int = 1
    """How many cut-outs the pick was made among (1: the library had only this one that fits)."""


Fits = MutableMapping[tuple[int, str, bool], tuple["Placement", float, float]]
"""Placements already found, by (instance position, cut-out id, refined): the same element and cut-out
always give the same placement, so a painting's selections (one per variation) share them."""


@dataclass(frozen=True, eq=False)
class _Target:
    grid_mask: np.ndarray
    grid_scale: float
    grid_origin: tuple[float, float]
    area: float
    center: tuple[float, float]
    angle: float
    elongation: float
    hu: np.ndarray
    in_frame: np.ndarray
    """Grid pixels inside the painting: only they are seen, so only they are counted."""
    box: tuple[float, float, float, float]
    """The element's box in grid coordinates."""
    frame: tuple[float, float, float, float]
    """The painting's own edges (left, top, right, bottom) in grid coordinates."""
    cut_bits: int
    """The painting's edges the element reaches (``shapes.touched_sides``)."""

    @cached_property
    def mask_cells(self) -> int:
        return int(np.count_nonzero(self.grid_mask))

    @cached_property
    def diagonal(self) -> float:
        """The painting's diagonal in grid cells."""
        left, top, right, bottom = self.frame
        return math.hypot(right - left, bottom - top)

    @cached_property
    def mask_and_frame(self) -> np.ndarray:
        """The grid mask and ``in_frame`` as two float channels, for sliding silhouettes across both."""
        return np.dstack([self.grid_mask, self.in_frame]).astype(np.float32)

    @cached_property
    def grid_center(self) -> tuple[float, float]:
        """The element's centroid in continuous grid coordinates (pixel j spans [j, j+1)): a mean of
        pixel indices, hence the half pixel."""
        return (
            (self.center[0] + 0.5 - self.grid_origin[0]) * self.grid_scale,
            (self.center[1] + 0.5 - self.grid_origin[1]) * self.grid_scale,
        )


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
    inside = np.zeros((side, side), dtype=np.float32)
    src_x0, src_y0 = max(0, left), max(0, top)
    src_x1, src_y1 = min(mask.shape[1], left + side), min(mask.shape[0], top + side)
    frame[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = mask[src_y0:src_y1, src_x0:src_x1]
    inside[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = 1.0
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
        in_frame=cv2.resize(inside, (GRID_SIDE, GRID_SIDE), interpolation=cv2.INTER_AREA) >= 0.5,
        box=((x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale),
        frame=(-left * scale, -top * scale, (mask.shape[1] - left) * scale, (mask.shape[0] - top) * scale),
        cut_bits=touched_sides(mask),
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


def _place_in_grid(
    shape: _Shape,
    target: _Target,
    aspect_factor: float,
    overflow: float = 1.0,
    cut: int = 0,
    scale: float = 1.0,
    slide: bool = False,
) -> tuple[int, int, int, int, tuple[float, float]]:
    """Render ``shape`` with its area matched to ``overflow`` times the target's and centroids aligned
    (with ``overflow`` > 1, its side away from the frame on the element's instead); return its overlap with
    the target's grid mask, its own pixel count, both inside the painting only, the full-resolution width
    and height it stands for, and where its centroid goes in the painting. A cut-out cut on the sides
    ``cut`` is moved until those cuts lie on the painting's edges, where the frame hides them. ``scale``
    multiplies the area; with ``slide`` the silhouette then takes the best shift ``_best_shift`` finds."""
    height, width = shape.mask.shape
    aspect = (height / width) * aspect_factor
    full_w = math.sqrt(scale * overflow * target.area / (shape.fill * aspect))
    full_h = aspect * full_w
    grid_w = max(1, round(full_w * target.grid_scale))
    grid_h = max(1, round(full_h * target.grid_scale))
    resized = cv2.resize(shape.mask, (grid_w, grid_h), interpolation=cv2.INTER_LINEAR) >= 0.5
    cx, cy = target.grid_center  # continuous, as ``offset`` is
    fx, fy = cx - shape.offset[0] * grid_w, cy - shape.offset[1] * grid_h
    if overflow > 1.0:
        sides = target.cut_bits
        bx0, by0, bx1, by1 = target.box
        if bool(sides & LEFT) != bool(sides & RIGHT):
            fx = bx1 - grid_w if sides & LEFT else bx0
        if bool(sides & TOP) != bool(sides & BOTTOM):
            fy = by1 - grid_h if sides & TOP else by0
    frame_left, frame_top, frame_right, frame_bottom = target.frame
    if cut & LEFT:
        fx = min(fx, frame_left)
    if cut & RIGHT:
        fx = max(fx, frame_right - grid_w)
    if cut & TOP:
        fy = min(fy, frame_top)
    if cut & BOTTOM:
        fy = max(fy, frame_bottom - grid_h)
    if slide:
        limits = _shift_limits(fx, fy, grid_w, grid_h, target, cut)
        inter, placed, (dx, dy) = _best_shift(resized, round(fx), round(fy), target, limits)
        fx, fy = fx + dx, fy + dy
    else:
        inter, placed = _overlap_at(resized, round(fx), round(fy), target)
    center = (
        target.center[0] + (fx + shape.offset[0] * grid_w - cx) / target.grid_scale,
        target.center[1] + (fy + shape.offset[1] * grid_h - cy) / target.grid_scale,
    )
    return inter, placed, max(1, round(full_w)), max(1, round(full_h)), center


def _overlap_at(resized: np.ndarray, left: int, top: int, target: _Target) -> tuple[int, int]:
    """Overlap of ``resized`` placed at ``left``, ``top`` with the target, and its own pixel count, both
    inside the painting only."""
    grid_h, grid_w = resized.shape
    sx0, sy0 = max(0, -left), max(0, -top)
    dx0, dy0 = max(0, left), max(0, top)
    dx1, dy1 = min(GRID_SIDE, left + grid_w), min(GRID_SIDE, top + grid_h)
    if dx1 <= dx0 or dy1 <= dy0:
        return 0, 0
    part = resized[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0] & target.in_frame[dy0:dy1, dx0:dx1]
    return int(np.count_nonzero(part & target.grid_mask[dy0:dy1, dx0:dx1])), int(np.count_nonzero(part))


def _shift_limits(
    fx: float, fy: float, grid_w: int, grid_h: int, target: _Target, cut: int
) -> tuple[int, int, int, int]:
    """How far (in grid cells: left, up, right, down) a placed silhouette may slide off the centroid
    match: ``SHIFT_CELLS`` at most, never so far that a cut laid on the frame comes into view."""
    frame_left, frame_top, frame_right, frame_bottom = target.frame
    left = up = right = down = SHIFT_CELLS
    if cut & LEFT:
        right = min(right, max(0, math.floor(frame_left - fx)))
    if cut & RIGHT:
        left = min(left, max(0, math.floor(fx + grid_w - frame_right)))
    if cut & TOP:
        down = min(down, max(0, math.floor(frame_top - fy)))
    if cut & BOTTOM:
        up = min(up, max(0, math.floor(fy + grid_h - frame_bottom)))
    return left, up, right, down


def _best_shift(
    resized: np.ndarray, left: int, top: int, target: _Target, limits: tuple[int, int, int, int]
) -> tuple[int, int, tuple[int, int]]:
    """Slide ``resized`` (placed at ``left``, ``top``) within ``limits`` to the best IoU with the target,
    each shift costing ``SHIFT_COST``; return its overlap, its pixel count inside the painting,
    and the shift."""
    to_left, up, to_right, down = limits
    height, width = resized.shape
    x0, y0 = left - to_left, top - up
    x1, y1 = left + width + to_right, top + height + down
    canvas = np.zeros((y1 - y0, x1 - x0, 2), dtype=np.float32)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(GRID_SIDE, x1), min(GRID_SIDE, y1)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = target.mask_and_frame[cy0:cy1, cx0:cx1]
    template = resized.astype(np.float32)
    inter = np.rint(cv2.matchTemplate(np.ascontiguousarray(canvas[..., 0]), template, cv2.TM_CCORR))
    frame = np.ascontiguousarray(canvas[..., 1])
    if frame.all():  # the whole window lies inside the painting: every shift shows all of it
        placed = np.full_like(inter, float(np.count_nonzero(resized)))
    else:
        placed = np.rint(cv2.matchTemplate(frame, template, cv2.TM_CCORR))
    union = placed + float(target.mask_cells) - inter
    score = inter / np.maximum(union, 1.0) - SHIFT_COST * _shift_distances(limits) / target.diagonal
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(inter[row, col]), int(placed[row, col]), (int(col) - to_left, int(row) - up)


@cache
def _shift_distances(limits: tuple[int, int, int, int]) -> np.ndarray:
    """How far (in cells) each shift ``limits`` allows moves a silhouette (rows: up to down)."""
    to_left, up, to_right, down = limits
    dy, dx = np.mgrid[-up : down + 1, -to_left : to_right + 1]
    distances: np.ndarray = np.hypot(dx, dy)
    return distances


@dataclass(frozen=True)
class _Trial:
    """One way to lay a cut-out on an element, before sliding and resizing it."""

    flip: bool
    rotation: float
    shape: _Shape
    cut: int
    aspect_factor: float
    overflow: float

    def placed(self, target: _Target, scale: float = 1.0, *, slide: bool) -> tuple[Placement, float, float]:
        """The placement, its grid IoU, and that IoU less the rotation cost."""
        inter, placed, width, height, center = _place_in_grid(
            self.shape, target, self.aspect_factor, self.overflow, self.cut, scale, slide=slide
        )
        score = _grid_iou(inter, placed, target)
        placement = Placement(
            flip=self.flip,
            rotation=self.rotation,
            width=width,
            height=height,
            center=center,
            aspect_change=self.aspect_factor,
        )
        return placement, score, score - ROTATION_COST * abs(self.rotation) / 90.0


def best_placement(cutout: Cutout, target: _Target, *, refine: bool = True) -> tuple[Placement, float, float]:
    """Try flips, a rotation to the target's orientation, ±20% aspect and, for an element the frame cuts,
    larger sizes running on beyond the frame (``OVERFLOW_SCALES``), silhouettes' centroids matched
    (``_ranked_trials``); with ``refine``, slide and adjust the best of them (``_refined``). Keep the best
    grid IoU.

    Returns the placement, its grid IoU, and that IoU less the rotation cost (what candidates are
    ranked by, so an upright fit wins over a rotated one that is barely better).
    """
    trials = _ranked_trials(cutout, target)
    return _refined(trials, target) if refine else trials[0].placed(target, slide=False)


def _ranked_trials(cutout: Cutout, target: _Target) -> list[_Trial]:
    """Every centroid-matched way of laying ``cutout`` on the element, best first."""
    overflows = (1.0, *OVERFLOW_SCALES) if target.cut_bits else (1.0,)
    sides = cutout.cut_sides
    ranked: list[tuple[float, _Trial]] = []
    for flip in _flips(cutout, target):
        cut = (mirrored_sides(sides) if flip else sides) & target.cut_bits
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
            for overflow in overflows:
                for factor in ASPECT_FACTORS:
                    inter, placed, *_ = _place_in_grid(shape, target, factor, overflow, cut)
                    preference = _grid_iou(inter, placed, target) - ROTATION_COST * abs(rotation) / 90.0
                    ranked.append((preference, _Trial(flip, rotation, shape, cut, factor, overflow)))
    ranked.sort(key=lambda entry: entry[0], reverse=True)
    return [trial for _, trial in ranked]


def _refined(trials: Sequence[_Trial], target: _Target) -> tuple[Placement, float, float]:
    """Slide the best ``REFINED_TRIALS`` of ``trials`` (``SHIFT_CELLS``), then step the best one's aspect
    and size while that gains (``REFINE_STEPS``), sliding each step afresh."""
    best, best_trial = max(((t.placed(target, slide=True), t) for t in trials[:REFINED_TRIALS]), key=_ranked)
    scale = 1.0
    for _ in range(REFINE_STEPS):
        moves = [
            (replace(best_trial, aspect_factor=factor), scale)
            for factor in (
                round(best_trial.aspect_factor - ASPECT_STEP, 6),
                round(best_trial.aspect_factor + ASPECT_STEP, 6),
            )
            if ASPECT_FACTORS[0] <= factor <= ASPECT_FACTORS[-1]
        ]
        moves += [(best_trial, scale * (1 - SCALE_STEP)), (best_trial, scale * (1 + SCALE_STEP))]
        step = max(((t.placed(target, size, slide=True), t, size) for t, size in moves), key=_ranked)
        if step[0][2] <= best[2]:
            break
        best, best_trial, scale = step
    return best


def _ranked(tried: tuple[tuple[Placement, float, float], *tuple[object, ...]]) -> float:
    return tried[0][2]


def _grid_iou(inter: int, placed: int, target: _Target) -> float:
    union = placed + target.mask_cells - inter
    return float(inter / union) if union else 0.0


def _flips(cutout: Cutout, target: _Target) -> tuple[bool, ...]:
    """The flips that put a cut-out's cuts on sides where the frame cuts the element (both when neither
    or both do: a whole cut-out, or one chosen when nothing better was there)."""
    if cutout.whole:
        return (False, True)
    sides = cutout.cut_sides
    fits = tuple(
        flip for flip in (False, True) if (mirrored_sides(sides) if flip else sides) & ~target.cut_bits == 0
    )
    return fits if len(fits) == 1 else (False, True)


def hu_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance of log Hu moments (the first four carry most of the shape; the rest are noisy)."""
    return float(np.abs(a[:4] - b[:4]).sum())


class Candidates(Protocol):
    """What selection draws from: a shape index and a way to load the cut-outs at some of its positions."""

    @property
    def index(self) -> ShapeIndex: ...

    def load(self, positions: Sequence[int]) -> list[Cutout]: ...


class CutoutList:
    """Candidates over cut-outs already in memory (a handful, or a library's ``cutouts``)."""

    def __init__(self, cutouts: Sequence[Cutout]) -> None:
        self._by_id = {c.id: c for c in cutouts}

    @cached_property
    def index(self) -> ShapeIndex:
        return ShapeIndex.build(
            IndexEntry(
                id=c.id,
                class_id=c.class_id,
                source=c.source,
                whole=c.whole,
                orientation=c.orientation,
                elongation=c.elongation,
                silhouette=c.silhouette,
                cut_sides=c.cut_sides,
            )
            for c in self._by_id.values()
        )

    def load(self, positions: Sequence[int]) -> list[Cutout]:
        return [self._by_id[self.index.id_at(p)] for p in positions]


@dataclass(frozen=True, eq=False)
class _Pool:
    """One element's candidates: index positions allowed by the class and wholeness rules, with fits."""

    instance: Instance
    target: _Target
    positions: npt.NDArray[np.intp]
    coarse: npt.NDArray[np.float32]
    """Coarse fit less the avoid penalty, per position."""
    avoided: npt.NDArray[np.bool_]
    same_class: bool
    policy: Policy


def _pool_of(
    instance: Instance,
    index: ShapeIndex,
    avoided_positions: npt.NDArray[np.intp],
    tiers: Sequence[frozenset[int]] | None = None,
) -> _Pool | None:
    target = _target_of(instance)
    query = ShapeQuery.of(instance.mask, target.angle, target.elongation)
    every = slice(0, len(index))
    if tiers:
        themed = _themed_pool(instance, target, query, index, avoided_positions, tiers)
        if themed is not None:
            return themed
    same = index.class_slice(instance.class_id) if instance.class_id != 0 else slice(0, 0)
    has_same = same.stop > same.start
    chosen = same if has_same else every
    element_whole = stands_whole(instance.mask)
    policy: Policy = "element_cut"
    if element_whole:
        # A head-and-shoulders photo reads as a torso cut in mid-air where the painting shows a whole
        # figure: frame-cut cut-outs only stand in for whole elements when nothing whole exists.
        if bool(np.asarray(index.whole[chosen]).any()):
            policy = "whole"
        elif bool(np.asarray(index.whole).any()):
            chosen, policy = every, "other_class_whole"
        else:
            policy = "frame_cut_only"
    hiding = _hiding(index, chosen, target) if policy == "element_cut" else None
    if hiding is not None and not hiding.any():
        everywhere = _hiding(index, every, target)
        if everywhere.any():  # no cut-out of the class has its cuts where the frame can hide them
            chosen, hiding = every, everywhere
    positions = np.arange(chosen.start, chosen.stop, dtype=np.intp)
    if positions.size == 0:
        return None
    coarse = index.coarse_fits(query, chosen)
    if policy in ("whole", "other_class_whole"):
        keep = np.asarray(index.whole[chosen])
        positions, coarse = positions[keep], coarse[keep]
    elif hiding is not None and hiding.any():
        positions, coarse = positions[hiding], coarse[hiding]
    return _penalised_pool(
        instance, target, positions, coarse, avoided_positions, has_same and chosen is same, policy
    )


def _themed_pool(
    instance: Instance,
    target: _Target,
    query: ShapeQuery,
    index: ShapeIndex,
    avoided_positions: npt.NDArray[np.intp],
    tiers: Sequence[frozenset[int]],
) -> _Pool | None:
    """The cut-outs of the first tier of classes the library has any of (None: no tier has any)."""
    for tier in tiers:
        slices = [index.class_slice(class_id) for class_id in sorted(tier)]
        ranges = [np.arange(s.start, s.stop, dtype=np.intp) for s in slices]
        positions = np.concatenate(ranges) if ranges else np.zeros(0, dtype=np.intp)
        if positions.size == 0:
            continue
        coarse = index.coarse_fits(query, slice(0, len(index)))[positions]
        policy: Policy = "element_cut"
        if stands_whole(instance.mask):
            whole = np.asarray(index.whole)[positions]
            policy = "whole" if whole.any() else "frame_cut_only"
            if whole.any():
                positions, coarse = positions[whole], coarse[whole]
        else:
            hiding = _frame_hides(np.asarray(index.cut_sides)[positions], target.cut_bits)
            if hiding.any():
                positions, coarse = positions[hiding], coarse[hiding]
        same_class = instance.class_id != 0 and instance.class_id in tier
        return _penalised_pool(instance, target, positions, coarse, avoided_positions, same_class, policy)
    return None


def _frame_hides(sides: npt.NDArray[np.uint8], element_sides: int) -> npt.NDArray[np.bool_]:
    """For cut-outs cut on ``sides`` (0: whole), whether each can be laid, flipped or not, with its cuts
    on the sides where the painting's frame cuts the element: there the frame hides them."""
    cuts = sides.astype(np.int64)
    outside = ~element_sides
    return np.asarray(((cuts & outside) == 0) | ((mirrored_sides(cuts) & outside) == 0))


def _hiding(index: ShapeIndex, positions: slice, target: _Target) -> npt.NDArray[np.bool_]:
    return _frame_hides(np.asarray(index.cut_sides[positions]), target.cut_bits)


def _penalised_pool(
    instance: Instance,
    target: _Target,
    positions: npt.NDArray[np.intp],
    coarse: np.ndarray,
    avoided_positions: npt.NDArray[np.intp],
    same_class: bool,
    policy: Policy,
) -> _Pool:
    """The pool of ``positions``, the avoided ones' coarse fits lowered by ``AVOID_PENALTY``."""
    avoided = np.isin(positions, avoided_positions)
    return _Pool(
        instance=instance,
        target=target,
        positions=positions,
        coarse=coarse - AVOID_PENALTY * avoided.astype(np.float32),
        avoided=avoided,
        same_class=same_class,
        policy=policy,
    )


def _by_total_loss(losses: Sequence[np.ndarray]) -> Iterator[tuple[int, ...]]:
    """Rank vectors in order of total fit lost (0 = everyone's first option): a best-first walk, each
    element's ``losses`` sorted ascending from 0."""
    start = tuple(0 for _ in losses)
    heap: list[tuple[float, tuple[int, ...]]] = [(0.0, start)]
    seen = {start}
    while heap:
        total, current = heapq.heappop(heap)
        yield current
        for i, rank in enumerate(current):
            if rank + 1 < len(losses[i]):
                step = (*current[:i], rank + 1, *current[i + 1 :])
                if step not in seen:
                    seen.add(step)
                    cost = total - float(losses[i][rank]) + float(losses[i][rank + 1])
                    heapq.heappush(heap, (cost, step))


def _kth_assignment(losses: Sequence[np.ndarray], k: int) -> tuple[int, ...]:
    """The rank vector of the k-th best assignment (0 = everyone's best), by total fit lost (the last one
    when there are fewer)."""
    walk = _by_total_loss(losses)
    current = next(walk)
    for _ in range(k):
        current = next(walk, current)
    return current


@dataclass(frozen=True, eq=False)
class _Window:
    """One element's ranked window and the pick made in it."""

    pool: _Pool
    ranked: npt.NDArray[np.intp]
    """Slots into ``pool.positions``, best exact fit first for the re-scored head."""
    fits: npt.NDArray[np.float64]
    """Fit per slot of ``ranked``: exact for the head, coarse moved to the exact scale for the rest."""
    loaded: list[Cutout]
    scored: list[tuple[Placement, float, float]]
    pick: int


def _move_off_taken(
    windows: list[_Window], index: ShapeIndex, taken: Collection[tuple[str, ...]]
) -> list[int] | None:
    """The picks of the assignment nearest to the current one that no earlier variation took: a
    best-first walk where an element moving from its pick to another of its window costs the fit they
    differ by, so the element that loses least changes first. No photo is used twice unless the current
    picks already do. None: every assignment of the windows is taken (or the walk gave up)."""
    options: list[npt.NDArray[np.intp]] = []
    losses: list[np.ndarray] = []
    for window in windows:
        distance = np.abs(window.fits - window.fits[window.pick])
        distance[window.pick] = -1.0  # the pick itself comes first
        order = np.argsort(distance, kind="stable")
        options.append(order)
        losses.append(np.maximum(distance[order], 0.0))
    names: dict[tuple[int, int], str] = {}  # looked up as the walk reaches them: windows can be large

    def name(element: int, slot: int) -> str:
        if (element, slot) not in names:
            window = windows[element]
            names[element, slot] = index.id_at(int(window.pool.positions[window.ranked[slot]]))
        return names[element, slot]

    sources = [np.asarray(index.sources[w.pool.positions[w.ranked]]) for w in windows]
    repeated = len(windows) - len({int(s[w.pick]) for s, w in zip(sources, windows, strict=True)})
    fallback: list[int] | None = None
    for steps, ranks in enumerate(_by_total_loss(losses)):
        if steps >= NEAREST_STEPS:
            break
        picks = [int(o[r]) for o, r in zip(options, ranks, strict=True)]
        if tuple(name(element, pick) for element, pick in enumerate(picks)) in taken:
            continue
        photos = {int(s[p]) for s, p in zip(sources, picks, strict=True)}
        if len(windows) - len(photos) <= repeated:
            return picks
        fallback = fallback or picks
    return fallback


def choose_cutouts(
    instances: Sequence[Instance],
    library: Candidates | Sequence[Cutout],
    *,
    rng: np.random.Generator,
    chaos: float = 0.2,
    cutout_weights: Mapping[str, float] | None = None,
    avoid: Collection[str] = (),
    variation: int = 0,
    class_plan: Sequence[Sequence[frozenset[int]]] | None = None,
    taken: Collection[tuple[str, ...]] = (),
    placements: Fits | None = None,
) -> list[Choice]:
    """Pick one cut-out per instance (same class when the library has it, else any class by shape).

    ``chaos`` in [0, 1]: 0 takes the best-fitting silhouette (votes do not change an exact choice) — for
    ``variation`` k, the k-th best distinct assignment —; above 0 it samples from the best ``WINDOW_KEEP
    + chaos·N`` of the ranking, 1 almost uniformly. A candidate's fit is its placed IoU less the rotation
    cost. ``cutout_weights`` (votes) multiply each candidate's probability; ``avoid`` names cut-outs to
    leave out while others fit nearly as well (``AVOID_PENALTY``); no photo is used twice in one picture
    while other photos are left; a cut-out cut by its photo's frame never replaces an element that
    stands whole while a whole one exists (see ``Choice.whole_policy``). ``class_plan`` (the theme,
    ``lamuse.pertinence.class_plan``) gives per instance ordered tiers of class ids: the pool is the
    library's cut-outs of the first tier it has any of, else the rule above.

    ``taken``: assignments (cut-out ids in instance order, as ``assignment_of`` gives) that earlier
    variations made. When the pick repeats one, it moves to the nearest one not taken (the element whose
    other candidate loses least fit changes first); when every assignment of the windows is taken, the
    repeat stays. The draws from ``rng`` are the same whatever ``taken`` holds.

    ``placements``: those found by earlier calls for the same ``instances`` (see ``Fits``), filled in.
    """
    candidates = library if not isinstance(library, Sequence) else CutoutList(library)
    index = candidates.index
    chaos = float(np.clip(chaos, 0.0, 1.0))
    temperature = 0.002 + 0.25 * chaos
    avoided_positions = index.positions_of(avoid)
    weight_positions = index.positions_of(cutout_weights or {})
    weight_values = np.array(
        [(cutout_weights or {})[index.id_at(int(p))] for p in weight_positions], dtype=np.float64
    )
    plans = class_plan if class_plan is not None else [None] * len(instances)
    pools = [
        _pool_of(instance, index, avoided_positions, tiers)
        for instance, tiers in zip(instances, plans, strict=True)
    ]
    ranks = [0] * len(pools)
    if chaos == 0 and variation > 0:
        losses = []
        for pool in pools:
            if pool is None:
                losses.append(np.zeros(1))
                continue
            best = np.sort(top_positions(pool.coarse, variation + 1))
            fits = np.sort(pool.coarse[best])[::-1]
            losses.append(fits[0] - fits)
        ranks = list(_kth_assignment(losses, variation))
    used: set[int] = set()
    windows: list[_Window] = []
    known: Fits = placements if placements is not None else {}
    for position, (pool, rank) in enumerate(zip(pools, ranks, strict=True)):
        if pool is None:
            continue
        fits = pool.coarse
        count = len(fits)
        if used:
            fresh = ~np.isin(np.asarray(index.sources[pool.positions]), list(used))
            if fresh.any():
                fits = np.where(fresh, fits, -np.inf).astype(np.float32)
                count = int(fresh.sum())
        window = min(count, WINDOW_KEEP + int(chaos * count))
        # At chaos 0 the pick is the rank-th best by exact fit: the whole head is re-scored.
        keep = NEAR_FRAME_EXACT_KEEP if not pool.target.in_frame.all() else EXACT_KEEP
        exact_count = min(count, keep + rank) if chaos == 0 else min(window, keep)
        window = max(window, exact_count)
        ranked = top_positions(fits, window, exact_count)
        exact_slots = ranked[:exact_count]
        loaded = candidates.load([int(p) for p in pool.positions[exact_slots]])
        scored = _scored(loaded, pool.target, REFINED_CANDIDATES + rank, known, position)
        exact_fits = np.array([s[2] for s in scored]) - AVOID_PENALTY * pool.avoided[exact_slots]
        # The rest of the window keeps its coarse fit, moved to the exact scale by the offset measured on
        # the re-scored head, and never above the head it ranked below.
        offset = float(np.median(exact_fits - pool.coarse[exact_slots]))
        rest = np.minimum(pool.coarse[ranked[exact_count:]] + offset, exact_fits.min())
        window_fits = np.concatenate([exact_fits, rest])
        if chaos > 0:
            weights = np.exp((window_fits - window_fits.max()) / temperature)
            if weight_positions.size:
                weights *= _vote_multipliers(pool.positions[ranked], weight_positions, weight_values)
            pick = int(rng.choice(len(ranked), p=weights / weights.sum()))
        else:
            order = np.argsort(-exact_fits, kind="stable")
            pick = int(order[min(rank, len(order) - 1)])
        used.add(int(index.sources[pool.positions[ranked[pick]]]))
        windows.append(_Window(pool, ranked, window_fits.astype(np.float64), loaded, scored, pick))
    picks = [w.pick for w in windows]
    if taken:
        chosen = tuple(index.id_at(int(w.pool.positions[w.ranked[w.pick]])) for w in windows)
        if chosen in taken:
            picks = _move_off_taken(windows, index, taken) or picks
    choices: list[Choice] = []
    for made, pick in zip(windows, picks, strict=True):
        pool = made.pool
        if pick < len(made.loaded):
            cutout, (placement, predicted, _) = made.loaded[pick], made.scored[pick]
        else:
            [cutout] = candidates.load([int(pool.positions[made.ranked[pick]])])
            placement, predicted, _ = best_placement(cutout, pool.target)
        choices.append(
            Choice(
                instance=pool.instance,
                cutout=cutout,
                placement=placement,
                predicted_iou=predicted,
                shape_distance=hu_distance(cutout.hu, pool.target.hu),
                same_class=pool.same_class,
                whole_policy=pool.policy,
                window=len(made.ranked),
            )
        )
    return choices


def _scored(
    loaded: Sequence[Cutout], target: _Target, refined_count: int, known: Fits, position: int
) -> list[tuple[Placement, float, float]]:
    """Each cut-out's centroid-matched placement, the best ``refined_count`` of them refined, taken
    from ``known`` where an earlier selection found them and added to it."""
    trials: dict[int, list[_Trial]] = {}

    def ranked(slot: int) -> list[_Trial]:
        if slot not in trials:
            trials[slot] = _ranked_trials(loaded[slot], target)
        return trials[slot]

    scored = []
    for slot, cutout in enumerate(loaded):
        key = (position, cutout.id, False)
        if key not in known:
            known[key] = ranked(slot)[0].placed(target, slide=False)
        scored.append(known[key])
    for slot in np.argsort([-s[2] for s in scored], kind="stable")[:refined_count]:
        key = (position, loaded[slot].id, True)
        if key not in known:
            known[key] = _refined(ranked(slot), target)
        scored[slot] = known[key]
    return scored


def assignment_of(choices: Sequence[Choice]) -> tuple[str, ...]:
    """The cut-out ids of one picture's choices, in instance order: what tells two variations apart."""
    return tuple(choice.cutout.id for choice in choices)


def _vote_multipliers(
    positions: npt.NDArray[np.intp], weighted: npt.NDArray[np.intp], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    multipliers = np.ones(len(positions), dtype=np.float64)
    lookup = dict(zip(weighted.tolist(), values.tolist(), strict=True))
    for slot, position in enumerate(positions.tolist()):
        multipliers[slot] = lookup.get(position, 1.0)
    return multipliers
