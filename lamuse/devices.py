"""Choose the torch device once, the same way for every model."""

from __future__ import annotations

import torch

from lamuse.errors import ConfigError


def torch_device(device: str) -> torch.device:
    """ "auto" → CUDA when present, else CPU; an explicit "cuda" without CUDA raises ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but torch sees no CUDA device")
    return chosen
