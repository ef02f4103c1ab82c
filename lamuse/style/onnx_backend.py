"""onnxruntime backend on the shipped int8 QDQ graphs (the fastest CPU path here)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from lamuse.errors import ConfigError
from lamuse.style.base import DEFAULT_CACHE_SIZE, DEFAULT_SIZE, MagentaStylizer

log = logging.getLogger(__name__)

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def size_agnostic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the fully convolutional transformer accept any H and W (multiples of its stride).

    The export fixed 384x384; the ops themselves do not care. We rename dims 1-2 of every graph input and
    output that has rank 4 to symbolic ``height``/``width`` and drop the stale ``value_info`` shapes.
    """
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    del model.graph.value_info[:]
    return model


def providers_for(device: str) -> list[str]:
    """onnxruntime providers for ``device`` ("auto", "cpu", "cuda", "cuda:N"; the index is onnxruntime's
    default device); raises ConfigError when CUDA is asked but missing."""
    available = ort.get_available_providers()
    if device == "auto":
        return [p for p in (_PROVIDERS["cuda"], _PROVIDERS["cpu"]) if p in available]
    kind = device.split(":")[0]
    if kind not in _PROVIDERS:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    if _PROVIDERS[kind] not in available:
        raise ConfigError(f"onnxruntime has no {_PROVIDERS[kind]} here (available: {', '.join(available)})")
    return [_PROVIDERS[kind]] + ([_PROVIDERS["cpu"]] if kind != "cpu" else [])


class MagentaOnnxStylizer(MagentaStylizer):
    """Magenta arbitrary stylization on the original int8 graphs via onnxruntime."""

    name = "magenta-onnx"

    def __init__(
        self,
        *,
        device: str = "auto",
        threads: int | None = None,
        size: int = DEFAULT_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        predictor_path: Path | None = None,
        transformer_path: Path | None = None,
    ) -> None:
        super().__init__(
            size=size, cache_size=cache_size, predictor_path=predictor_path, transformer_path=transformer_path
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Dequantize the weights and compute in float rather than fuse the QDQ pairs into int8 kernels: on
        # x86 CPUs without VNNI (AVX2 only: an AMD EPYC here) those saturate their int16 sums, and the style
        # vector drifted to cosine 0.972 from the fp32 port's (0.9999 unfused), the picture by 0.054 on
        # average; unfused it ran no slower there (0.118 s against 0.133 s at 512 px).
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        providers = providers_for(device)
        self._predictor = ort.InferenceSession(
            str(self.model_files["style_predictor"]), options, providers=providers
        )
        transformer = size_agnostic(onnx.load(str(self.model_files["style_transformer"])))
        self._transformer = ort.InferenceSession(
            transformer.SerializeToString(), options, providers=providers
        )
        self._predictor_input = self._predictor.get_inputs()[0].name
        self._content_input, self._style_input = (i.name for i in self._transformer.get_inputs())
        self.device = "cuda" if self._transformer.get_providers()[0] == _PROVIDERS["cuda"] else "cpu"
        log.info("magenta-onnx on %s, %d intra-op threads", self.device, options.intra_op_num_threads)

    def _predict(self, style: np.ndarray) -> np.ndarray:
        return np.asarray(self._predictor.run(None, {self._predictor_input: style})[0]).reshape(-1)

    def _transform(self, content: np.ndarray, style_vector: np.ndarray) -> np.ndarray:
        feeds = {self._content_input: content, self._style_input: style_vector.reshape(1, 1, 1, -1)}
        return np.asarray(self._transformer.run(None, feeds)[0])
