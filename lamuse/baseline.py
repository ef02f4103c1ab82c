"""The original La Muse strategy, kept as the yardstick our pipeline is measured against.

For each element: a random cut-out of the same class (any class when the library has none), stretched to
the element's bounding box whatever its shape, pasted with its own alpha; behind them a random background
photo; then Magenta style transfer at 512 px with the painting as style. The original's bugs are left
out (BGR/RGB mix-up, aspect ratio of the output), everything else is as naive as it was.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lamuse import __version__
from lamuse.compose import REMOVAL_METHOD, cover, remove_elements
from lamuse.errors import LamuseError
from lamuse.explain import explain
from lamuse.io import fit_long_side, list_images, load_image
from lamuse.library import Cutout, CutoutLibrary
from lamuse.pipeline import SegmentationSource, swap_record, usable_instances
from lamuse.shapes import hu_moments
from lamuse.substitute import hu_distance
from lamuse.types import (
    BackgroundRecord,
    Instance,
    Placed,
    Reinterpretation,
    Segmentation,
    Stylizer,
    SwapRecord,
    Timings,
    Trace,
)

STYLE_LONG_SIDE = 512
"""La Muse ran its style transfer at 512 px on the long side."""


class LaMuseBaseline:
    """La Muse's own reinterpretation, built from the same stages as ``Pipeline`` so only strategy differs.

    Args:
        segmenter: used when ``reinterpret`` is not given a segmentation.
        library: the cut-out library (the same one our pipeline draws from).
        stylizer: None leaves the collage unstylized.
        backgrounds: folder of background photos; without one the painting's own (inpainted) is kept.
    """

    def __init__(
        self,
        *,
        library: CutoutLibrary,
        segmenter: SegmentationSource | None = None,
        stylizer: Stylizer | None = None,
        backgrounds: Path | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.library = library
        self.stylizer = stylizer
        self.backgrounds = backgrounds

    def reinterpret(
        self,
        painting: Image.Image,
        *,
        name: str,
        seed: int = 0,
        variation: int = 0,
        size: int = 512,
        segmentation: Segmentation | None = None,
    ) -> Reinterpretation:
        """One variation, deterministic from ``(seed, variation)`` and the painting's name."""
        timings: Timings = {}
        # The name joins the seed so that, over a corpus, each painting gets its own draws instead of
        # every painting with the same number of elements getting the same cut-outs and background.
        rng = np.random.default_rng([seed, variation, zlib.crc32(name.encode("utf-8"))])
        working = fit_long_side(painting.convert("RGB"), size)
        start = time.perf_counter()
        if segmentation is None:
            if self.segmenter is None:
                raise LamuseError("the La Muse baseline needs a segmenter or a segmentation")
            segmentation = self.segmenter.run(working, name=name)
        instances = usable_instances(segmentation.instances, working.size)
        timings["segment"] = round(time.perf_counter() - start, 4)

        start = time.perf_counter()
        picks = [_random_cutout(instance, self.library.cutouts, rng) for instance in instances]
        base = np.asarray(working)
        canvas, background = self._background(base, instances, rng)
        placed = [
            _stretch_paste(canvas, instance, cutout, same)
            for instance, (cutout, same) in zip(instances, picks, strict=True)
        ]
        collage = Image.fromarray(canvas)
        timings["substitute"] = round(time.perf_counter() - start, 4)

        image = collage
        if self.stylizer is not None:
            start = time.perf_counter()
            small = fit_long_side(collage, STYLE_LONG_SIDE)
            image = self.stylizer.stylize(small, working)
            if image.size != collage.size:
                image = image.resize(collage.size, Image.Resampling.LANCZOS)
            timings["stylize"] = round(time.perf_counter() - start, 4)

        trace: Trace = {
            "lamuse_version": __version__,
            "strategy": "lamuse",
            "painting": name,
            "size": list(working.size),
            "output_size": list(image.size),
            "segmenter": segmentation.segmenter,
            "instances_found": len(segmentation.instances),
            "seed": seed,
            "variation": variation,
            "swaps": [_swap_record_of(p, cutout) for p, (cutout, _) in zip(placed, picks, strict=True)],
            "background": background,
            "stylized": self.stylizer is not None,
            "style_source": name,
            "timings": timings,
            "explanation": "",
        }
        trace["explanation"] = explain(trace, working.size)
        return Reinterpretation(image=image, collage=collage, trace=trace, placed=tuple(placed))

    def _background(
        self, base: np.ndarray, instances: Sequence[Instance], rng: np.random.Generator
    ) -> tuple[np.ndarray, BackgroundRecord]:
        files = list_images(self.backgrounds) if self.backgrounds is not None else []
        if files:
            path = files[int(rng.integers(len(files)))]
            backdrop = load_image(path).image
            return cover(backdrop, (base.shape[1], base.shape[0])), {"mode": "swap", "source": path.name}
        return remove_elements(base, [i.mask for i in instances]), {"mode": "keep", "method": REMOVAL_METHOD}


def _random_cutout(
    instance: Instance, library: Sequence[Cutout], rng: np.random.Generator
) -> tuple[Cutout, bool]:
    """Uniformly among the same class, else among everything (La Muse never looked at shapes)."""
    same_class = [c for c in library if c.class_id == instance.class_id and instance.class_id != 0]
    pool = same_class or list(library)
    return pool[int(rng.integers(len(pool)))], bool(same_class)


def _stretch_paste(canvas: np.ndarray, instance: Instance, cutout: Cutout, same_class: bool) -> Placed:
    """Resize the cut-out to the element's box, ignoring proportions, and alpha-blend it there."""
    rgba = np.asarray(cutout.load_rgba())
    x0, y0, x1, y1 = instance.box
    width, height = x1 - x0, y1 - y0
    shrinking = width * height < rgba.shape[0] * rgba.shape[1]
    resized = cv2.resize(
        rgba, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    )
    alpha = resized[..., 3:].astype(np.float32) / 255.0
    target = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = target * (1 - alpha) + resized[..., :3].astype(np.float32) * alpha
    canvas[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    mask = np.zeros(canvas.shape[:2], dtype=bool)
    mask[y0:y1, x0:x1] = alpha[..., 0] >= 0.5
    return Placed(
        instance=instance,
        cutout_id=cutout.id,
        same_class=same_class,
        mask=mask,
        native_size=(rgba.shape[1], rgba.shape[0]),
        placed_size=(width, height),
    )


def _swap_record_of(placed: Placed, cutout: Cutout) -> SwapRecord:
    """The pipeline's swap record, filled in for a stretched paste (no flip, no rotation)."""
    x0, y0, x1, y1 = placed.instance.box
    native_aspect = placed.native_size[1] / placed.native_size[0]
    placed_aspect = placed.placed_size[1] / placed.placed_size[0]
    return swap_record(
        placed,
        cutout,
        shape_distance=hu_distance(cutout.hu, hu_moments(placed.instance.mask[y0:y1, x0:x1])),
        placement={
            "flip": False,
            "rotation_deg": 0.0,
            "aspect_change": round(placed_aspect / native_aspect, 4),
            "size": list(placed.placed_size),
        },
    )
