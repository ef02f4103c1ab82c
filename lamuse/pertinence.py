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
"""The largest new elements whose squares are read by the style predictor (two predictions each)."""
MIN_STYLE_SQUARE = 64
"""Smallest side in pixels of the square the style predictor reads around an element."""
MAX_SCENE_SHARE_IN_SQUARE = 0.5
"""The scene square compared with an element's is skipped when new elements fill more than this of it."""
TEXTURE_SIGMAS = (0.7, 1.4, 2.8, 5.6)
"""Scales (Gaussian sigma, px) of the difference-of-Gaussian bands a patch's texture is described by:
from photographic grain and sharp focus to brush strokes."""
PATCH_FRACTION = 1 / 20
"""Side of a brushwork patch as a share of the picture's long side (about 25 px at 512)."""
NEW_PATCH_SHARE = 0.75
"""A patch belongs to the new elements when they cover at least this share of it…"""
SCENE_PATCH_SHARE = 0.05
"""…and to the scene when they cover at most this share."""
MIN_SCENE_PATCHES = 5
LOOKALIKE_QUANTILE = 0.9
"""A new patch has a look-alike in the scene when its nearest scene patch is no farther than this
quantile of the scene patches' own nearest-neighbour distances."""
PALETTE_BINS = (8, 16, 16)
"""Lab histogram of the palette score: L in 8 bins over 0-100, a and b in 16 over -80..80."""
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
    """What the style score needs: Magenta style vectors."""

    def style_vector(self, image: Image.Image) -> np.ndarray: ...


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


def line_orientations(lab: np.ndarray) -> np.ndarray:
    """Histogram (sums to 1) of the orientations of the strongest edges of a Lab picture
    (``metrics.lab_image``), weighted by strength."""
    lightness = lab[..., 0]
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


def square_around(mask: np.ndarray) -> tuple[int, int, int] | None:
    """(x, y, side) of the square centred on the mask's box and as wide as its longer side (at least
    ``MIN_STYLE_SQUARE``, at most the picture's shorter side); None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    height, width = mask.shape
    side = min(max(int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1, MIN_STYLE_SQUARE), height, width)
    centre_y, centre_x = (int(ys.min()) + int(ys.max())) // 2, (int(xs.min()) + int(xs.max())) // 2
    y = int(np.clip(centre_y - side // 2, 0, height - side))
    x = int(np.clip(centre_x - side // 2, 0, width - side))
    return x, y, side


def least_covered_square(covered: np.ndarray, side: int) -> tuple[int, int, float]:
    """(x, y, share) of the side × side window that ``covered`` fills least: the picture's own scene at
    that scale, and how much of it is covered after all."""
    integral = cv2.integral(covered.astype(np.uint8)).astype(np.int64)
    ii = integral
    sums = ii[side:, side:] - ii[:-side, side:] - ii[side:, :-side] + ii[:-side, :-side]
    y, x = np.unravel_index(int(np.argmin(sums)), sums.shape)
    return int(x), int(y), float(sums[y, x]) / side**2


def patch_textures(lab: np.ndarray, covered: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Every side × side patch (half-overlapping) of a Lab picture described by its texture, with how
    much of it ``covered`` fills: ((n, 7) features, (n,) shares). The features are the log mean energies
    of the difference-of-Gaussian bands of the lightness at ``TEXTURE_SIGMAS`` and the spread (std) of
    L, a and b inside the patch: brushwork and its colour variation, not what the patch depicts."""
    lightness = lab[..., 0]
    bands = [
        np.abs(cv2.GaussianBlur(lightness, (0, 0), s) - cv2.GaussianBlur(lightness, (0, 0), 2 * s))
        for s in TEXTURE_SIGMAS
    ]
    height, width = covered.shape
    step = max(1, side // 2)
    centres_y = np.arange(0, height - side + 1, step) + side // 2
    centres_x = np.arange(0, width - side + 1, step) + side // 2
    grid = np.ix_(centres_y, centres_x)

    def box_mean(values: np.ndarray) -> np.ndarray:
        blurred = np.asarray(cv2.blur(values.astype(np.float32), (side, side)))
        return np.asarray(blurred[grid]).ravel()

    features = [np.log(box_mean(band) + 1e-3) for band in bands]
    for channel in range(3):
        mean = box_mean(lab[..., channel])
        square = box_mean(lab[..., channel] ** 2)
        features.append(np.sqrt(np.maximum(square - mean**2, 0.0)))
    return np.stack(features, axis=1), box_mean(covered)


def brushwork_coherence(lab: np.ndarray, covered: np.ndarray) -> float:
    """Share of the new elements' patches that have a look-alike among the scene's patches (see
    ``patch_textures`` and ``LOOKALIKE_QUANTILE``; features scaled by the scene's spread). 1: no patch
    of the new elements (``covered``) could be told from the rest of the Lab picture by its brushwork;
    NaN when the new elements fill no whole patch or the scene has too few."""
    side = max(8, round(PATCH_FRACTION * max(covered.shape)))
    features, shares = patch_textures(lab, covered, side)
    new, scene = features[shares >= NEW_PATCH_SHARE], features[shares <= SCENE_PATCH_SHARE]
    if len(new) == 0 or len(scene) < MIN_SCENE_PATCHES:
        return float("nan")
    scale = scene.std(axis=0) + 1e-6
    new, scene = new / scale, scene / scale
    among_scene = _squared_distances(scene, scene)
    np.fill_diagonal(among_scene, np.inf)
    typical = np.quantile(among_scene.min(axis=1), LOOKALIKE_QUANTILE)
    return float((_squared_distances(new, scene).min(axis=1) <= typical).mean())


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, without the (n, m, d) broadcast."""
    return np.asarray(
        np.maximum((a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2.0 * a @ b.T, 0.0)
    )


def lab_histogram(lab_pixels: np.ndarray) -> np.ndarray:
    """Normalised ``PALETTE_BINS`` histogram of (n, 3) Lab colours."""
    lightness_bins, *chroma_bins = PALETTE_BINS
    edges = [np.linspace(0, 100, lightness_bins + 1)] + [np.linspace(-80, 80, n + 1) for n in chroma_bins]
    histogram, _ = np.histogramdd(np.clip(lab_pixels, [0, -80, -80], [100, 80, 80]), bins=edges)
    total = histogram.sum()
    return histogram / total if total > 0 else histogram


class Judge:
    """Scores reinterpretations of one painting; what depends only on the painting is computed once.

    Args:
        painting: the painting at the working size the results were made at.
        instances: the painting's elements (their classes are the scene the theme score reads).
        library: the cut-outs the results draw from (their photos give the context statistics).
        year: the painting's year; None = unknown (era fit neutral).
        style_model: Magenta style vectors; None scores style by brushwork and palette alone.
        saliency_model: visual weight; None uses the element masks as the weight map.
        painting_saliency: the painting's saliency map when it was already computed (a segmentation's
            ``saliency`` at this size), so the painting is not run through the model again.
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
        painting_saliency: np.ndarray | None = None,
    ) -> None:
        self.painting = painting.convert("RGB")
        self.pixels = np.asarray(self.painting)
        self.year = year
        self.eras = load_eras()
        self.scene = {i.class_name for i in instances if i.class_id != 0}
        self.context = Cooccurrence.from_cutouts(library)
        self.style_model = style_model
        self.saliency_model = saliency_model
        lab = metrics.lab_image(self.pixels)
        self.palette = lab_histogram(lab.reshape(-1, 3))
        element_weight = np.zeros(self.pixels.shape[:2], dtype=np.float32)
        for instance in instances:
            element_weight[instance.mask] = 1.0
        weight = painting_saliency
        if saliency_model is None or weight is None or weight.shape != element_weight.shape:
            weight = self._saliency(self.painting, element_weight)
        self.weight = thirds_mass(weight)
        self.lines = line_orientations(lab)

    def _saliency(self, image: Image.Image, fallback: np.ndarray) -> np.ndarray:
        return self.saliency_model.saliency(image) if self.saliency_model is not None else fallback

    def score(
        self, image: Image.Image, placed: Sequence[Placed], new_classes: Sequence[str]
    ) -> PertinenceScores:
        """Score one picture (a result or its collage) given what it pasted where and of which class."""
        picture = image.convert("RGB")
        if picture.size != self.painting.size:
            picture = picture.resize(self.painting.size, Image.Resampling.LANCZOS)
        lab = metrics.lab_image(np.asarray(picture))
        visible = _visible(placed)
        composition = self._composition(picture, lab, placed, visible)
        style = self._style(picture, lab, visible)
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
        return self.score(result.image, result.placed, classes)

    def _composition(
        self, picture: Image.Image, lab: np.ndarray, placed: Sequence[Placed], visible: list[np.ndarray]
    ) -> dict[str, float]:
        weight_map = np.zeros(lab.shape[:2], dtype=np.float32)
        for mask in visible:
            weight_map[mask] = 1.0
        parts = {
            "visual_weight": overlap(
                thirds_mass(self._saliency(picture, weight_map)).ravel(), self.weight.ravel()
            ),
            "lines": overlap(line_orientations(lab), self.lines),
        }
        if placed:
            ious = np.array([metrics.mask_iou(p.mask, p.instance.mask) for p in placed])
            shifts = np.array([metrics.centroid_shift(p.mask, p.instance.mask) for p in placed])
            parts["silhouettes"] = float(ious.mean())
            parts["centroids"] = float(np.clip(1 - shifts / CENTROID_FALLOFF, 0, 1).mean())
        return parts

    def _style(self, picture: Image.Image, lab: np.ndarray, visible: list[np.ndarray]) -> dict[str, float]:
        visible = [m for m in visible if m.any()]
        if not visible:
            return {}
        covered = np.logical_or.reduce(visible)
        parts = {"brushwork": brushwork_coherence(lab, covered)}
        parts["palette"] = overlap(lab_histogram(lab[covered]).ravel(), self.palette.ravel())
        if self.style_model is not None:
            parts["elements_style"] = _mean(self._element_style(picture, covered, visible))
        return {k: v for k, v in parts.items() if not math.isnan(v)}

    def _element_style(
        self, picture: Image.Image, covered: np.ndarray, visible: list[np.ndarray]
    ) -> Iterable[float]:
        """Per large new element, the Magenta style of the square around it against that of the square
        of the same size that the new elements cover least: is it painted like the rest of the picture?"""
        assert self.style_model is not None
        for mask in sorted(visible, key=lambda m: -int(m.sum()))[:STYLE_ELEMENTS]:
            square = square_around(mask)
            if square is None:
                continue
            x, y, side = square
            scene_x, scene_y, share = least_covered_square(covered, side)
            if share > MAX_SCENE_SHARE_IN_SQUARE:
                continue
            element = self.style_model.style_vector(picture.crop((x, y, x + side, y + side)))
            scene = self.style_model.style_vector(
                picture.crop((scene_x, scene_y, scene_x + side, scene_y + side))
            )
            yield calibrated_cosine(element, scene)

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
        painting_saliency=segmentation.saliency,
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
