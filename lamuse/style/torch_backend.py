"""Torch backend: the fp32 port of both networks, the way onto a GPU."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from lamuse.devices import torch_device
from lamuse.style.base import DEFAULT_CACHE_SIZE, DEFAULT_SIZE, MagentaStylizer
from lamuse.style.models import magenta_style_predictor, magenta_transformer

log = logging.getLogger(__name__)


class MagentaTorchStylizer(MagentaStylizer):
    """Magenta arbitrary stylization with the torch port (weights dequantized from the shipped graphs)."""

    name = "magenta-torch"

    def __init__(
        self,
        *,
        device: str = "auto",
        size: int = DEFAULT_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        predictor_path: Path | None = None,
        transformer_path: Path | None = None,
    ) -> None:
        super().__init__(
            size=size, cache_size=cache_size, predictor_path=predictor_path, transformer_path=transformer_path
        )
        self.device = torch_device(device)
        self._predictor = magenta_style_predictor(weights=self.model_files["style_predictor"]).to(self.device)
        self._transformer = magenta_transformer(weights=self.model_files["style_transformer"]).to(self.device)
        log.info("magenta-torch on %s", self.device)

    def _predict(self, style: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.from_numpy(style).permute(0, 3, 1, 2).to(self.device)
            vector: np.ndarray = self._predictor(batch).float().cpu().numpy().reshape(-1)
            return vector

    def _transform(self, content: np.ndarray, style_vector: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.from_numpy(content).permute(0, 3, 1, 2).to(self.device)
            vector = torch.from_numpy(style_vector).reshape(1, -1).to(self.device)
            out = self._transformer(batch, vector)
            result: np.ndarray = out.permute(0, 2, 3, 1).float().cpu().numpy()
            return result
