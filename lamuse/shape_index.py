"""A precomputed shape index: every cut-out's silhouette in a canonical frame, packed as bits.

Each silhouette is drawn centroid-centred and area-normalised in a ``CANON_SIDE``² grid, once as it is and
once turned upright (principal axis vertical). The placed IoU that substitution maximises is invariant
under any transform applied to both shapes, so a candidate's flip or aspect change is the same as
applying the inverse to the *target*: one element gives a handful of target variants, and each is scored
against a whole class at once with AND + popcount over packed 64-bit words (``np.bitwise_count``).
Rotations compare upright forms. This coarse fit ranks the class; substitution re-scores only the top
of the ranking exactly.

The arrays live in ``<library>/index/*.npy`` and are opened memory-mapped, so a 100k-cut-out library
opens in milliseconds and costs its pages, not Python objects.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from lamuse.shapes import mask_box, rotate_expand

CANON_SIDE = 48
"""Side of the canonical grid; a normalised silhouette covers an eighth of it, so a thin standing figure
(box 1:4, fill 0.5) still fits."""
WORDS = CANON_SIDE * CANON_SIDE // 64
FIRST_SIDE = 16
"""The first pass over a whole class compares 16² grids (4 words) before the 32² ones refine its best."""
FIRST_WORDS = FIRST_SIDE * FIRST_SIDE // 64
COARSE_ASPECTS = (0.8, 0.9, 1.0, 1.1, 1.2)
"""Aspect changes tried in the coarse pass (the exact pass tries all of ``substitute.ASPECT_FACTORS``)."""
REFINE_KEEP = 1024
"""Candidates the second pass scores with every variant."""
TARGET_LONG_SIDE = 128
"""Targets are shrunk to this long side before normalising (the canonical grid is far coarser)."""
INDEX_VERSION = 5
MIN_ELONGATION_TO_ROTATE = 2.0
MAX_ROTATION_DEG = 90.0
ROTATION_COST = 0.05

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
Words = npt.NDArray[np.uint64]


def canonical_bits(mask: np.ndarray, stretch: float = 1.0, side: int = CANON_SIDE) -> BoolArray:
    """``mask`` (bool or float coverage) centroid-centred, scaled to cover ``side``²/8 pixels, its height
    multiplied by ``sqrt(stretch)`` and its width divided by it (area kept), in a ``side``² bool grid."""
    coverage = np.asarray(mask, dtype=np.float32)
    area = float(coverage.sum())
    canvas = np.zeros((side, side), dtype=bool)
    if area <= 0:
        return canvas
    scale = math.sqrt(side * side / 8 / area)
    height, width = coverage.shape
    size = (
        max(1, round(width * scale / math.sqrt(stretch))),
        max(1, round(height * scale * math.sqrt(stretch))),
    )
    small = cv2.resize(coverage, size, interpolation=cv2.INTER_AREA)
    moments = cv2.moments(small)
    if moments["m00"] <= 0:
        return canvas
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    centre = side / 2 - 0.5
    matrix = np.array([[1.0, 0.0, centre - cx], [0.0, 1.0, centre - cy]], dtype=np.float64)
    placed = cv2.warpAffine(small, matrix, (side, side), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.asarray(placed >= 0.5)


def upright(mask: np.ndarray, angle: float) -> np.ndarray:
    """The mask turned by ``-angle`` (cv2 convention) so its principal axis is vertical, as float coverage."""
    coverage = np.asarray(mask, dtype=np.float32)
    if abs(angle) < 0.5:
        return coverage
    return np.asarray(rotate_expand(coverage, -angle), dtype=np.float32)


def pack(grid: BoolArray) -> Words:
    """A canonical grid as ``WORDS`` uint64 words."""
    return np.packbits(grid.ravel()).view(np.uint64)


def fold_angle(delta: np.ndarray) -> np.ndarray:
    """Angles folded into [-90, 90): axes have no direction."""
    return (delta + 90.0) % 180.0 - 90.0


@dataclass(frozen=True, eq=False)
class ShapeQuery:
    """One element's target variants in the canonical frame.

    Attributes:
        first / first_upright: the same, in the first pass's small grid (no aspect change).
        plain: (2·len(COARSE_ASPECTS), WORDS) words: [no flip, flip] × each aspect change (the inverse
            change applied to the target, which equals applying it to the candidate).
        upright: (4, WORDS) words of the upright target: as is, turned 180°, flipped, flipped and turned.
        angle / elongation: the element's orientation (``shapes.orientation``).
    """

    first: Words
    first_count: npt.NDArray[np.int32]
    first_upright: Words
    first_upright_count: npt.NDArray[np.int32]
    plain: Words
    plain_count: npt.NDArray[np.int32]
    upright: Words
    upright_count: npt.NDArray[np.int32]
    angle: float
    elongation: float

    @classmethod
    def of(cls, mask: np.ndarray, angle: float, elongation: float) -> ShapeQuery:
        box = mask_box(mask)
        if box is None:
            raise ValueError("an empty mask has no shape")
        x0, y0, x1, y1 = box
        crop = mask[y0:y1, x0:x1].astype(np.float32)
        scale = min(1.0, TARGET_LONG_SIDE / max(crop.shape))
        if scale < 1.0:
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
        plain_grids = [canonical_bits(crop, 1.0 / factor) for factor in COARSE_ASPECTS]
        plain_grids += [g[:, ::-1] for g in plain_grids]
        up = canonical_bits(upright(crop, angle))
        turned = up[::-1, ::-1]
        upright_grids = [up, turned, up[:, ::-1], turned[:, ::-1]]
        plain = np.stack([pack(g) for g in plain_grids])
        ups = np.stack([pack(g) for g in upright_grids])
        small = canonical_bits(crop, side=FIRST_SIDE)
        first_grids = [small, small[:, ::-1]]
        small_up = canonical_bits(upright(crop, angle), side=FIRST_SIDE)
        small_turned = small_up[::-1, ::-1]
        first_up_grids = [small_up, small_turned, small_up[:, ::-1], small_turned[:, ::-1]]
        return cls(
            first=np.stack([pack(g) for g in first_grids]),
            first_count=np.array([int(g.sum()) for g in first_grids], dtype=np.int32),
            first_upright=np.stack([pack(g) for g in first_up_grids]),
            first_upright_count=np.array([int(g.sum()) for g in first_up_grids], dtype=np.int32),
            plain=plain,
            plain_count=np.array([int(g.sum()) for g in plain_grids], dtype=np.int32),
            upright=ups,
            upright_count=np.array([int(g.sum()) for g in upright_grids], dtype=np.int32),
            angle=angle,
            elongation=elongation,
        )


@dataclass(frozen=True)
class IndexEntry:
    """What the index keeps of one cut-out (the rest stays in the library database)."""

    id: str
    class_id: int
    source: str
    whole: bool
    orientation: float
    elongation: float
    silhouette: BoolArray
    cut_sides: int = 0
    """Where a cut-out that is not whole was cut (``Cutout.cut_sides``)."""


_ARRAYS = (
    "ids",
    "class_ids",
    "sources",
    "whole",
    "cut_sides",
    "orientation",
    "elongation",
    "first",
    "first_count",
    "first_upright",
    "first_upright_count",
    "plain",
    "plain_count",
    "upright",
    "upright_count",
)


class ShapeIndex:
    """Packed canonical silhouettes of a library, sorted by class, with the per-cut-out facts selection
    filters on (photo, ``whole``, orientation). Positions index every array."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [name for name in _ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"shape index lacks {', '.join(missing)}")
        self.ids: np.ndarray = arrays["ids"]
        self.class_ids: npt.NDArray[np.int16] = arrays["class_ids"]
        self.sources: npt.NDArray[np.int32] = arrays["sources"]
        self.whole: BoolArray = arrays["whole"]
        self.cut_sides: npt.NDArray[np.uint8] = arrays["cut_sides"]
        """Where each cut-out that is not whole was cut (``shapes.cut_sides``); 0 for whole ones."""
        self.orientation: FloatArray = arrays["orientation"]
        self.elongation: FloatArray = arrays["elongation"]
        self.first: Words = arrays["first"]
        self.first_count: npt.NDArray[np.uint16] = arrays["first_count"]
        self.first_upright: Words = arrays["first_upright"]
        self.first_upright_count: npt.NDArray[np.uint16] = arrays["first_upright_count"]
        self.plain: Words = arrays["plain"]
        self.plain_count: npt.NDArray[np.uint16] = arrays["plain_count"]
        self.upright: Words = arrays["upright"]
        self.upright_count: npt.NDArray[np.uint16] = arrays["upright_count"]
        classes, starts = np.unique(np.asarray(self.class_ids), return_index=True)
        ends = [*starts[1:], len(self.class_ids)]
        self._classes = {int(c): slice(int(s), int(e)) for c, s, e in zip(classes, starts, ends, strict=True)}

    def __len__(self) -> int:
        return len(self.ids)

    def class_slice(self, class_id: int) -> slice:
        """Positions of one class (an empty slice when the library has none)."""
        return self._classes.get(class_id, slice(0, 0))

    def id_at(self, position: int) -> str:
        return bytes(self.ids[position]).decode("ascii")

    def positions_of(self, cutout_ids: Iterable[str]) -> npt.NDArray[np.intp]:
        """Positions of the given cut-out ids (unknown ids are ignored)."""
        wanted = np.array([i.encode("ascii") for i in cutout_ids], dtype=self.ids.dtype)
        if wanted.size == 0:
            return np.zeros(0, dtype=np.intp)
        return np.flatnonzero(np.isin(np.asarray(self.ids), wanted))

    @classmethod
    def build(cls, entries: Iterable[IndexEntry]) -> ShapeIndex:
        """Normalise every silhouette (the slow part, done once per library build)."""
        items = sorted(entries, key=lambda e: (e.class_id, e.id))
        count = len(items)
        first = np.zeros((FIRST_WORDS, count), dtype=np.uint64)
        first_count = np.zeros(count, dtype=np.uint16)
        first_upright = np.zeros((FIRST_WORDS, count), dtype=np.uint64)
        first_upright_count = np.zeros(count, dtype=np.uint16)
        plain = np.zeros((WORDS, count), dtype=np.uint64)
        upright_words = np.zeros((WORDS, count), dtype=np.uint64)
        plain_count = np.zeros(count, dtype=np.uint16)
        upright_count = np.zeros(count, dtype=np.uint16)
        source_numbers: dict[str, int] = {}
        for position, entry in enumerate(items):
            grid = canonical_bits(entry.silhouette)
            turned = upright(entry.silhouette, entry.orientation)
            up = canonical_bits(turned)
            small = canonical_bits(entry.silhouette, side=FIRST_SIDE)
            small_up = canonical_bits(turned, side=FIRST_SIDE)
            first[:, position] = pack(small)
            first_count[position] = int(small.sum())
            first_upright[:, position] = pack(small_up)
            first_upright_count[position] = int(small_up.sum())
            plain[:, position] = pack(grid)
            upright_words[:, position] = pack(up)
            plain_count[position] = int(grid.sum())
            upright_count[position] = int(up.sum())
            source_numbers.setdefault(entry.source, len(source_numbers))
        width = max([len(e.id) for e in items] + [1])
        return cls(
            {
                "ids": np.array([e.id.encode("ascii") for e in items], dtype=f"S{width}"),
                "class_ids": np.array([e.class_id for e in items], dtype=np.int16),
                "sources": np.array([source_numbers[e.source] for e in items], dtype=np.int32),
                "whole": np.array([e.whole for e in items], dtype=bool),
                "cut_sides": np.array([e.cut_sides for e in items], dtype=np.uint8),
                "orientation": np.array([e.orientation for e in items], dtype=np.float32),
                "elongation": np.array([e.elongation for e in items], dtype=np.float32),
                "first": first,
                "first_count": first_count,
                "first_upright": first_upright,
                "first_upright_count": first_upright_count,
                "plain": plain,
                "plain_count": plain_count,
                "upright": upright_words,
                "upright_count": upright_count,
            }
        )

    def save(self, folder: Path, *, rows: int) -> None:
        """Write the arrays to ``folder`` atomically (a temporary folder renamed into place); ``rows`` is the
        database row count the index was built from, so a later open can tell it is stale."""
        folder = Path(folder)
        scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for name in _ARRAYS:
            np.save(scratch / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        (scratch / "meta.json").write_text(json.dumps({"version": INDEX_VERSION, "rows": rows}))
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        if folder.exists():
            folder.rename(old)
        scratch.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def open(cls, folder: Path, *, rows: int) -> ShapeIndex | None:
        """The saved index, memory-mapped; None when it is missing, of another version, or stale."""
        try:
            meta = json.loads((Path(folder) / "meta.json").read_text())
            if meta.get("version") != INDEX_VERSION or meta.get("rows") != rows:
                return None
            return cls({name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r") for name in _ARRAYS})
        except (OSError, ValueError):
            return None

    def coarse_fits(self, query: ShapeQuery, positions: slice) -> FloatArray:
        """Approximate placed IoU (less the rotation cost) of every candidate in ``positions``, in
        ranking order.

        Two passes, each the best of the plain variants (flip × aspect) and, for elongated pairs whose
        axes differ, the upright forms less ``ROTATION_COST`` per quarter turn, as
        ``substitute.best_placement`` scores: first in 16² grids (no aspect change) over the whole
        slice, then in 32² grids for its best ``REFINE_KEEP``. The others rank below, by their
        first-pass fit.
        """
        start = positions.start or 0
        columns = np.arange(start, positions.stop, dtype=np.intp)
        first = self._fits(
            query,
            columns,
            (self.first, self.first_count, query.first, query.first_count),
            (self.first_upright, self.first_upright_count, query.first_upright, query.first_upright_count),
            sliced=positions,
        )
        if len(first) <= REFINE_KEEP:
            chosen = np.arange(len(first))
        else:
            chosen = np.argpartition(-first, REFINE_KEEP)[:REFINE_KEEP]
        refined = self._fits(
            query,
            chosen + start,
            (self.plain, self.plain_count, query.plain, query.plain_count),
            (self.upright, self.upright_count, query.upright, query.upright_count),
        )
        if len(chosen) == len(first):
            return refined
        # The small grids score on another scale: the candidates the first pass left out rank below
        # every refined one, in their first-pass order.
        fits = first - float(first[chosen].min()) + float(refined.min()) - 1e-3
        fits[chosen] = refined
        return fits

    def _fits(
        self,
        query: ShapeQuery,
        columns: npt.NDArray[np.intp],
        plain: tuple[Words, np.ndarray, Words, np.ndarray],
        upright: tuple[Words, np.ndarray, Words, np.ndarray],
        sliced: slice | None = None,
    ) -> FloatArray:
        """Best fit of each candidate at ``columns`` (read as the slice ``sliced`` when given: a view,
        not a copy) over the plain and upright variants of one grid size."""

        def take(array: np.ndarray) -> np.ndarray:
            if sliced is not None:
                return array[..., sliced]
            return np.ascontiguousarray(array[..., columns])

        words, counts, variants, variant_counts = plain
        words = take(words)
        count = words.shape[1]
        best = np.zeros(count, dtype=np.float32)
        inter = np.zeros(count, dtype=np.uint16)
        scratch = np.empty(count, dtype=np.uint64)
        candidate_counts = np.asarray(take(counts), dtype=np.float32)
        for variant, variant_count in zip(variants, variant_counts, strict=True):
            _intersections(words, variant, inter, scratch)
            np.maximum(best, _iou(inter, candidate_counts, float(variant_count)), out=best)
        if query.elongation < MIN_ELONGATION_TO_ROTATE:
            return best
        elongated = np.asarray(take(self.elongation)) >= MIN_ELONGATION_TO_ROTATE
        if not elongated.any():
            return best
        up_words, up_counts, up_variants, up_variant_counts = upright
        up_words = take(up_words)
        candidate_up_counts = np.asarray(take(up_counts), dtype=np.float32)
        orientation = np.asarray(take(self.orientation), dtype=np.float32)
        fits = []
        for variant, variant_count in zip(up_variants, up_variant_counts, strict=True):
            _intersections(up_words, variant, inter, scratch)
            fits.append(_iou(inter, candidate_up_counts, float(variant_count)))
        for flip in (0, 1):
            raw = query.angle - (-orientation if flip else orientation)
            delta = fold_angle(raw)
            turned = np.abs(raw - delta) > 1.0
            eligible = elongated & (np.abs(delta) > 0.5) & (np.abs(delta) <= MAX_ROTATION_DEG)
            fit = np.where(turned, fits[2 * flip + 1], fits[2 * flip]) - ROTATION_COST * np.abs(delta) / 90.0
            np.maximum(best, np.where(eligible, fit, 0.0).astype(np.float32), out=best)
        return best


def _intersections(
    words: Words, variant: Words, out: npt.NDArray[np.uint16], scratch: npt.NDArray[np.uint64]
) -> None:
    """Popcount of ``words[:, i] & variant`` for every column i, into ``out`` (word by word: each step is
    one contiguous pass over the class, in preallocated buffers)."""
    out[:] = 0
    for w in range(words.shape[0]):
        np.bitwise_and(words[w], variant[w], out=scratch)
        np.add(out, np.bitwise_count(scratch), out=out, casting="unsafe")


def _iou(inter: npt.NDArray[np.uint16], counts: FloatArray, target_count: float) -> FloatArray:
    shared = inter.astype(np.float32)
    union = counts + np.float32(target_count) - shared
    return np.asarray(np.where(union > 0, shared / np.maximum(union, 1.0), 0.0), dtype=np.float32)


Policy = Literal["whole", "other_class_whole", "frame_cut_only", "element_cut"]


def top_positions(fits: FloatArray, count: int, sorted_head: int | None = None) -> npt.NDArray[np.intp]:
    """Indices of the ``count`` highest fits, the best ``sorted_head`` of them first and in order (ties
    by position, so runs repeat); the rest of the window follows unordered."""
    count = min(count, len(fits))
    head = count if sorted_head is None else min(sorted_head, count)
    window = np.argpartition(-fits, count - 1)[:count] if count < len(fits) else np.arange(len(fits))
    if head < count:
        split = np.argpartition(-fits[window], head - 1) if head > 0 else np.arange(count)
        window = window[split]
    top = window[:head]
    return np.concatenate([top[np.lexsort((top, -fits[top]))], np.sort(window[head:])])


def entries_of(
    ids: Sequence[str],
    class_ids: Sequence[int],
    sources: Sequence[str],
    whole: Sequence[bool],
    orientations: Sequence[float],
    elongations: Sequence[float],
    silhouettes: Sequence[BoolArray],
) -> list[IndexEntry]:
    """Zip parallel columns into entries (how the library and the synthetic bench feed ``build``)."""
    return [
        IndexEntry(id=i, class_id=c, source=s, whole=w, orientation=o, elongation=e, silhouette=m)
        for i, c, s, w, o, e, m in zip(
            ids, class_ids, sources, whole, orientations, elongations, silhouettes, strict=True
        )
    ]
