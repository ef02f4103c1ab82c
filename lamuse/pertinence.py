"""How relevant a reinterpretation is for a painter: composition, style and theme scores in [0, 1].

La Muse's research question names three measures (the rules of composition, the coherence of pictorial
style, the fit of theme, era and context); this module scores one result on each, steers the choice of
classes by era (``--theme``), and keeps the best of several candidates. What each score rewards and
misses: docs/metrics.md, "Pertinence".
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np
from PIL import Image

from lamuse import metrics
from lamuse.coco import COCO_IDS
from lamuse.library import Cutout
from lamuse.types import (
    Instance,
    PertinenceRecord,
    PertinenceTrace,
    Placed,
    Reinterpretation,
    ReinterpretOptions,
    Segmentation,
    Theme,
)

if TYPE_CHECKING:
    from lamuse.pipeline import Pipeline

Era = int | Literal["always"]
"""The year a class became common, or "always" (living beings, objects in use since antiquity)."""
Language = Literal["en", "fr"]

WEIGHTS = {"composition": 0.4, "style": 0.35, "theme": 0.25}
"""How ``total`` combines the axes: composition first (La Muse keeps the painting's structure), then
style; theme last, because with an unknown year it is only half informed."""
THIRDS = 3
"""The visual-weight grid: saliency mass over the 3 x 3 rule-of-thirds cells."""
ORIENTATION_BINS = 12
"""Histogram of edge orientations (15° bins over 0-180°) that stands for the picture's principal lines."""
STRONG_EDGE_QUANTILE = 0.8
"""Only the strongest 20% of gradients count as lines; the rest is texture."""
CENTROID_FALLOFF = 0.1
"""A centroid moved by this share of the diagonal scores 0 (half of it: 0.5)."""
STYLE_COSINE_FLOOR = 0.85
"""Magenta style cosine that maps to 0: about a photo against a painting (0.85 measured), while two
unrelated paintings score 0.87-0.98 (docs/metrics.md, "Style coherence")."""
STYLE_ELEMENTS = 3
"""The largest new elements whose own pixels are read by the style predictor (one prediction each)."""
MIN_ELEMENT_SQUARE = 16
"""Side in pixels below which an element's inscribed square is too small to have a style."""
TEXTURE_SIGMAS = (0.7, 1.4, 2.8, 5.6)
"""Scales (Gaussian sigma, px) of the difference-of-Gaussian bands a region's texture is described by:
from photographic grain and sharp focus to brush strokes."""
TEXTURE_MIN_PIXELS = 30
UNKNOWN_ERA_SCORE = 0.5
"""Era fit when the painting's year is unknown: neutral, neither rewarded nor punished."""


@dataclass(frozen=True)
class PertinenceScores:
    """One result's three axes, their combination, and the parts each axis is the mean of."""

    composition: float
    style: float
    theme: float
    parts: Mapping[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return (
            WEIGHTS["composition"] * self.composition
            + WEIGHTS["style"] * self.style
            + WEIGHTS["theme"] * self.theme
        )

    def record(self) -> PertinenceRecord:
        return PertinenceRecord(
            composition=round(self.composition, 4),
            style=round(self.style, 4),
            theme=round(self.theme, 4),
            total=round(self.total, 4),
        )


# --- eras and painting years ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Eras:
    """Each COCO class's year (``lamuse/data/eras.json``, every entry with its source)."""

    years: Mapping[str, Era]
    sources: Mapping[str, str]

    def year(self, class_name: str) -> Era:
        """The class's year; a class-agnostic "object" (or an unknown name) counts as "always"."""
        return self.years.get(class_name, "always")

    def existed(self, class_name: str, year: int) -> bool:
        era = self.year(class_name)
        return era == "always" or era <= year


@cache
def load_eras() -> Eras:
    """The shipped table (read once: it is package data and never changes at run time)."""
    data = json.loads((Path(__file__).parent / "data" / "eras.json").read_text(encoding="utf-8"))
    classes: dict[str, dict[str, object]] = data["classes"]
    years: dict[str, Era] = {}
    for name, entry in classes.items():
        value = entry["year"]
        years[name] = value if isinstance(value, int) else "always"
    return Eras(years=years, sources={name: str(entry["source"]) for name, entry in classes.items()})


def parse_year(text: str) -> int | None:
    """A painting's year from a catalogue cell: "1884-1886" → 1884, "c. 1665" → 1665, "17th century" →
    1650, "Song copy of 10th c. original" → 950; None when there is no date."""
    if match := re.search(r"\b(\d{3,4})\b", text):
        return int(match.group(1))
    if match := re.search(r"\b(\d{1,2})(?:st|nd|rd|th)\s+c", text):
        return (int(match.group(1)) - 1) * 100 + 50
    return None


def painting_year(painting: Path) -> int | None:
    """The year in the ``year`` column of a ``SOURCES.md`` table beside the painting or one folder up."""
    for sources in (painting.parent / "SOURCES.md", painting.parent.parent / "SOURCES.md"):
        if not sources.is_file():
            continue
        header: list[str] | None = None
        for line in sources.read_text(encoding="utf-8").splitlines():
            if not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            row = dict(zip(header, cells, strict=False))
            if row.get("file") == painting.name and "year" in row:
                return parse_year(row["year"])
    return None


# --- context: which classes are seen together ----------------------------------------------------------


@dataclass(frozen=True)
class Cooccurrence:
    """How often classes appear in the same library photo (cut-outs sharing a source photo)."""

    photos_with: Mapping[str, int]
    pairs: Mapping[tuple[str, str], int]

    @classmethod
    def from_cutouts(cls, cutouts: Sequence[Cutout]) -> Cooccurrence:
        per_photo: dict[str, set[str]] = defaultdict(set)
        for cutout in cutouts:
            if cutout.class_id != 0:
                per_photo[cutout.source].add(cutout.class_name)
        photos_with: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for classes in per_photo.values():
            photos_with.update(classes)
            pairs.update((a, b) for a in classes for b in classes if a != b)
        return cls(photos_with=dict(photos_with), pairs=dict(pairs))

    def fit(self, new_class: str, scene: Collection[str]) -> float:
        """1 when the painting already has that class; else the best P(new class | a scene class) over
        the library's photos (0 when they never meet, or when nothing is known of the scene)."""
        if new_class in scene:
            return 1.0
        return max(
            (
                self.pairs.get((s, new_class), 0) / self.photos_with[s]
                for s in scene
                if self.photos_with.get(s)
            ),
            default=0.0,
        )


# --- steering the theme --------------------------------------------------------------------------------


def class_plan(
    instances: Sequence[Instance],
    library: Sequence[Cutout],
    theme: Theme,
    year: int | None,
    eras: Eras | None = None,
) -> list[tuple[frozenset[int], ...]] | None:
    """Per instance, the ordered tiers of classes ``choose_cutouts`` may draw from (None for "free").

    coherent: the element's own class, else classes that existed at ``year`` and meet the scene's classes
    in the library's photos, else classes that existed at ``year``. anachronistic: every class the library
    has that did not exist at ``year`` (chosen by shape across them), else the element's own class.
    """
    if theme == "free":
        return None
    eras = eras or load_eras()
    present = {c.class_name for c in library if c.class_id != 0}
    scene = {i.class_name for i in instances if i.class_id != 0}
    context = Cooccurrence.from_cutouts(library)
    if year is None:
        dated: set[str] = set(present)
        newer: set[str] = set()
    else:
        dated = {name for name in present if eras.existed(name, year)}
        newer = present - dated
    fitting = {name for name in dated if context.fit(name, scene) > 0}
    plans = []
    for instance in instances:
        own = frozenset({instance.class_id}) if instance.class_id != 0 else frozenset()
        tiers: tuple[frozenset[int], ...]
        if theme == "coherent":
            tiers = (own, _ids(fitting), _ids(dated))
        else:
            tiers = (_ids(newer), own)
        plans.append(tuple(t for t in tiers if t))
    return plans


def _ids(names: Collection[str]) -> frozenset[int]:
    return frozenset(COCO_IDS[n] for n in names if n in COCO_IDS)


def theme_reason(
    original: str, new_class: str, theme: Theme, year: int | None, language: Language = "en"
) -> str | None:
    """Why the theme put ``new_class`` where ``original`` was, in words (None when it needs no words)."""
    if theme == "free" or year is None:
        return None
    era = load_eras().year(new_class)
    if theme == "coherent" and new_class != original:
        if language == "fr":
            return f"pas de « {original} » dans la bibliothèque : « {new_class} » existait en {year}"
        return f"no {original} in the library; a {new_class} existed in {year} and fits the scene"
    if theme == "anachronistic" and era != "always" and era > year:
        if language == "fr":
            return f"anachronisme voulu : « {new_class} » date de {era}, le tableau de {year}"
        return f"deliberately anachronistic: the {new_class} dates from {era}, the painting from {year}"
    if theme == "anachronistic":
        if language == "fr":
            return f"rien dans la bibliothèque n'est postérieur à {year} : même sorte d'objet"
        return f"nothing in the library is newer than {year}, so the same kind of object"
    return None


# --- scoring -------------------------------------------------------------------------------------------


class StyleModel(Protocol):
    """What the style score needs: Magenta style vectors, and a re-paint for the harmony reference."""

    def style_vector(self, image: Image.Image) -> np.ndarray: ...

    def stylize(
        self, content: Image.Image, style: Image.Image, *, strength: float = 1.0, keep_colors: bool = False
    ) -> Image.Image: ...


class SaliencyModel(Protocol):
    """What the visual-weight score needs (``lamuse.segment.salient.SalientSegmenter`` is one)."""

    def saliency(self, image: Image.Image) -> np.ndarray: ...


def thirds_mass(saliency: np.ndarray) -> np.ndarray:
    """Share of the saliency mass in each rule-of-thirds cell, (3, 3) summing to 1 (uniform if none)."""
    height, width = saliency.shape
    rows = np.array_split(np.arange(height), THIRDS)
    cols = np.array_split(np.arange(width), THIRDS)
    cells = np.array([[saliency[np.ix_(r, c)].sum() for c in cols] for r in rows], dtype=np.float64)
    total = cells.sum()
    return cells / total if total > 0 else np.full((THIRDS, THIRDS), 1.0 / THIRDS**2)


def line_orientations(rgb: np.ndarray) -> np.ndarray:
    """Histogram (sums to 1) of the orientations of the picture's strongest edges, weighted by strength."""
    lightness = metrics.lab_image(rgb)[..., 0]
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    strong = magnitude >= np.quantile(magnitude, STRONG_EDGE_QUANTILE)
    angles = (np.degrees(np.arctan2(gy[strong], gx[strong])) + 180.0) % 180.0
    histogram, _ = np.histogram(angles, bins=ORIENTATION_BINS, range=(0.0, 180.0), weights=magnitude[strong])
    total = histogram.sum()
    return histogram / total if total > 0 else np.full(ORIENTATION_BINS, 1.0 / ORIENTATION_BINS)


def overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Histogram intersection of two distributions (1 = identical, 0 = disjoint)."""
    return float(np.minimum(p, q).sum())


def calibrated_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Style cosine mapped to [0, 1]: ``STYLE_COSINE_FLOOR`` → 0, identical → 1."""
    return float(np.clip((metrics.cosine(a, b) - STYLE_COSINE_FLOOR) / (1 - STYLE_COSINE_FLOOR), 0, 1))


def inscribed_square(image: Image.Image, mask: np.ndarray) -> Image.Image | None:
    """The largest square around the point deepest inside the mask that holds only the element's pixels
    (None when it would be smaller than ``MIN_ELEMENT_SQUARE``)."""
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    half = int(depth[y, x] / math.sqrt(2))
    if 2 * half < MIN_ELEMENT_SQUARE:
        return None
    return image.crop((int(x) - half, int(y) - half, int(x) + half, int(y) + half))


def texture_bands(rgb: np.ndarray) -> list[np.ndarray]:
    """|difference of Gaussians| of the Lab lightness at each of ``TEXTURE_SIGMAS`` (one map per scale)."""
    lightness = metrics.lab_image(rgb)[..., 0]
    return [
        np.abs(cv2.GaussianBlur(lightness, (0, 0), s) - cv2.GaussianBlur(lightness, (0, 0), 2 * s))
        for s in TEXTURE_SIGMAS
    ]


def texture_gap(rgb: np.ndarray, masks: Sequence[np.ndarray]) -> float:
    """How differently the regions are textured from their surroundings: per region, the distance between
    the log band energies (one per scale) inside it (its outline eroded away: seams are not texture) and
    in its surrounding ring (other regions excluded); the area-weighted mean. 0 = the same texture at
    every scale; 1 ≈ an e-fold energy difference at one scale. NaN when no region is big enough."""
    if not masks:
        return float("nan")
    bands = texture_bands(rgb)
    union = np.logical_or.reduce(list(masks))
    kernel = np.ones((5, 5), np.uint8)
    gaps, areas = [], []
    for mask in masks:
        inside = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        around = metrics.ring(mask) & ~union
        if inside.sum() < TEXTURE_MIN_PIXELS or around.sum() < TEXTURE_MIN_PIXELS:
            continue
        energy_in = np.log([b[inside].mean() + 1e-3 for b in bands])
        energy_out = np.log([b[around].mean() + 1e-3 for b in bands])
        gaps.append(float(np.linalg.norm(energy_in - energy_out)))
        areas.append(int(inside.sum()))
    return float(np.average(gaps, weights=areas)) if gaps else float("nan")


class Judge:
    """Scores reinterpretations of one painting; what depends only on the painting is computed once.

    Args:
        painting: the painting at the working size the results were made at.
        instances: the painting's elements (their classes are the scene the theme score reads).
        library: the cut-outs the results draw from (their photos give the context statistics).
        year: the painting's year; None = unknown (era fit neutral).
        style_model: Magenta style vectors; None scores style by harmony alone.
        saliency_model: visual weight; None uses the element masks as the weight map.
    """

    def __init__(
        self,
        painting: Image.Image,
        instances: Sequence[Instance],
        library: Sequence[Cutout],
        *,
        year: int | None,
        style_model: StyleModel | None,
        saliency_model: SaliencyModel | None,
    ) -> None:
        self.painting = painting.convert("RGB")
        self.pixels = np.asarray(self.painting)
        self.year = year
        self.eras = load_eras()
        self.scene = {i.class_name for i in instances if i.class_id != 0}
        self.context = Cooccurrence.from_cutouts(library)
        self.style_model = style_model
        self.saliency_model = saliency_model
        self.style_vector = style_model.style_vector(self.painting) if style_model is not None else None
        element_weight = np.zeros(self.pixels.shape[:2], dtype=np.float32)
        for instance in instances:
            element_weight[instance.mask] = 1.0
        self.weight = thirds_mass(self._saliency(self.painting, element_weight))
        self.lines = line_orientations(self.pixels)
        self._restyled: np.ndarray | None = None

    def _saliency(self, image: Image.Image, fallback: np.ndarray) -> np.ndarray:
        return self.saliency_model.saliency(image) if self.saliency_model is not None else fallback

    def restyled(self) -> np.ndarray:
        """The painting re-painted in its own style: the harmony reference of stylized results (so the
        contrast every style pass flattens is not held against the swaps), made once, when first needed."""
        if self._restyled is None:
            assert self.style_model is not None
            again = self.style_model.stylize(self.painting, self.painting).convert("RGB")
            self._restyled = np.asarray(again.resize(self.painting.size))
        return self._restyled

    def score(
        self, image: Image.Image, placed: Sequence[Placed], new_classes: Sequence[str], *, stylized: bool
    ) -> PertinenceScores:
        """Score one picture (a result or its collage) given what it pasted where and of which class."""
        picture = image.convert("RGB")
        if picture.size != self.painting.size:
            picture = picture.resize(self.painting.size, Image.Resampling.LANCZOS)
        pixels = np.asarray(picture)
        visible = _visible(placed)
        composition = self._composition(picture, pixels, placed, visible)
        style = self._style(picture, pixels, placed, visible, stylized)
        theme = self._theme(new_classes)
        parts = {**composition, **style, **theme}
        return PertinenceScores(
            composition=_mean(composition.values()),
            style=_mean(style.values()),
            theme=_mean(theme.values()),
            parts=parts,
        )

    def score_result(self, result: Reinterpretation) -> PertinenceScores:
        """Score a pipeline result by its trace (classes) and pasted silhouettes."""
        classes = [str(s.get("new_class", s.get("cutout_class", ""))) for s in result.trace.get("swaps", [])]
        return self.score(result.image, result.placed, classes, stylized=bool(result.trace.get("stylized")))

    def _composition(
        self, picture: Image.Image, pixels: np.ndarray, placed: Sequence[Placed], visible: list[np.ndarray]
    ) -> dict[str, float]:
        weight_map = np.zeros(pixels.shape[:2], dtype=np.float32)
        for mask in visible:
            weight_map[mask] = 1.0
        parts = {
            "visual_weight": overlap(
                thirds_mass(self._saliency(picture, weight_map)).ravel(), self.weight.ravel()
            ),
            "lines": overlap(line_orientations(pixels), self.lines),
        }
        if placed:
            ious = np.array([metrics.mask_iou(p.mask, p.instance.mask) for p in placed])
            shifts = np.array([metrics.centroid_shift(p.mask, p.instance.mask) for p in placed])
            parts["silhouettes"] = float(ious.mean())
            parts["centroids"] = float(np.clip(1 - shifts / CENTROID_FALLOFF, 0, 1).mean())
        return parts

    def _style(
        self,
        picture: Image.Image,
        pixels: np.ndarray,
        placed: Sequence[Placed],
        visible: list[np.ndarray],
        stylized: bool,
    ) -> dict[str, float]:
        parts: dict[str, float] = {}
        if self.style_model is not None and self.style_vector is not None:
            model, painting_vector = self.style_model, self.style_vector
            largest = sorted((m for m in visible if m.any()), key=lambda m: -int(m.sum()))[:STYLE_ELEMENTS]
            squares = [s for s in (inscribed_square(picture, m) for m in largest) if s is not None]
            if squares:
                parts["elements_style"] = _mean(
                    calibrated_cosine(model.style_vector(s), painting_vector) for s in squares
                )
        if placed:
            parts["texture"] = math.exp(-texture_gap(pixels, visible))
            reference = self.restyled() if stylized and self.style_model is not None else self.pixels
            gap = metrics.harmony_gap(pixels, visible, reference, [p.instance.mask for p in placed])
            if not math.isnan(gap) and gap > 0:
                parts["harmony"] = min(gap, 1 / gap)
        return parts or {"harmony": 1.0}

    def _theme(self, new_classes: Sequence[str]) -> dict[str, float]:
        if not new_classes:
            return {"era": 1.0, "context": 1.0}
        if self.year is None:
            era = UNKNOWN_ERA_SCORE
        else:
            year = self.year
            era = _mean(float(self.eras.existed(c, year)) for c in new_classes)
        return {"era": era, "context": _mean(self.context.fit(c, self.scene) for c in new_classes)}


def _visible(placed: Sequence[Placed]) -> list[np.ndarray]:
    """Each pasted silhouette minus what later pastes cover (pastes are drawn back to front)."""
    out: list[np.ndarray] = []
    if not placed:
        return out
    covered = np.zeros(placed[0].mask.shape, dtype=bool)
    for item in reversed(placed):
        out.append(item.mask & ~covered)
        covered |= item.mask
    return out[::-1]


def _mean(values: Iterable[float]) -> float:
    """Mean of the defined values; 1.0 (nothing to hold against the result) when there are none."""
    finite = [float(v) for v in values if not math.isnan(float(v))]
    return float(np.mean(finite)) if finite else 1.0


# --- best of N -----------------------------------------------------------------------------------------


def judge_for(
    pipeline: Pipeline, working: Image.Image, segmentation: Segmentation, year: int | None
) -> Judge:
    """The judge of one painting's results with the pipeline's own models (its Magenta stylizer when it
    has one, and the shipped salient-object model for visual weight)."""
    from lamuse.pipeline import usable_instances
    from lamuse.segment.salient import SalientSegmenter
    from lamuse.style.base import MagentaStylizer

    return Judge(
        working,
        usable_instances(segmentation.instances, working.size),
        pipeline.library.cutouts,
        year=year,
        style_model=pipeline.stylizer if isinstance(pipeline.stylizer, MagentaStylizer) else None,
        saliency_model=SalientSegmenter(),
    )


def best_of(
    pipeline: Pipeline,
    painting: Image.Image,
    judge: Judge,
    *,
    name: str,
    options: ReinterpretOptions,
    variation: int = 0,
    segmentation: Segmentation | None = None,
    style: Image.Image | None = None,
    style_name: str | None = None,
    cutout_weights: Mapping[str, float] | None = None,
    background_weights: Mapping[str, float] | None = None,
    avoid_cutouts: Collection[str] = (),
    earlier: Sequence[tuple[str, ...]] | None = None,
) -> Reinterpretation:
    """Make ``options.candidates`` results of one variation (candidate 0 is the plain variation), keep the
    best by ``total`` (the first on a tie) among those that fit the silhouettes at least as well as
    candidate 0 (more candidates never cost fit), and record every candidate's scores in
    ``trace["pertinence"]``.

    The other arguments go to ``Pipeline.reinterpret`` unchanged; pass ``segmentation`` so the painting is
    segmented once (the style vector is cached by the stylizer). Every candidate avoids the cut-outs of
    variations 0..k-1 (their plain variation's: ``Pipeline.assignments``, computed once here when
    ``earlier`` is None).
    """
    if earlier is None:
        earlier = pipeline.assignments(
            painting,
            name=name,
            count=variation,
            options=options,
            segmentation=segmentation,
            cutout_weights=cutout_weights,
            avoid_cutouts=avoid_cutouts,
        )
    results = [
        pipeline.reinterpret(
            painting,
            name=name,
            options=options,
            variation=variation,
            candidate=c,
            segmentation=segmentation,
            style=style,
            style_name=style_name,
            cutout_weights=cutout_weights,
            background_weights=background_weights,
            avoid_cutouts=avoid_cutouts,
            earlier=earlier,
        )
        for c in range(max(1, options.candidates))
    ]
    scores = [judge.score_result(r) for r in results]
    floor = scores[0].parts.get("silhouettes", 0.0)
    eligible = [i for i, s in enumerate(scores) if s.parts.get("silhouettes", 0.0) >= floor]
    chosen = max(eligible, key=lambda i: scores[i].total)
    best = scores[chosen].record()
    pertinence = PertinenceTrace(
        composition=best["composition"],
        style=best["style"],
        theme=best["theme"],
        total=best["total"],
        chosen=chosen,
        candidates=[s.record() for s in scores],
    )
    return replace(results[chosen], trace={**results[chosen].trace, "pertinence": pertinence})
