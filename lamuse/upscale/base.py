"""Pieces every upscaler shares: scale validation, tiled inference and the Lanczos baseline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SCALES = (1, 2, 4)
DEFAULT_TILE = 512  # measured: fewer, larger tiles win (overlap is recomputed per tile)
# SRVGGNetCompact's receptive field is 18 px each side (18 stacked 3x3 convs); with this much context a
# tile's core equals the untiled result.
DEFAULT_OVERLAP = 20

TileFn = Callable[[np.ndarray], np.ndarray]
"""(H, W, 3) float32 RGB in [0, 1] -> (H*s, W*s, 3) float32."""


def check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    return scale


def _balanced_step(length: int, tile: int) -> int:
    """Equal tiles of at most ``tile``: 600 px gives 2x300, not 512 + a costly 88 px sliver."""
    count = -(-length // tile)
    return -(-length // count)


def tiled(run: TileFn, pixels: np.ndarray, scale: int, *, tile: int, overlap: int) -> np.ndarray:
    """Run ``run`` on overlapping tiles and stitch the cores into a uint8 (H*s, W*s, 3) array.

    Memory stays flat at any size: only one padded tile of activations exists at a time, and the result
    is written as uint8.
    """
    height, width = pixels.shape[:2]
    step_y, step_x = _balanced_step(height, tile), _balanced_step(width, tile)
    out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
    for y0 in range(0, height, step_y):
        for x0 in range(0, width, step_x):
            y1, x1 = min(y0 + step_y, height), min(x0 + step_x, width)
            py0, px0 = max(y0 - overlap, 0), max(x0 - overlap, 0)
            py1, px1 = min(y1 + overlap, height), min(x1 + overlap, width)
            result = run(np.ascontiguousarray(pixels[py0:py1, px0:px1]))
            core = result[(y0 - py0) * scale : (y1 - py0) * scale, (x0 - px0) * scale : (x1 - px0) * scale]
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = np.clip(core * 255.0 + 0.5, 0, 255)
    return out


def to_pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


class TiledUpscaler(ABC):
    """A learned upscaler run tile by tile with overlap, so memory stays flat at any image size."""

    tile: int
    overlap: int

    @abstractmethod
    def run_tile(self, pixels: np.ndarray, scale: int) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] -> (H*scale, W*scale, 3) float32."""

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        if check_scale(scale) == 1:
            return image
        out = tiled(
            lambda tile: self.run_tile(tile, scale),
            to_pixels(image),
            scale,
            tile=self.tile,
            overlap=self.overlap,
        )
        return Image.fromarray(out)


class LanczosUpscaler:
    """Pillow Lanczos: the fast baseline learned upscalers are compared with; only chosen by name."""

    name = "lanczos"

    def __init__(self) -> None:
        self.model_files: dict[str, Path] = {}

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        if check_scale(scale) == 1:
            return image
        return image.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
