"""Mask helpers every segmenter shares: tight boxes and building Instances from bool masks."""

from __future__ import annotations

import numpy as np

from lamuse.shapes import mask_box
from lamuse.types import Instance


def make_instance(class_id: int, class_name: str, score: float, mask: np.ndarray) -> Instance | None:
    """An Instance whose box is the mask's tight box; None for an empty mask (nothing to cut out)."""
    mask = np.asarray(mask, dtype=bool)
    box = mask_box(mask)
    if box is None:
        return None
    return Instance(class_id=class_id, class_name=class_name, score=float(score), mask=mask, box=box)
