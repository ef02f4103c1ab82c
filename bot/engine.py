"""The bot's view of the lamuse library: a small ``Engine`` protocol and the real adapter behind it.

Everything here is synchronous and runs on the inference worker thread (see ``bot/jobs.py``); only the
decoding helpers are also called from validation threads.
The real pipeline is built on first use, so importing this module (and tests with an engine double)
never imports torch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

if TYPE_CHECKING:
    from bot.settings import Settings
    from lamuse.io import LoadedImage
    from lamuse.types import Reinterpretation, ReinterpretOptions, StageCallback

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the bot needs from the library. Model methods are called from the one inference thread."""

    def load_image(self, data: bytes | Path) -> Image.Image:
        """Decode untrusted bytes (or a corpus file) to RGB; raises ``lamuse.errors.ImageError``."""
        ...

    def reinterpret_variations(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variations: Sequence[int],
        on_stage: StageCallback | None = None,
        cutout_weights: Mapping[str, float] | None = None,
        background_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> list[Reinterpretation]:
        """Several variations of one painting, its segmentation computed once; ``avoid_cutouts`` are left
        out while others fit nearly as well (a server's recent ones); ``style_name`` is how the explanation
        names the painting whose style it takes (its title)."""
        ...

    def case_study(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
    ) -> Image.Image:
        """The case-study sheet of one variation (``lamuse.sheet``): original beside it, composition, palette,
        swaps with era and credit, and its pertinence scores."""
        ...

    def show_masks(self, painting: Image.Image, *, name: str) -> Image.Image:
        """The painting with the detected elements outlined."""
        ...

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        """Enlarge an image by an integer factor."""
        ...


MAX_INPUT_BYTES = 30 << 20
"""Largest upload read at all; checked on the attachment's declared size before downloading it."""
MAX_INPUT_PIXELS = 40_000_000
"""Largest pixel count decoded (about 120 MB as RGB); more is refused as a decompression bomb."""
WORK_LONG_SIDE = 2048
"""Inputs are downscaled to this long side before any model work (memory cap per job)."""


def decode_image(
    data: bytes | Path, *, max_pixels: int = MAX_INPUT_PIXELS, max_bytes: int = MAX_INPUT_BYTES
) -> Image.Image:
    """Decode with the library's guarded loader (format allow-list, bomb, cost and size checks), to RGB."""
    return decode_for_work(data, max_pixels=max_pixels, max_bytes=max_bytes, max_side=None).image


def decode_for_work(
    data: bytes | Path,
    *,
    max_pixels: int = MAX_INPUT_PIXELS,
    max_bytes: int = MAX_INPUT_BYTES,
    max_side: int | None = WORK_LONG_SIDE,
) -> LoadedImage:
    """One guarded decode straight to the work size; ``.to_png()`` is what the bot keeps of an upload."""
    from lamuse.io import load_image

    return load_image(data, max_pixels=max_pixels, max_bytes=max_bytes, max_side=max_side)


def fit_for_work(image: Image.Image, long_side: int = WORK_LONG_SIDE) -> Image.Image:
    """Downscale (never upscale) so no model stage ever sees more than ``long_side`` on the long side."""
    from lamuse.io import fit_long_side

    return fit_long_side(image, long_side)


class LamuseEngine:
    """The real engine: ``lamuse.pipeline`` built lazily from settings on the worker thread.

    The cut-out library is built from ``photos`` on first use when ``library`` does not exist yet.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pipeline: Any = None
        self._lock = threading.Lock()

    def load_image(self, data: bytes | Path) -> Image.Image:
        return decode_image(data)

    def warm(self) -> list[str]:
        """Build the library (if missing) and load every model now; returns what was loaded, a line each.

        Raises:
            LamuseError: the library cannot be built or is empty, or a model cannot be loaded.
        """
        pipeline = self._get_pipeline()
        counts = pipeline.library.class_counts()
        lines = [f"library: {sum(counts.values())} cut-outs in {len(counts)} classes"]
        lines += [f"segmenter {segmenter.name}" for segmenter in pipeline.segmenter.segmenters]
        for stage in (*pipeline.segmenter.segmenters, pipeline.stylizer, pipeline.upscaler):
            if stage is not None:
                lines += [f"{stage.name} {key}: {path}" for key, path in stage.model_files.items()]
        return lines

    def _get_pipeline(self) -> Any:
        """Build the pipeline once (slow: loads weights); later calls reuse it."""
        with self._lock:
            if self._pipeline is None:
                from lamuse.errors import LibraryError
                from lamuse.library import CutoutLibrary, build_library
                from lamuse.pipeline import load_pipeline

                s = self._settings
                if s.photos is not None and not CutoutLibrary(s.library).is_complete:
                    log.info("cut-out library %s missing: building it from %s", s.library, s.photos)
                    summary = build_library(
                        s.photos,
                        s.library,
                        [s.photo_annotations] if s.photo_annotations else None,
                        s.photo_classes,
                        progress=False,
                    )
                    log.info("cut-out library built: %s", summary)
                    if not CutoutLibrary(s.library).is_complete or summary.added == 0:
                        raise LibraryError(
                            f"the library built from {s.photos} is empty: its photos need a class "
                            "(COCO annotations, a class sidecar, or <class>/ folders)"
                        )
                annotations = [s.annotations] if s.annotations is not None else None
                self._pipeline = load_pipeline(
                    library=s.library,
                    annotations=annotations,
                    backgrounds=s.backgrounds,
                    stylizer=s.stylizer,
                    upscaler=s.upscaler,
                    device=s.device,
                )
            return self._pipeline

    def reinterpret_variations(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variations: Sequence[int],
        on_stage: StageCallback | None = None,
        cutout_weights: Mapping[str, float] | None = None,
        background_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> list[Reinterpretation]:
        pipeline = self._get_pipeline()
        if on_stage is not None:
            on_stage("segment")
        results: list[Reinterpretation] = pipeline.reinterpret_variations(
            painting,
            name=name,
            options=options,
            variations=variations,
            on_stage=on_stage,
            cutout_weights=cutout_weights,
            background_weights=background_weights,
            style_name=style_name,
            avoid_cutouts=avoid_cutouts,
        )
        return results

    def case_study(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
    ) -> Image.Image:
        from lamuse.io import fit_long_side
        from lamuse.pertinence import best_of, judge_for
        from lamuse.sheet import case_study_sheet

        pipeline = self._get_pipeline()
        working = fit_long_side(painting, options.size)
        segmentation = pipeline.segment(working, name=name)
        judge = judge_for(pipeline, working, segmentation, options.year)
        result = best_of(
            pipeline,
            painting,
            judge,
            name=name,
            options=options,
            variation=variation,
            segmentation=segmentation,
            cutout_weights=cutout_weights,
            avoid_cutouts=avoid_cutouts,
        )
        sheet: Image.Image = case_study_sheet(painting, result)
        return sheet

    def show_masks(self, painting: Image.Image, *, name: str) -> Image.Image:
        image: Image.Image = self._get_pipeline().show_masks(painting, name=name)
        return image

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        result: Image.Image = self._get_pipeline().upscale(image, scale)
        return result
