"""Segment stage: find the elements of a painting (curated masks, Mask R-CNN, or salient objects).

Importing this package is cheap: torch is only imported when a Mask R-CNN segmenter is built.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamuse.segment.annotations import AnnotationSegmenter, CocoAnnotations
from lamuse.segment.chain import ChainSegmenter
from lamuse.segment.maskrcnn import MaskRCNNSegmenter, Version
from lamuse.segment.salient import SalientSegmenter
from lamuse.types import Segmenter

log = logging.getLogger(__name__)

_REGISTRY: dict[str, tuple[str, str]] = {
    "annotations": ("lamuse.segment.annotations", "AnnotationSegmenter"),
    "maskrcnn": ("lamuse.segment.maskrcnn", "MaskRCNNSegmenter"),
    "salient": ("lamuse.segment.salient", "SalientSegmenter"),
}


def segmenter_names() -> list[str]:
    return sorted(_REGISTRY)


def create_segmenter(name: str, **kwargs: Any) -> Segmenter:
    """Build the segmenter registered as ``name`` with its constructor's keyword arguments."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown segmenter {name!r}; valid names: {', '.join(segmenter_names())}")
    module, attr = _REGISTRY[name]
    segmenter: Segmenter = getattr(importlib.import_module(module), attr)(**kwargs)
    return segmenter


def default_chain(
    annotations: Sequence[Path] | None = None,
    maskrcnn_weights: Path | None = None,
    *,
    device: str = "auto",
    maskrcnn_version: Version = "v2",
    score_threshold: float = 0.5,
) -> ChainSegmenter:
    """annotations (if any files) → Mask R-CNN (if its weights are given or cached: never downloads here;
    `lamuse weights fetch` does) → salient objects."""
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
    else:
        log.info("no Mask R-CNN %s weights offline; the chain skips it", version)
    chain.append(SalientSegmenter())
    return ChainSegmenter(chain)


__all__ = [
    "AnnotationSegmenter",
    "ChainSegmenter",
    "CocoAnnotations",
    "MaskRCNNSegmenter",
    "SalientSegmenter",
    "create_segmenter",
    "default_chain",
    "segmenter_names",
]
