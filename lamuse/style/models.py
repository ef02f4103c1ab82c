"""Torch ports of the Magenta arbitrary-stylization networks (Ghiasi et al. 2017, the "lite" v1-256 build).

Two networks: a MobileNetV2 style predictor (256px style image -> 100-d style vector) and a fully
convolutional transformer whose instance norms take their scale and shift from that vector.
The architecture mirrors the shipped ONNX graphs op for op; weights come from those graphs, dequantized,
so the port computes in fp32 what the QDQ graph computes with int8-rounded activations.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamuse.style.onnx_params import conv_params

STYLE_DIM = 100
NORM_EPS = 1e-5  # the graphs' StyleNorm epsilon (int8 127 * 7.874016e-08)

# MobileNetV2 1.0: (expansion, out channels, repeats, first stride)
_MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class SameConv(nn.Conv2d):
    """Conv with TensorFlow "SAME" padding: strided convs pad more on the bottom/right, as the graph does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, k, s in zip(
            reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, ReLU6, 3x3 depthwise, ReLU6, 1x1 project, residual when shapes match."""

    def __init__(self, inp: int, out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = inp * expansion
        self.expand = nn.Conv2d(inp, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv(hidden, hidden, 3, stride=stride, groups=hidden)
        self.project = nn.Conv2d(hidden, out, 1)
        self.use_residual = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y)))
        out: torch.Tensor = x + y if self.use_residual else y
        return out


class StylePredictor(nn.Module):
    """Style image (N, 3, 256, 256), RGB in [0, 1] -> style vector (N, 100)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv(3, 32, 3, stride=2)
        blocks: list[nn.Module] = []
        channels = 32
        for expansion, out, repeats, stride in _MOBILENET_V2:
            for i in range(repeats):
                blocks.append(InvertedResidual(channels, out, stride if i == 0 else 1, expansion))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, STYLE_DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.head(self.blocks(F.relu6(self.stem(x)))))
        out: torch.Tensor = self.bottleneck(y.mean((2, 3), keepdim=True)).flatten(1)
        return out

    def onnx_scopes(self) -> dict[str, str]:
        """Torch module path -> TF scope of its weights in ``arbitrary_predict.onnx``."""
        scopes = {
            "stem": "MobilenetV2/Conv",
            "head": "MobilenetV2/Conv_1",
            "bottleneck": "mobilenet_conv/Conv",
        }
        for i, block in enumerate(self.blocks):
            tf_block = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
            for part in ("expand", "depthwise", "project"):
                if getattr(block, part) is not None:
                    scopes[f"blocks.{i}.{part}"] = f"{tf_block}/{part}"
        return scopes


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose per-channel scale (gamma) and shift (beta) are linear in the style vector."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Linear(STYLE_DIM, channels)
        self.beta = nn.Linear(STYLE_DIM, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        normed = F.instance_norm(x, eps=NORM_EPS)
        out: torch.Tensor = normed * self.gamma(style)[:, :, None, None] + self.beta(style)[:, :, None, None]
        return out


class ReflectConv(nn.Module):
    """Reflect-pad by kernel//2, then an unpadded conv (the graph's MirrorPad + Conv pairs)."""

    def __init__(self, inp: int, out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(inp, out, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))
        return out


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ReflectConv(channels, channels, 3)
        self.norm1 = ConditionalInstanceNorm(channels)
        self.conv2 = ReflectConv(channels, channels, 3)
        self.norm2 = ConditionalInstanceNorm(channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x), style))
        out: torch.Tensor = x + self.norm2(self.conv2(y), style)
        return out


class ExpandLayer(nn.Module):
    def __init__(self, inp: int, out: int, kernel: int, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = ReflectConv(inp, out, kernel)
        self.norm = ConditionalInstanceNorm(out)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        out: torch.Tensor = self.norm(self.conv(x), style)
        return out


class StyleTransformer(nn.Module):
    """Content (N, 3, H, W) in [0, 1], H and W multiples of 4, + style (N, 100) -> stylized (N, 3, H, W)."""

    stride = 4

    def __init__(self) -> None:
        super().__init__()
        self.contract = nn.ModuleList(
            [ReflectConv(3, 8, 9), ReflectConv(8, 16, 3, 2), ReflectConv(16, 32, 3, 2)]
        )
        self.residual = nn.ModuleList([ResidualBlock(32) for _ in range(5)])
        self.expand = nn.ModuleList(
            [ExpandLayer(32, 16, 3, 2), ExpandLayer(16, 8, 3, 2), ExpandLayer(8, 3, 9, 1)]
        )

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = content
        for layer in self.contract:
            x = F.relu(layer(x))
        for block in self.residual:
            x = block(x, style)
        x = F.relu(self.expand[0](x, style))
        x = F.relu(self.expand[1](x, style))
        return torch.sigmoid(self.expand[2](x, style))

    def onnx_scopes(self) -> dict[str, str]:
        """Torch module path -> TF scope of its weights in ``arbitrary_transform.onnx``."""
        scopes: dict[str, str] = {}
        for i in range(3):
            scopes[f"contract.{i}.conv"] = f"transformer/contract/conv{i + 1}"
            tf_expand = f"transformer/expand/conv{i + 1}/conv"
            scopes[f"expand.{i}.conv.conv"] = tf_expand
            scopes[f"expand.{i}.norm.gamma"] = f"style_params/{tf_expand}/StyleNorm/Conv_1"
            scopes[f"expand.{i}.norm.beta"] = f"style_params/{tf_expand}/StyleNorm/Conv"
        for i in range(5):
            for j in (1, 2):
                tf_conv = f"transformer/residual/residual{i + 1}/conv{j}"
                scopes[f"residual.{i}.conv{j}.conv"] = tf_conv
                scopes[f"residual.{i}.norm{j}.gamma"] = f"style_params/{tf_conv}/StyleNorm/Conv_1"
                scopes[f"residual.{i}.norm{j}.beta"] = f"style_params/{tf_conv}/StyleNorm/Conv"
        return scopes


def _load_onnx(model: StylePredictor | StyleTransformer, path: Path) -> None:
    params = conv_params(path)
    state: dict[str, torch.Tensor] = {}
    for prefix, scope in model.onnx_scopes().items():
        weight, bias = params[scope]
        target = model.get_submodule(prefix)
        if isinstance(target, nn.Linear):
            weight = weight.reshape(weight.shape[0], -1)
        state[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(weight))
        state[f"{prefix}.bias"] = torch.from_numpy(bias)
    model.load_state_dict(state, strict=True)


def magenta_style_predictor(*, weights: Path | None = None) -> StylePredictor:
    """Build the style predictor from ``arbitrary_predict.onnx`` (``weights=None``: random, no I/O)."""
    model = StylePredictor()
    if weights is not None:
        _load_onnx(model, weights)
    return model.eval()


def magenta_transformer(*, weights: Path | None = None) -> StyleTransformer:
    """Build the transformer from ``arbitrary_transform.onnx`` (``weights=None``: random, no I/O)."""
    model = StyleTransformer()
    if weights is not None:
        _load_onnx(model, weights)
    return model.eval()
