"""Enlarge images x2/x4: Real-ESRGAN animevideov3 (torch port or ncnn) or the Lanczos baseline.

Backends are imported lazily by :func:`create_upscaler`; importing this package loads no model.
"""

from __future__ import annotations

from lamuse.errors import ConfigError
from lamuse.types import Upscaler

UPSCALERS = ("realesr-animevideov3-torch", "realesr-animevideov3-ncnn", "lanczos")


def create_upscaler(name: str = "auto", *, device: str = "auto") -> Upscaler:
    """Build an upscaler by name; "auto" is the torch port (CUDA when present, bf16 on CPU).

    Lanczos is only ever used when asked for by name: a learned model that fails to load raises.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name in ("auto", "realesr-animevideov3-torch"):
        from lamuse.upscale.torch_backend import RealEsrganTorchUpscaler

        return RealEsrganTorchUpscaler(device=device)
    if name == "realesr-animevideov3-ncnn":
        from lamuse.upscale.ncnn_backend import RealEsrganNcnnUpscaler

        return RealEsrganNcnnUpscaler()
    if name == "lanczos":
        from lamuse.upscale.base import LanczosUpscaler

        return LanczosUpscaler()
    raise ConfigError(f"unknown upscaler {name!r}; valid names: auto, {', '.join(UPSCALERS)}")


__all__ = ["UPSCALERS", "create_upscaler"]
