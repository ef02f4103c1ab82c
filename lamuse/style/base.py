"""Shared stylization logic: geometry, style-vector cache, strength and colour preservation.

Backends only implement the two network calls (``_predict`` and ``_transform``); everything a caller can
observe (sizes, strength, keep_colors, caching) lives here so the backends cannot drift apart.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lamuse.errors import ImageError
from lamuse.style.weights import STYLE_PREDICTOR, STYLE_TRANSFORMER
from lamuse.weights import resolve

log = logging.getLogger(__name__)

STYLE_INPUT_SIZE = 256
MIN_TRANSFORM_SIDE = 16
"""Smallest side the style transformer runs on: it reflect-pads by 1 px at 1/4 scale, so each side needs a
few pixels there (io.MIN_SIDE is the smallest image accepted at all)."""
DEFAULT_SIZE = 1024
DEFAULT_CACHE_SIZE = 32


def style_input(image: Image.Image) -> np.ndarray:
    """(1, 256, 256, 3) float32 in [0, 1]: central square crop + Lanczos, the predictor's fixed input."""
    rgb = image.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    square = square.resize((STYLE_INPUT_SIZE, STYLE_INPUT_SIZE), Image.Resampling.LANCZOS)
    return (np.asarray(square, dtype=np.float32) / 255.0)[None]


def keep_chroma(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Lightness from ``stylized``, a/b chroma from ``content`` (both HxWx3 float32 RGB in [0, 1])."""
    lab_stylized = cv2.cvtColor(stylized, cv2.COLOR_RGB2Lab)
    lab = cv2.cvtColor(content, cv2.COLOR_RGB2Lab)
    lab[..., 0] = lab_stylized[..., 0]
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)


class MagentaStylizer(ABC):
    """Magenta arbitrary stylization: any painting as style, content at native resolution.

    Content is processed at its own size, downscaled only when its long side exceeds ``size``; the result
    always has the content's size. Style vectors are cached per style image (hash of its pixels) in a small
    LRU, so re-painting many collages in one painting's style predicts that style once. Thread-safe:
    the cache is locked and inference keeps no per-call state on the instance.
    """

    name: str
    model_files: dict[str, Path]

    def __init__(
        self,
        *,
        size: int = DEFAULT_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        predictor_path: Path | None = None,
        transformer_path: Path | None = None,
    ) -> None:
        if size < MIN_TRANSFORM_SIDE:
            raise ValueError(f"size must be at least {MIN_TRANSFORM_SIDE}, got {size}")
        self.model_files = {
            "style_predictor": resolve(STYLE_PREDICTOR, local_path=predictor_path),
            "style_transformer": resolve(STYLE_TRANSFORMER, local_path=transformer_path),
        }
        self.size = size
        self._cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    @abstractmethod
    def _predict(self, style: np.ndarray) -> np.ndarray:
        """(1, 256, 256, 3) float32 in [0, 1] -> (100,) float32 style vector."""

    @abstractmethod
    def _transform(self, content: np.ndarray, style_vector: np.ndarray) -> np.ndarray:
        """(1, H, W, 3) float32 in [0, 1], H and W multiples of 4 -> (1, H, W, 3) float32 in [0, 1]."""

    def style_vector(self, image: Image.Image) -> np.ndarray:
        """The painting's 100-d Magenta style vector (float32), from the cache when seen before."""
        rgb = image.convert("RGB")
        key = f"{rgb.size}:{hashlib.blake2b(rgb.tobytes(), digest_size=16).hexdigest()}"
        with self._lock:
            if (cached := self._cache.get(key)) is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return cached.copy()
            self.cache_misses += 1
        vector = np.asarray(self._predict(style_input(rgb)), dtype=np.float32).reshape(-1)
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector.copy()

    def stylize(
        self, content: Image.Image, style: Image.Image, *, strength: float = 1.0, keep_colors: bool = False
    ) -> Image.Image:
        """Re-paint ``content`` in ``style``'s manner; strength 0 keeps the content's own style vector."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        rgb = content.convert("RGB")
        if min(rgb.size) < MIN_TRANSFORM_SIDE:
            raise ImageError(f"image is too small to stylize ({rgb.width}x{rgb.height})", reason="too_small")
        work = rgb
        if max(rgb.size) > self.size:
            scale = self.size / max(rgb.size)
            work_size = (
                max(MIN_TRANSFORM_SIDE, round(rgb.width * scale)),
                max(MIN_TRANSFORM_SIDE, round(rgb.height * scale)),
            )
            log.debug("stylizing %s at %s (size cap %d)", rgb.size, work_size, self.size)
            work = rgb.resize(work_size, Image.Resampling.LANCZOS)

        vector = self.style_vector(style)
        if strength < 1.0:
            vector = strength * vector + (1.0 - strength) * self.style_vector(work)

        pixels = np.asarray(work, dtype=np.float32) / 255.0
        height, width = pixels.shape[:2]
        padded = np.pad(pixels, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        out = self._transform(padded[None], vector.astype(np.float32))[0, :height, :width]
        out = np.clip(out, 0.0, 1.0)
        if keep_colors:
            out = keep_chroma(np.ascontiguousarray(out), pixels)
        result = Image.fromarray((out * 255.0 + 0.5).astype(np.uint8))
        if result.size != rgb.size:
            result = result.resize(rgb.size, Image.Resampling.LANCZOS)
        return result
