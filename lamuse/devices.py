"""Choose the torch device once, the same way for every model."""

from __future__ import annotations

import torch


def torch_device(device: str) -> torch.device:
    """ "auto" → CUDA when present, else CPU; an explicit "cuda" without CUDA raises ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA device")
    return chosen
