"""Re-paint an image in a painting's style (Magenta arbitrary stylization, Ghiasi et al. 2017).

Backends are imported lazily by :func:`create_stylizer`, so importing this package loads no model and no
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamuse.errors import ConfigError

if TYPE_CHECKING:
    from lamuse.style.base import MagentaStylizer

STYLIZERS = ("magenta-onnx", "magenta-torch")


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def create_stylizer(
    name: str = "auto", *, device: str = "auto", threads: int | None = None, size: int = 1024
) -> MagentaStylizer:
    """Build a stylizer by name; "auto" is onnxruntime int8 on CPU (2.5-3x faster here) and torch on CUDA.

    ``threads`` sets onnxruntime's intra-op threads (default: os.cpu_count()); torch threads are the
    entry point's business. ``size`` caps the long side the network runs at.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or an unavailable device.
    """
    if name == "auto":
        on_cuda = device.split(":")[0] == "cuda" or (device == "auto" and _cuda_available())
        name = "magenta-torch" if on_cuda else "magenta-onnx"
    if name == "magenta-onnx":
        from lamuse.style.onnx_backend import MagentaOnnxStylizer

        return MagentaOnnxStylizer(device=device, threads=threads, size=size)
    if name == "magenta-torch":
        from lamuse.style.torch_backend import MagentaTorchStylizer

        return MagentaTorchStylizer(device=device, size=size)
    raise ConfigError(f"unknown stylizer {name!r}; valid names: auto, {', '.join(STYLIZERS)}")


__all__ = ["STYLIZERS", "create_stylizer"]
