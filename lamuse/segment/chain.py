"""Try segmenters in order and keep the first that finds something, saying which one answered."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PIL import Image

from lamuse.types import Instance, Segmentation, Segmenter

log = logging.getLogger(__name__)


class ChainSegmenter:
    """Curated masks when they exist, a detector when it is available, saliency as the last resort."""

    name = "chain"

    def __init__(self, segmenters: Sequence[Segmenter]) -> None:
        if not segmenters:
            raise ValueError("a segmenter chain needs at least one segmenter")
        self.segmenters = list(segmenters)

    def run(self, image: Image.Image, *, name: str | None = None) -> Segmentation:
        """The first non-empty answer; if all are empty, an empty one from the last segmenter."""
        for segmenter in self.segmenters:
            instances = segmenter.segment(image, name=name)
            log.debug("%s found %d instances", segmenter.name, len(instances))
            if instances:
                files = segmenter.model_files
                return Segmentation(segmenter=segmenter.name, instances=instances, model_files=files)
        last = self.segmenters[-1]
        return Segmentation(segmenter=last.name, instances=[], model_files=last.model_files)

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]:
        """The ``Segmenter`` protocol: ``run(image, name=name).instances``."""
        return self.run(image, name=name).instances
