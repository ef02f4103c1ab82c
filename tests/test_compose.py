"""Compositing: clearing elements keeps the painting's surface, colours move toward the region's."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from lamuse.compose import cover, match_colours, remove_elements


def _striped(height: int = 240, width: int = 320) -> np.ndarray:
    """A brush-stroke-like texture: fine diagonal stripes over a smooth gradient."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = 90 + 60 * xx / width
    strokes = 35 * np.sin((xx + yy) / 2.0)
    grey = np.clip(base + strokes, 0, 255).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def _detail(image: np.ndarray, region: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[region].mean())


def test_removed_element_leaves_textured_background_and_nothing_else_changes() -> None:
    """The hole is filled with the surface's own fine texture (not a flat patch); far pixels are untouched."""
    painting = _striped()
    hole = np.zeros(painting.shape[:2], bool)
    hole[80:160, 120:180] = True
    painting[hole] = (200, 30, 30)  # a red element to remove
    cleared = remove_elements(painting, [hole])
    inner = np.zeros_like(hole)
    inner[95:145, 135:165] = True
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool) & ~cv2.dilate(
        hole.astype(np.uint8), np.ones((21, 21), np.uint8)
    ).astype(bool)
    assert np.abs(cleared[inner].astype(int) - (200, 30, 30)).mean() > 60  # the red is gone
    assert _detail(cleared, inner) > 0.5 * _detail(cleared, ring)  # strokes continue through the hole
    far = ~cv2.dilate(hole.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    assert np.array_equal(cleared[far], painting[far])


def test_colour_match_moves_toward_the_region() -> None:
    """A blue patch matched to a warm region ends up warmer, keeping some of its own variation."""
    rng = np.random.default_rng(0)
    blue = np.clip(rng.normal((40, 60, 200), 10, (500, 3)), 0, 255).astype(np.uint8)
    warm = np.clip(rng.normal((200, 120, 60), 20, (500, 3)), 0, 255).astype(np.uint8)
    matched = match_colours(blue, warm).astype(float)
    assert matched[:, 0].mean() > 120 and matched[:, 2].mean() < 140
    assert matched.std(axis=0).mean() > 5


def test_cover_fills_without_distortion() -> None:
    """A wide background covering a tall frame is cropped, not squeezed."""
    wide = Image.fromarray(np.tile(np.arange(200, dtype=np.uint8), (100, 1)), "L").convert("RGB")
    covered = cover(wide, (50, 100))
    assert covered.shape == (100, 50, 3)
    # Scaled ×1 vertically, so columns keep their 1-px ramp step: cropped from the middle, not squeezed.
    assert np.all(np.diff(covered[0, :, 0].astype(int)) == 1)
