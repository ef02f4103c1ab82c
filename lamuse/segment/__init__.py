"""Segment stage: find the elements of a painting (curated masks, Mask R-CNN, or salient shapes).

Importing this package is cheap: torch is only imported when a Mask R-CNN or person segmenter is built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lamuse.errors import WeightsUnavailable
from lamuse.segment.annotations import AnnotationSegmenter, CocoAnnotations
from lamuse.segment.chain import ChainSegmenter
from lamuse.segment.maskrcnn import MaskRCNNSegmenter, OnDemandDetector, Version, fetch_weights
from lamuse.segment.salient import SPLIT_RELATIVE_AREA, SalientSegmenter
from lamuse.types import Segmenter
from lamuse.weights import Progress, offline_requested

if TYPE_CHECKING:
    from lamuse.segment.selfie import PersonSegmenter

log = logging.getLogger(__name__)


def default_chain(
    annotations: Sequence[Path] | None = None,
    maskrcnn_weights: Path | None = None,
    *,
    device: str = "auto",
    maskrcnn_version: Version = "v2",
    score_threshold: float = 0.5,
    offline: bool = False,
    progress: Progress | None = None,
) -> ChainSegmenter:
    """annotations (if any files) → Mask R-CNN → salient shapes (split into bodies), with MediaPipe's
    selfie network framed on the figures' heads (what they wear goes with them when they are cleared).

    Mask R-CNN uses ``maskrcnn_weights`` when given, else torchvision's cached weights; when they are not
    cached it fetches them on the first painting that needs a detector (reporting to ``progress``),
    unless ``offline`` or ``$LAMUSE_OFFLINE`` forbids it.
    """
    chain: list[Segmenter] = []
    if annotations:
        chain.append(AnnotationSegmenter(list(annotations)))
    version = maskrcnn_version
    if maskrcnn_weights is not None:
        chain.append(
            MaskRCNNSegmenter(version, maskrcnn_weights, device=device, score_threshold=score_threshold)
        )
    elif MaskRCNNSegmenter.is_available(version, "DEFAULT"):
        chain.append(
            MaskRCNNSegmenter(
                version, "DEFAULT", device=device, allow_download=False, score_threshold=score_threshold
            )
        )
    elif not (offline or offline_requested()):
        chain.append(
            OnDemandDetector(version, device=device, score_threshold=score_threshold, progress=progress)
        )
    else:
        log.info("offline and no Mask R-CNN %s weights cached: no object detector", version)
    chain.append(SalientSegmenter(split_shapes=True, relative_area=SPLIT_RELATIVE_AREA))
    return ChainSegmenter(chain, heads=_person_segmenter(device))


def _person_segmenter(device: str) -> PersonSegmenter | None:
    """The selfie network (it imports torch); None, with a warning, when its file is not installed."""
    from lamuse.segment.selfie import PersonSegmenter

    try:
        return PersonSegmenter(device=device)
    except WeightsUnavailable as error:
        log.warning(
            "no person segmenter (%s): hats that masks leave out stay when figures are swapped", error
        )
        return None


__all__ = [
    "AnnotationSegmenter",
    "ChainSegmenter",
    "CocoAnnotations",
    "MaskRCNNSegmenter",
    "OnDemandDetector",
    "SalientSegmenter",
    "default_chain",
    "fetch_weights",
]
