"""Reference runner: the shipped ncnn graphs on ncnn's CPU path (parity reference and a backend)."""

from __future__ import annotations

import logging
from pathlib import Path

import ncnn
import numpy as np

from lamuse.upscale.base import DEFAULT_OVERLAP, DEFAULT_TILE, TiledUpscaler
from lamuse.upscale.weights import BINS, PARAMS
from lamuse.weights import resolve

log = logging.getLogger(__name__)


class RealEsrganNcnnUpscaler(TiledUpscaler):
    """realesr-animevideov3 x2/x4 run by ncnn itself (no Vulkan; 1 thread is fastest on this CPU)."""

    name = "realesr-animevideov3-ncnn"

    def __init__(self, *, threads: int = 1, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> None:
        self.tile, self.overlap = tile, overlap
        self.model_files: dict[str, Path] = {}
        self._nets: dict[int, ncnn.Net] = {}
        for scale in (2, 4):
            param, weights = resolve(PARAMS[scale]), resolve(BINS[scale])
            self.model_files[f"x{scale}_param"], self.model_files[f"x{scale}_bin"] = param, weights
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = threads
            if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
                raise RuntimeError(f"ncnn could not load {param} / {weights}")
            self._nets[scale] = net

    def run_tile(self, pixels: np.ndarray, scale: int) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] -> (H*scale, W*scale, 3) float32, one ncnn extraction."""
        chw = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        mat = ncnn.Mat(chw)  # wraps chw without copying: chw must outlive the extraction
        extractor = self._nets[scale].create_extractor()
        extractor.input("data", mat)
        status, out = extractor.extract("output")
        if status != 0:
            raise RuntimeError(f"ncnn extraction failed with status {status}")
        return np.array(out).transpose(1, 2, 0)
