"""MediaPipe's selfie segmentation in torch: whose silhouette a head-and-shoulders crop shows.

Over a crop framed on a figure's head it marks the person as a person sees one, hat, cap or bonnet
included, which the curated masks and U²-Net-p leave out (the straw boaters of Renoir's *Luncheon*).
The network (a MobileNetV3-like encoder and a small decoder, 256×256 RGB in [0, 1] → the person's
probability) is read from MediaPipe's own ``selfie_segmentation.tflite``: its ops are run here one by
one, so no TFLite runtime (nor MediaPipe, which needs numpy < 2) is loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamuse.devices import torch_device
from lamuse.errors import WeightsUnavailable
from lamuse.segment.salient import WEARERS
from lamuse.shapes import head_window
from lamuse.types import FramedSaliency, Instance
from lamuse.weights import WEIGHTS, resolve

log = logging.getLogger(__name__)

SELFIE = WEIGHTS["mediapipe-selfie-segmentation"]
INPUT_SIZE = int(SELFIE.meta["input_size"])

HEADS_MAX = 6
"""Figures whose head is framed, largest first (one ~20 ms pass each on 2 CPU cores)."""
_SAME = 0
"""TFLite's code for SAME padding in conv options."""
_CUSTOM_SAME = 1
"""``Convolution2DTransposeBias`` stores TfLitePadding, where SAME is 1."""


@dataclass(frozen=True)
class _Step:
    """One op of the graph: ``kind``, the tensors it reads and writes, its stride and padding."""

    kind: str
    inputs: tuple[int, ...]
    output: int
    stride: int = 1
    same: bool = True


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: int) -> torch.Tensor:
    """TensorFlow's SAME padding: the odd pixel goes after, which torch's symmetric padding cannot say."""
    height, width = x.shape[-2:]
    pads = []
    for size, k in ((width, kernel[1]), (height, kernel[0])):
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SelfieSegmentation(nn.Module):
    """The selfie network, its weights and op sequence read from the ``.tflite`` file.

    ``forward`` takes (N, 3, 256, 256) RGB in [0, 1] and returns (N, 1, 256, 256) person probabilities.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        steps, constants, self.graph_input, self.graph_output = _read_graph(path)
        self.steps = steps
        for index, value in constants.items():
            self.register_buffer(f"t{index}", value)

    def _constant(self, index: int) -> torch.Tensor:
        return self.get_buffer(f"t{index}")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        values: dict[int, torch.Tensor] = {self.graph_input: pixels}
        for step in self.steps:
            values[step.output] = self._run(step, values)
        return values[self.graph_output]

    def _run(self, step: _Step, values: dict[int, torch.Tensor]) -> torch.Tensor:
        x = values[step.inputs[0]]
        if step.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weight, bias = self._constant(step.inputs[1]), self._constant(step.inputs[2])
            if step.same:
                x = _pad_same(x, (weight.shape[2], weight.shape[3]), step.stride)
            groups = weight.shape[0] if step.kind == "DEPTHWISE_CONV_2D" else 1
            return F.conv2d(x, weight, bias, stride=step.stride, groups=groups)
        if step.kind == "TRANSPOSE_CONV_BIAS":
            weight, bias = self._constant(step.inputs[1]), self._constant(step.inputs[2])
            return F.conv_transpose2d(x, weight, bias, stride=step.stride)
        if step.kind == "AVERAGE_POOL_2D":  # every pool of this graph is global
            return x.mean(dim=(2, 3), keepdim=True)
        if step.kind == "RESIZE_BILINEAR":  # half-pixel centres, corners not aligned: torch's default
            size = tuple(int(v) for v in self._constant(step.inputs[1]).tolist())
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if step.kind in ("ADD", "MUL"):
            index = step.inputs[1]
            other = values[index] if index in values else self._constant(index)
            return x + other if step.kind == "ADD" else x * other
        if step.kind == "RELU":
            return F.relu(x)
        if step.kind == "HARD_SWISH":
            return F.hardswish(x)
        if step.kind == "LOGISTIC":
            return torch.sigmoid(x)
        raise ValueError(f"unsupported op {step.kind}")


_SUPPORTED = frozenset(
    {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESIZE_BILINEAR", "ADD", "MUL", "RELU", "HARD_SWISH"}
    | {"LOGISTIC", "DEQUANTIZE", "CUSTOM"}
)


def _read_graph(path: Path) -> tuple[list[_Step], dict[int, torch.Tensor], int, int]:
    """The ops of ``path``'s first subgraph as steps, and its constants (fp16 weights dequantized; conv
    kernels in torch's layout, NHWC activations read as NCHW)."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def raw(index: int) -> np.ndarray | None:
        tensor = graph.Tensors(index)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}.get(
            tensor.Type(), np.int32
        )
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())

    arrays: dict[int, np.ndarray] = {}
    layout: dict[int, str] = {}
    steps: list[_Step] = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if kind not in _SUPPORTED:
            raise WeightsUnavailable(f"{path.name}: op {kind} is not supported by the torch port")
        inputs = tuple(op.Inputs(j) for j in range(op.InputsLength()))
        output = op.Outputs(0)
        if kind == "DEQUANTIZE":
            value = raw(inputs[0])
            if value is None:
                raise WeightsUnavailable(f"{path.name}: a dequantized tensor has no data")
            arrays[output] = value.astype(np.float32)
            continue
        stride, same = 1, True
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            options = (tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            if options.FusedActivationFunction() != 0 or options.StrideW() != options.StrideH():
                raise WeightsUnavailable(f"{path.name}: {kind} with a fused activation or uneven stride")
            stride, same = options.StrideW(), options.Padding() == _SAME
            layout[inputs[1]] = "OHWI" if kind == "CONV_2D" else "1HWO"
        elif kind == "CUSTOM":
            if code.CustomCode().decode() != "Convolution2DTransposeBias":
                raise WeightsUnavailable(f"{path.name}: custom op {code.CustomCode()!r} is not supported")
            padding, stride, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), dtype=np.int32)[:3]
            if padding != _CUSTOM_SAME or stride != stride_h:
                raise WeightsUnavailable(f"{path.name}: transposed convolution with unexpected options")
            kind, stride = "TRANSPOSE_CONV_BIAS", int(stride)
            layout[inputs[1]] = "transposed"
        elif kind == "AVERAGE_POOL_2D":
            options = tflite.Pool2DOptions()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            shape = graph.Tensors(inputs[0]).ShapeAsNumpy()
            if (options.FilterHeight(), options.FilterWidth()) != (shape[1], shape[2]):
                raise WeightsUnavailable(f"{path.name}: only global average pooling is supported")
        elif kind == "RESIZE_BILINEAR":
            options = tflite.ResizeBilinearOptions()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            if options.AlignCorners() or not options.HalfPixelCenters():
                raise WeightsUnavailable(f"{path.name}: resize without half-pixel centres")
        for index in inputs[1:]:
            if index not in arrays and (value := raw(index)) is not None:
                arrays[index] = value
        steps.append(_Step(kind, inputs, output, stride, same))
    constants = {
        index: torch.from_numpy(_torch_layout(value, layout.get(index))) for index, value in arrays.items()
    }
    return steps, constants, graph.Inputs(0), graph.Outputs(0)


def _torch_layout(value: np.ndarray, layout: str | None) -> np.ndarray:
    """A TFLite constant, copied, in the layout torch's op takes: conv kernels (O, H, W, I) → (O, I, H, W),
    depthwise (1, H, W, O) → (O, 1, H, W), the transposed conv's (O, H, W, I) → (I, O, H, W)."""
    if layout == "OHWI":
        value = value.transpose(0, 3, 1, 2)
    elif layout in ("1HWO", "transposed"):
        value = value.transpose(3, 0, 1, 2)
    return np.array(value, copy=True, order="C")


class PersonSegmenter:
    """Person probability maps of crops, from ``SelfieSegmentation`` (weights resolved by the registry).

    Args:
        weights: a local ``selfie_segmentation.tflite``; default: the file in the ``mediapipe`` package.
        device: "auto", "cpu" or "cuda[:N]".
    """

    name = "mediapipe-selfie"

    def __init__(self, weights: Path | None = None, *, device: str = "auto") -> None:
        path = resolve(SELFIE, local_path=weights)
        self.model_files = {"person_selfie": path}
        self.device = torch_device(device)
        self.network = SelfieSegmentation(path).to(self.device).eval()
        log.info("%s on %s (%s)", self.name, self.device, path)

    def person_map(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → (H, W) float32 in [0, 1]: how surely each pixel is the person's."""
        height, width = rgb.shape[:2]
        square = cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        with torch.inference_mode():
            batch = torch.from_numpy(square).to(self.device).permute(2, 0, 1)[None].float() / 255.0
            probability = self.network(batch)[0, 0].float().cpu().numpy()
        return np.asarray(cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR))

    def heads(self, image: np.ndarray, instances: list[Instance]) -> dict[int, FramedSaliency]:
        """Person maps of crops framed on the heads of the ``HEADS_MAX`` largest upright figures, by
        index in ``instances`` (``head_window``); the part of a crop outside ``image`` is black."""
        height, width = image.shape[:2]
        figures = [i for i in range(len(instances)) if instances[i].class_name in WEARERS]
        found = {}
        for index in sorted(figures, key=lambda i: -instances[i].area)[:HEADS_MAX]:
            window = head_window(instances[index])
            if window is None:
                continue
            x0, y0, x1, y1 = window
            crop = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = image[cy0:cy1, cx0:cx1]
            found[index] = FramedSaliency(window, self.person_map(crop))
        return found
