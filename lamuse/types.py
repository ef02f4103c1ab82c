"""Values passed between the pipeline's stages and returned to callers.

Stage protocols live here too so every stage module depends on this file alone. No
``from __future__ import annotations`` here: on Python 3.11 it hides ``NotRequired`` from the
TypedDicts' runtime ``__optional_keys__``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NotRequired, Protocol, TypedDict

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]
"""Pixel box ``(x0, y0, x1, y1)``, x1/y1 exclusive, in the image's own coordinates."""

BackgroundMode = Literal["keep", "swap", "none"]
RemovalMode = Literal["grow", "tight"]
"""How much of each old element is cleared: grown to what belongs to it, or its mask alone."""
Language = Literal["en", "fr"]
Theme = Literal["coherent", "free", "anachronistic"]
"""How swaps treat the painting's era (``lamuse.pertinence.class_plan``); "free" ignores it."""
StageName = Literal["segment", "substitute", "stylize", "upscale", "finish"]
StageCallback = Callable[[StageName], None]
"""Called with a stage's name as it starts."""


# The trace: JSON written beside every output and stored by the bot. TypedDicts, not dataclasses, because
# its readers see plain JSON; optional keys are NotRequired, so new keys extend a record without breaking
# readers of old files.


class OptionsRecord(TypedDict):
    """``ReinterpretOptions`` as JSON (see ``ReinterpretOptions.as_record``)."""

    seed: int
    chaos: float
    background: BackgroundMode
    background_image: str | None
    style_strength: float
    keep_colors: bool
    size: int
    upscale: int
    greyscale: bool
    watermark: str | None
    language: Language
    stylize: bool
    candidates: int
    theme: Theme
    year: int | None
    removal: RemovalMode


class PlacementRecord(TypedDict):
    """How a cut-out was turned and resized to fit: rotation in degrees, size ``[width, height]`` in px."""

    flip: bool
    rotation_deg: float
    aspect_change: float
    size: list[int]


# "class" is a Python keyword, so it is the one key declared in the functional form.
_SwapClass = TypedDict("_SwapClass", {"class": str})


class SwapRecord(_SwapClass):
    """One swap: the painting's element (``class``, ``class_id``, ``box`` ``[x0, y0, x1, y1]``), the
    cut-out that replaced it and its photo's credit, and how well it fits (Hu shape distance, IoU of the
    pasted silhouette with the original mask)."""

    class_id: int
    box: list[int]
    original_mask_area: int
    cutout_id: str
    cutout_class: str
    same_class: bool
    source: str
    subject: str
    credit: str
    shape_distance: float
    mask_iou: float
    placement: PlacementRecord
    source_url: NotRequired[str]
    """The photo's page (COCO: its Flickr URL), for attribution; "" when unknown."""
    licence: NotRequired[str]
    licence_url: NotRequired[str]
    cutout_whole: NotRequired[bool]
    """Whether the cut-out stands whole in its photo (not cut by the frame; a person's legs visible)."""
    whole_policy: NotRequired[str]
    """How wholeness decided the pick (``lamuse.substitute.Choice.whole_policy``)."""
    new_class: NotRequired[str]
    """The class of the cut-out that replaced the element."""
    era: NotRequired[int | str]
    """The year ``new_class`` became common (``lamuse/data/eras.json``), or "always"."""
    theme_reason: NotRequired[str]
    """Why a cross-class swap was chosen under ``--theme`` (said in the explanation)."""


class BackgroundRecord(TypedDict):
    """What stands behind the elements: ``source`` (a file name) with "swap", ``method`` with "keep"."""

    mode: BackgroundMode
    source: NotRequired[str]
    method: NotRequired[str]
    removal: NotRequired[RemovalMode]


class ModelRecord(TypedDict):
    """A model file that shaped the picture: its file name and sha256."""

    file: str
    sha256: str


class PaletteRecord(TypedDict):
    """A dominant colour: ``#rrggbb``, its nearest CSS3 name, its share of the image in [0, 1]."""

    hex: str
    name: str
    share: float


class WeightsRecord(TypedDict):
    """Vote-derived multipliers applied to random choices, by cut-out id and background file name."""

    cutouts: dict[str, float]
    backgrounds: dict[str, float]


class Timings(TypedDict, total=False):
    """Seconds spent per stage; only the stages that ran appear."""

    segment: float
    substitute: float
    stylize: float
    upscale: float
    finish: float


class RepeatRecord(TypedDict):
    """An earlier variation this one repeats, swap for swap: ``one_cutout`` when the library had only one
    fitting cut-out for each element, ``all_taken`` when every other assignment was taken already."""

    variation: int
    reason: Literal["one_cutout", "all_taken"]


class Changes(TypedDict):
    """What a reinterpretation changed: the part of the trace ``lamuse.explain.explain`` puts into words.

    ``style_source`` names the image the style came from (the painting's own name by default).
    """

    swaps: list[SwapRecord]
    background: BackgroundRecord
    stylized: bool
    style_source: str
    detector_available: NotRequired[bool]
    """False when no object detector could run (the salient fallback split shapes instead)."""
    repeats: NotRequired[RepeatRecord]
    """Set only when this variation has the same cut-outs as an earlier one (no other assignment)."""


class PertinenceRecord(TypedDict):
    """One candidate's pertinence scores in [0, 1] (``lamuse.pertinence``)."""

    composition: float
    style: float
    theme: float
    total: float


class PertinenceTrace(PertinenceRecord):
    """``trace["pertinence"]``: the chosen candidate's scores, which one it was, and every candidate's."""

    chosen: int
    candidates: list[PertinenceRecord]


class Trace(Changes):
    """Everything that decided one output, written as ``<painting>-<k>.json``.

    ``size`` is the working size and ``output_size`` the final one, both ``[width, height]``; ``models``
    is keyed ``"<stage>:<file key>"``. The La Muse baseline writes ``strategy`` and leaves out the keys
    it has no equivalent for.
    """

    lamuse_version: str
    strategy: NotRequired[Literal["lamuse"]]
    painting: str
    size: list[int]
    output_size: list[int]
    segmenter: str
    instances_found: int
    seed: int
    variation: int
    options: NotRequired[OptionsRecord]
    models: NotRequired[dict[str, ModelRecord]]
    palette: NotRequired[list[PaletteRecord]]
    weights_applied: NotRequired[WeightsRecord]
    timings: Timings
    explanation: str
    pertinence: NotRequired[PertinenceTrace]


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
class FramedSaliency:
    """A map of a crop framed on one element: ``window`` is the crop's ``(x0, y0, x1, y1)`` in the image
    (a head's crop may run past its edges), ``saliency`` its map (float, the crop's size, in [0, 1]): the
    salient object's, or the person's for a crop framed on a head."""

    window: Box
    saliency: np.ndarray = field(compare=False)


@dataclass(frozen=True)
class Segmentation:
    """What a segmenter (or a chain of them) found, which one answered, and the files it used.

    ``saliency``: the image's salient-object map (float (H, W) in [0, 1]) when the chain computed one, so
    removal can take the parts attached to an element; ``framed``: maps of crops framed on the largest
    elements, by their index in ``instances``, for the same use; ``heads``: person maps of crops framed on
    the heads of its figures, by index, so removal takes what they wear; ``detector_available``: False when no
    object detector could run (elements are then salient shapes, and the explanation says so).
    """

    segmenter: str
    instances: list[Instance]
    model_files: Mapping[str, Path] = field(default_factory=dict)
    saliency: np.ndarray | None = field(default=None, compare=False)
    framed: Mapping[int, FramedSaliency] = field(default_factory=dict, compare=False)
    heads: Mapping[int, FramedSaliency] = field(default_factory=dict, compare=False)
    detector_available: bool = True


class Segmenter(Protocol):
    """Finds the elements of an image; ``name`` (its file name) helps curated sources recognise it.

    ``model_files`` names every file that decides its answers (the trace records their sha256).
    """

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
    language: Language = "en"
    stylize: bool = True
    candidates: int = 1
    """Results made per variation; ``lamuse.pertinence.best_of`` keeps the best by pertinence."""
    theme: Theme = "free"
    year: int | None = None
    """The painting's year, for the theme (None: unknown)."""

    def as_record(self) -> OptionsRecord:
        """The options as the trace records them (paths as strings)."""
        return {
            "seed": self.seed,
            "chaos": self.chaos,
            "background": self.background,
            "background_image": None if self.background_image is None else str(self.background_image),
            "style_strength": self.style_strength,
            "keep_colors": self.keep_colors,
            "size": self.size,
            "upscale": self.upscale,
            "greyscale": self.greyscale,
            "watermark": self.watermark,
            "language": self.language,
            "stylize": self.stylize,
            "candidates": self.candidates,
            "theme": self.theme,
            "year": self.year,
            "removal": self.removal,
        }


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
    trace: Trace
    placed: tuple[Placed, ...] = ()

    @property
    def explanation(self) -> str:
        return self.trace["explanation"]
