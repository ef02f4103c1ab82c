"""Values passed between the pipeline's stages and returned to callers.

Stage protocols live here too so every stage module depends on this file alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]
"""Pixel box ``(x0, y0, x1, y1)``, x1/y1 exclusive, in the image's own coordinates."""

BackgroundMode = Literal["keep", "swap", "none"]
RemovalMode = Literal["grow", "tight"]
"""How much of each old element is cleared: grown to what belongs to it, or its mask alone."""
StageCallback = Callable[[str], None]
"""Called with a stage name ("segment", "substitute", "stylize", "upscale", "finish") as it starts."""


@dataclass(frozen=True, eq=False)
class Instance:
    """One element found in an image.

    Attributes:
        class_id: official COCO category id (person=1, dog=18, ...); 0 for a class-agnostic region.
        class_name: the COCO name ("person"), or "object" for class-agnostic regions.
        score: detector confidence in [0, 1] (1.0 for curated annotations).
        mask: bool array of shape (H, W), the image's own size.
        box: tight box of the mask.
    """

    class_id: int
    class_name: str
    score: float
    mask: np.ndarray
    box: Box

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class Segmentation:
    """What a segmenter (or a chain of them) found, which one answered, and the files it used.

    ``saliency``: the image's salient-object map (float (H, W) in [0, 1]) when the chain computed one, so
    removal can take the parts attached to an element; ``detector_available``: False when no object
    detector could run (elements are then salient shapes, and the explanation says so).
    """

    segmenter: str
    instances: list[Instance]
    model_files: Mapping[str, Path] = field(default_factory=dict)
    saliency: np.ndarray | None = field(default=None, compare=False)
    detector_available: bool = True


class Segmenter(Protocol):
    """Finds the elements of an image; ``name`` (its file name) helps curated sources recognise it."""

    name: str

    @property
    def model_files(self) -> Mapping[str, Path]:
        """The weights files this stage loaded, by role (their sha256 goes in traces)."""
        ...

    def segment(self, image: Image.Image, *, name: str | None = None) -> list[Instance]: ...


class Stylizer(Protocol):
    """Re-paints ``content`` in the style of ``style``; strength 0 keeps the content's own style."""

    name: str

    @property
    def model_files(self) -> Mapping[str, Path]:
        """The weights files this stage loaded, by role (their sha256 goes in traces)."""
        ...

    def stylize(
        self, content: Image.Image, style: Image.Image, *, strength: float = 1.0, keep_colors: bool = False
    ) -> Image.Image: ...


class Upscaler(Protocol):
    """Enlarges an image by an integer factor."""

    name: str

    @property
    def model_files(self) -> Mapping[str, Path]:
        """The weights files this stage loaded, by role (their sha256 goes in traces)."""
        ...

    def upscale(self, image: Image.Image, scale: int) -> Image.Image: ...


@dataclass(frozen=True)
class ReinterpretOptions:
    """Everything that decides one reinterpretation; with the same painting and library, same output."""

    seed: int = 0
    chaos: float = 0.2
    background: BackgroundMode = "keep"
    removal: RemovalMode = "grow"
    background_image: Path | None = None
    style_strength: float = 1.0
    keep_colors: bool = False
    size: int = 1024
    upscale: int = 1
    greyscale: bool = False
    watermark: str | None = None
    language: Literal["en", "fr"] = "en"
    stylize: bool = True


@dataclass(frozen=True, eq=False)
class Placed:
    """One pasted cut-out: what replaced what, where, and how it was resized (the trace summarises it).

    Attributes:
        instance: the painting's element that was replaced.
        cutout_id: the library cut-out that replaced it.
        same_class: whether the cut-out has the element's class.
        mask: the pasted silhouette, (H, W) bool at the working size.
        native_size: (width, height) of the cut-out image before resizing (after any flip/rotation).
        placed_size: (width, height) it was resized to.
    """

    instance: Instance
    cutout_id: str
    same_class: bool
    mask: np.ndarray
    native_size: tuple[int, int]
    placed_size: tuple[int, int]


@dataclass(frozen=True, eq=False)
class Reinterpretation:
    """One finished variation: the picture, the collage before stylization, its JSON-able trace, and the
    pasted silhouettes (for evaluation)."""

    image: Image.Image
    collage: Image.Image
    trace: dict[str, Any] = field(default_factory=dict)
    placed: tuple[Placed, ...] = ()

    @property
    def explanation(self) -> str:
        return str(self.trace.get("explanation", ""))
