"""Mask helpers every segmenter shares: tight boxes and building Instances from bool masks."""

from __future__ import annotations

import numpy as np

from lamuse.types import Box, Instance


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight ``(x0, y0, x1, y1)`` box of a bool mask, x1/y1 exclusive; None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def make_instance(class_id: int, class_name: str, score: float, mask: np.ndarray) -> Instance | None:
    """An Instance whose box is the mask's tight box; None for an empty mask (nothing to cut out)."""
    mask = np.asarray(mask, dtype=bool)
    box = mask_box(mask)
    if box is None:
        return None
    return Instance(class_id=class_id, class_name=class_name, score=float(score), mask=mask, box=box)
