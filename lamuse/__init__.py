"""La Muse: reinterpret a known painting with new real elements, re-painted in its own style.

The public API is what ``__all__`` lists. ``import lamuse`` stays cheap (no torch, no OpenCV): the
pipeline and the library load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lamuse.errors import (
    AnnotationsError,
    ChecksumMismatch,
    ConfigError,
    ImageError,
    LamuseError,
    LibraryError,
    WeightsUnavailable,
)
from lamuse.types import (
    Instance,
    Reinterpretation,
    ReinterpretOptions,
    Segmentation,
    SwapRecord,
    Trace,
)

if TYPE_CHECKING:
    from lamuse.library import CutoutLibrary
    from lamuse.pipeline import Pipeline, load_pipeline

__version__ = "0.1.0"
"""The one version source: pyproject.toml reads it (``[tool.setuptools.dynamic]``)."""

_LAZY = {"Pipeline": "lamuse.pipeline", "load_pipeline": "lamuse.pipeline", "CutoutLibrary": "lamuse.library"}


def __getattr__(name: str) -> object:
    """Import the heavy modules only when one of their names is asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lamuse' has no attribute {name!r}")


__all__ = [
    "AnnotationsError",
    "ChecksumMismatch",
    "ConfigError",
    "CutoutLibrary",
    "ImageError",
    "Instance",
    "LamuseError",
    "LibraryError",
    "Pipeline",
    "ReinterpretOptions",
    "Reinterpretation",
    "Segmentation",
    "SwapRecord",
    "Trace",
    "WeightsUnavailable",
    "__version__",
    "load_pipeline",
]
