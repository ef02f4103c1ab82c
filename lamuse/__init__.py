"""La Muse: reinterpret a known painting with new real elements, re-painted in its own style."""

from lamuse.errors import ImageError, LamuseError, WeightsUnavailable
from lamuse.types import Instance, Reinterpretation, ReinterpretOptions, Segmentation

__version__ = "0.1.0"

__all__ = [
    "ImageError",
    "Instance",
    "LamuseError",
    "ReinterpretOptions",
    "Reinterpretation",
    "Segmentation",
    "WeightsUnavailable",
    "__version__",
]
