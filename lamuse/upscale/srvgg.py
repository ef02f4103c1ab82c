"""Torch port of SRVGGNetCompact (Real-ESRGAN's compact SR net) with weights read from ncnn files.

Reading the ncnn ``.param``/``.bin`` pair ourselves keeps the shipped files the single source of truth
and lets the same weights run on a GPU (ncnn's Python wheel here is CPU-only without libvulkan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_FP16_TAG = 0x01306B47  # ncnn: weight blob stored as float16
_FP32_TAG = 0x00000000  # ncnn: weight blob stored as raw float32


@dataclass
class NcnnLayer:
    kind: str
    name: str
    params: dict[int, str] = field(default_factory=dict)


def read_param(path: Path) -> list[NcnnLayer]:
    """Parse an ncnn text ``.param`` file into its layers (type, name, ``k=v`` params)."""
    lines = path.read_text().split("\n")
    if lines[0].strip() != "7767517":
        raise ValueError(f"{path} is not an ncnn text param file")
    layers = []
    for line in lines[2:]:
        fields = line.split()
        if not fields:
            continue
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        pairs = fields[4 + n_in + n_out :]
        params = {int(k): v for k, v in (pair.split("=", 1) for pair in pairs)}
        layers.append(NcnnLayer(kind, name, params))
    return layers


class _BinReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def floats(self, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.offset)
        self.offset += 4 * count
        return out

    def tagged(self, count: int) -> np.ndarray:
        """A weight blob: 4-byte storage tag, then fp16 (padded to 4 bytes) or fp32 values."""
        tag = int(np.frombuffer(self.data, dtype="<u4", count=1, offset=self.offset)[0])
        self.offset += 4
        if tag == _FP16_TAG:
            out = np.frombuffer(self.data, dtype="<f2", count=count, offset=self.offset).astype(np.float32)
            self.offset += (2 * count + 3) // 4 * 4
            return out
        if tag == _FP32_TAG:
            return self.floats(count)
        raise ValueError(f"unsupported ncnn weight storage tag {tag:#010x} at byte {self.offset - 4}")


class SRVGGNetCompact(nn.Module):
    """Conv-PReLU stack at input resolution, pixel shuffle, plus the nearest-upsampled input.

    Input (N, 3, H, W) RGB in [0, 1]; output (N, 3, H*s, W*s) with s = ``upscale * out_scale``, where
    ``out_scale`` < 1 reproduces graphs (like animevideov3-x2) that shrink the x4 result bicubically.
    """

    def __init__(self, *, num_feat: int = 64, num_conv: int = 16, upscale: int = 4, out_scale: float = 1.0):
        super().__init__()
        self.upscale, self.out_scale = upscale, out_scale
        body: list[nn.Module] = [nn.Conv2d(3, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            body += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        body.append(nn.Conv2d(num_feat, 3 * upscale * upscale, 3, padding=1))
        self.body = nn.Sequential(*body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.upscale)
        out = out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        if self.out_scale != 1.0:
            out = F.interpolate(out, scale_factor=self.out_scale, mode="bicubic", align_corners=False)
        return out


def srvgg_from_ncnn(param_path: Path, bin_path: Path) -> SRVGGNetCompact:
    """Build SRVGGNetCompact and fill it from an ncnn export (Convolution/PReLU/PixelShuffle[/Interp])."""
    layers = read_param(param_path)
    convs = [layer for layer in layers if layer.kind == "Convolution"]
    shuffle = next(layer for layer in layers if layer.kind == "PixelShuffle")
    interps = [layer for layer in layers if layer.kind == "Interp"]
    # Interp layers: the nearest base upsampling (type 1), then optionally a bicubic (type 3) resize.
    out_scale = 1.0
    for interp in interps:
        if interp.params.get(0) == "3":
            out_scale = float(interp.params[1])
    model = SRVGGNetCompact(
        num_feat=int(convs[0].params[0]),
        num_conv=len(convs) - 2,
        upscale=int(shuffle.params[0]),
        out_scale=out_scale,
    )
    reader = _BinReader(bin_path.read_bytes())
    modules = iter(model.body)
    for layer in layers:
        if layer.kind == "Convolution":
            conv = next(modules)
            assert isinstance(conv, nn.Conv2d)
            weight = reader.tagged(int(layer.params[6])).reshape(conv.weight.shape)
            conv.weight.data = torch.from_numpy(weight.copy())
            if layer.params.get(5) == "1":
                assert conv.bias is not None
                conv.bias.data = torch.from_numpy(reader.floats(conv.out_channels).copy())
        elif layer.kind == "PReLU":
            prelu = next(modules)
            assert isinstance(prelu, nn.PReLU)
            prelu.weight.data = torch.from_numpy(reader.floats(int(layer.params[0])).copy())
    if reader.offset != len(reader.data):
        raise ValueError(f"{bin_path}: read {reader.offset} of {len(reader.data)} bytes; layout mismatch")
    return model.eval()


def srvgg_compact(*, weights: tuple[Path, Path] | None = None, upscale: int = 4) -> SRVGGNetCompact:
    """Builder: ``weights=(param, bin)`` loads an ncnn export; None builds random x``upscale`` (no I/O)."""
    if weights is None:
        return SRVGGNetCompact(upscale=upscale).eval()
    return srvgg_from_ncnn(*weights)
