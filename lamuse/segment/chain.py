"""Try segmenters in order and keep the first that finds something, saying which one answered."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from lamuse.segment.maskrcnn import MaskRCNNSegmenter, OnDemandDetector
from lamuse.segment.salient import SalientSegmenter
from lamuse.types import FramedSaliency, Instance, Segmentation, Segmenter

if TYPE_CHECKING:
    from lamuse.segment.selfie import PersonSegmenter

log = logging.getLogger(__name__)


class ChainSegmenter:
    """Curated masks when they exist, a detector when it is available, salient shapes as the last resort.

    When the chain holds a salient segmenter, every answer carries the image's saliency map (one U²-Net-p
    pass, reused when the salient segmenter answers) and maps framed on its largest elements, which
    removal uses to take an element's attached parts (hats, handles) with it; with a ``heads`` person
    segmenter, person maps of crops framed on its figures' heads, for what they wear.
    """

    name = "chain"

    def __init__(self, segmenters: Sequence[Segmenter], *, heads: PersonSegmenter | None = None) -> None:
        if not segmenters:
            raise ValueError("a segmenter chain needs at least one segmenter")
        self.segmenters = list(segmenters)
        self.heads = heads
        self._salient = next((s for s in self.segmenters if isinstance(s, SalientSegmenter)), None)

    def _detector_available(self) -> bool:
        return any(
            isinstance(s, MaskRCNNSegmenter) or (isinstance(s, OnDemandDetector) and s.available)
            for s in self.segmenters
        )

    def run(self, image: Image.Image, *, name: str | None = None) -> Segmentation:
        """The first non-empty answer; if all are empty, an empty one from the last segmenter."""
        saliency = self._salient.saliency(image) if self._salient is not None else None
        for segmenter in self.segmenters:
            if segmenter is self._salient and saliency is not None:
                instances = self._salient.instances(saliency)
            else:
                instances = segmenter.segment(image, name=name)
            log.debug("%s found %d instances", segmenter.name, len(instances))
            if instances:
                heads = self._heads(image, instances)
                head_files = self.heads.model_files if self.heads is not None and heads else {}
                return Segmentation(
                    segmenter=segmenter.name,
                    instances=instances,
                    model_files={**segmenter.model_files, **head_files},
                    saliency=saliency,
                    framed=(
                        self._salient.framed(image, instances, saliency)
                        if self._salient is not None and saliency is not None
                        else {}
                    ),
                    heads=heads,
                    detector_available=self._detector_available(),
                )
        last = self.segmenters[-1]
        return Segmentation(
            segmenter=last.name,
            instances=[],
            model_files=last.model_files,
            saliency=saliency,
            detector_available=self._detector_available(),
        )

    def _heads(self, image: Image.Image, instances: list[Instance]) -> dict[int, FramedSaliency]:
        if self.heads is None:
            return {}
        return self.heads.heads(np.asarray(image.convert("RGB")), instances)

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """The ``Segmenter`` protocol: ``run(image, name=name).instances``."""
        return self.run(image, name=name).instances

    @property
    def model_files(self) -> Mapping[str, Path]:
        """Nothing of its own: each answer names the files of the segmenter that gave it."""
        return {}
