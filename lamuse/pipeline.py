"""Compose the stages: segment → substitute → compose → stylize → upscale → finish, with a full trace.

The pipeline receives its stage objects and never builds models itself; ``load_pipeline`` is the one
place that turns names and paths into stages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from lamuse import __version__
from lamuse.compose import REMOVAL_METHOD, cover, paste, plain_canvas, remove_elements
from lamuse.errors import LamuseError
from lamuse.explain import explain
from lamuse.io import fit_long_side, list_images, load_image
from lamuse.library import CutoutLibrary
from lamuse.palette import dominant_colours
from lamuse.shapes import iou
from lamuse.substitute import Choice, choose_cutouts
from lamuse.types import (
    Instance,
    Placed,
    Reinterpretation,
    ReinterpretOptions,
    Segmentation,
    StageCallback,
    Stylizer,
    Upscaler,
)
from lamuse.weights import file_sha256

log = logging.getLogger(__name__)

MAX_SWAPS = 16
MIN_INSTANCE_FRACTION = 0.003


class SegmentationSource(Protocol):
    """What the pipeline needs from its segmenter: an answer plus which segmenter gave it."""

    def run(self, image: Image.Image, *, name: str | None = None) -> Segmentation: ...


@dataclass
class _Timer:
    timings: dict[str, float] = field(default_factory=dict)
    on_stage: StageCallback | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


class Pipeline:
    """La Muse's reinterpretation, built from ready stage objects.

    Args:
        segmenter: anything with ``run(image, name=) -> Segmentation`` (see ``lamuse.segment``).
        library: the cut-out library to draw from.
        stylizer: re-paints the collage in the painting's style; None leaves the collage as is.
        upscaler: used when ``options.upscale > 1``; None means upscaling is refused, not faked.
        backgrounds: folder of background images for ``background="swap"``.
    """

    def __init__(
        self,
        *,
        segmenter: SegmentationSource,
        library: CutoutLibrary,
        stylizer: Stylizer | None = None,
        upscaler: Upscaler | None = None,
        backgrounds: Path | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.library = library
        self.stylizer = stylizer
        self.upscaler = upscaler
        self.backgrounds = backgrounds

    def segment(self, painting: Image.Image, *, name: str | None = None) -> Segmentation:
        """Find the painting's elements at the painting's own size."""
        return self.segmenter.run(painting, name=name)

    def reinterpret(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions | None = None,
        variation: int = 0,
        on_stage: StageCallback | None = None,
        cutout_weights: Mapping[str, float] | None = None,
        background_weights: Mapping[str, float] | None = None,
        style: Image.Image | None = None,
        style_name: str | None = None,
        segmentation: Segmentation | None = None,
    ) -> Reinterpretation:
        """Make one variation; the same painting, library, options and variation give the same pixels.

        Args:
            painting: the painting (RGB), any size; work happens at ``options.size`` long side.
            name: its file name, used to find curated annotations and in the trace.
            variation: index k of this variation; randomness comes from ``(options.seed, k)``.
            on_stage: called with each stage's name as it starts (progress for the bot).
            cutout_weights / background_weights: vote-derived multipliers for random choices.
            style: another image to take the style from (default: the painting itself).
            segmentation: a segmentation of ``painting`` already made (reused across variations).
        """
        options = options or ReinterpretOptions()
        timer = _Timer(on_stage=on_stage)
        rng = np.random.default_rng([options.seed, variation])
        working = fit_long_side(painting.convert("RGB"), options.size)
        with timer.stage("segment"):
            if segmentation is None:
                segmentation = self.segment(working, name=name)
            instances = usable_instances(segmentation.instances, working.size)
        with timer.stage("substitute"):
            choices = choose_cutouts(
                instances, self.library.cutouts, rng=rng, chaos=options.chaos, cutout_weights=cutout_weights
            )
            base = np.asarray(working)
            canvas, background = self._background(base, instances, options, rng, background_weights)
            placed = [paste(canvas, base, choice) for choice in choices]
            collage = Image.fromarray(canvas)
        image = collage
        stylized = False
        if self.stylizer is not None and options.stylize:
            with timer.stage("stylize"):
                image = self.stylizer.stylize(
                    collage,
                    fit_long_side(style.convert("RGB"), 1024) if style is not None else working,
                    strength=options.style_strength,
                    keep_colors=options.keep_colors,
                )
                stylized = True
        if options.upscale > 1:
            with timer.stage("upscale"):
                image = self.upscale(image, options.upscale)
        with timer.stage("finish"):
            image = _finish(image, options)
            palette = [c.as_dict() for c in dominant_colours(image, seed=options.seed)]
        trace: dict[str, Any] = {
            "lamuse_version": __version__,
            "painting": name,
            "size": list(working.size),
            "output_size": list(image.size),
            "segmenter": segmentation.segmenter,
            "instances_found": len(segmentation.instances),
            "seed": options.seed,
            "variation": variation,
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
            "swaps": [_swap_record(c, p) for c, p in zip(choices, placed, strict=True)],
            "background": background,
            "stylized": stylized,
            "style_source": style_name or name,
            "models": self._models(segmentation, stylized, options.upscale > 1),
            "palette": palette,
            "weights_applied": {
                "cutouts": dict(cutout_weights or {}),
                "backgrounds": dict(background_weights or {}),
            },
            "timings": timer.timings,
        }
        trace["explanation"] = explain(trace, working.size, options.language)
        return Reinterpretation(image=image, collage=collage, trace=trace, placed=tuple(placed))

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        if scale == 1:
            return image
        if self.upscaler is None:
            raise LamuseError("no upscaler is configured for this pipeline")
        return self.upscaler.upscale(image, scale)

    def show_masks(self, painting: Image.Image, *, name: str, long_side: int = 1024) -> Image.Image:
        """The painting with each detected element outlined and labelled."""
        working = fit_long_side(painting.convert("RGB"), long_side)
        segmentation = self.segment(working, name=name)
        return outline_instances(working, segmentation.instances)

    def _background(
        self,
        base: np.ndarray,
        instances: Sequence[Instance],
        options: ReinterpretOptions,
        rng: np.random.Generator,
        weights: Mapping[str, float] | None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if options.background == "swap":
            path = options.background_image or self._pick_background(rng, weights)
            if path is not None:
                backdrop = load_image(path).image
                return cover(backdrop, (base.shape[1], base.shape[0])), {"mode": "swap", "source": path.name}
            log.info("no background images available; keeping the painting's own")
        if options.background == "none":
            return plain_canvas(base), {"mode": "none"}
        return remove_elements(base, [i.mask for i in instances]), {"mode": "keep", "method": REMOVAL_METHOD}

    def _pick_background(self, rng: np.random.Generator, weights: Mapping[str, float] | None) -> Path | None:
        files = list_images(self.backgrounds) if self.backgrounds is not None else []
        if not files:
            return None
        p = np.array([(weights or {}).get(f.name, 1.0) for f in files], dtype=np.float64)
        return files[int(rng.choice(len(files), p=p / p.sum()))]

    def _models(
        self, segmentation: Segmentation, stylized: bool, upscaled: bool
    ) -> dict[str, dict[str, str]]:
        """Every model file that shaped this picture, with its sha256 (computed once per file)."""
        files: list[tuple[str, Mapping[str, Path]]] = [("segmenter", segmentation.model_files)]
        if stylized and self.stylizer is not None:
            files.append(("stylizer", getattr(self.stylizer, "model_files", {})))
        if upscaled and self.upscaler is not None:
            files.append(("upscaler", getattr(self.upscaler, "model_files", {})))
        return {
            f"{stage}:{key}": {"file": Path(path).name, "sha256": file_sha256(Path(path))}
            for stage, stage_files in files
            for key, path in stage_files.items()
        }


def usable_instances(instances: Sequence[Instance], size: tuple[int, int]) -> list[Instance]:
    """Drop specks, keep the largest ``MAX_SWAPS``, and order back to front (lower in frame = nearer)."""
    minimum = MIN_INSTANCE_FRACTION * size[0] * size[1]
    kept = sorted((i for i in instances if i.area >= minimum), key=lambda i: -i.area)[:MAX_SWAPS]
    return sorted(kept, key=lambda i: (i.box[3], i.area))


def _swap_record(choice: Choice, placed: Placed) -> dict[str, Any]:
    cutout = choice.cutout
    return {
        "class": choice.instance.class_name,
        "class_id": choice.instance.class_id,
        "box": list(choice.instance.box),
        "original_mask_area": choice.instance.area,
        "cutout_id": cutout.id,
        "cutout_class": cutout.class_name,
        "same_class": choice.same_class,
        "source": cutout.source,
        "subject": cutout.subject,
        "credit": cutout.credit,
        "shape_distance": round(choice.shape_distance, 4),
        "mask_iou": round(iou(placed.mask, choice.instance.mask), 4),
        "placement": {
            "flip": choice.placement.flip,
            "rotation_deg": round(choice.placement.rotation, 2),
            "aspect_change": choice.placement.aspect_change,
            "size": [choice.placement.width, choice.placement.height],
        },
    }


def _finish(image: Image.Image, options: ReinterpretOptions) -> Image.Image:
    if options.greyscale:
        image = ImageOps.grayscale(image).convert("RGB")
    if options.watermark:
        image = watermark(image, options.watermark)
    return image


def watermark(image: Image.Image, text: str) -> Image.Image:
    """A visible, semi-transparent text mark in the lower right corner."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(12, base.height // 30))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(6, base.height // 80)
    x, y = base.width - (right - left) - 2 * margin, base.height - (bottom - top) - 2 * margin
    draw.rectangle(
        (x - margin, y - margin // 2, base.width - margin, base.height - margin), fill=(0, 0, 0, 90)
    )
    draw.text((x, y - top), text, font=font, fill=(255, 255, 255, 200))
    return Image.alpha_composite(base, layer).convert("RGB")


def outline_instances(image: Image.Image, instances: Sequence[Instance]) -> Image.Image:
    """Draw each instance's contour and class name, in a distinct colour each."""
    canvas = np.asarray(image.convert("RGB")).copy()
    colours = [(255, 64, 64), (64, 200, 255), (255, 210, 0), (120, 255, 120), (255, 120, 255), (255, 150, 40)]
    thickness = max(2, round(max(image.size) / 400))
    for index, instance in enumerate(instances):
        contours, _ = cv2.findContours(
            instance.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(canvas, contours, -1, colours[index % len(colours)], thickness)
    out = Image.fromarray(canvas)
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, image.height // 40))
    for index, instance in enumerate(instances):
        # Label at the element's topmost pixel: its box corner can lie far outside a bent silhouette.
        y0 = instance.box[1]
        x0 = int(np.flatnonzero(instance.mask[y0])[0])
        draw.text(
            (x0 + 4, y0 + 2),
            instance.class_name,
            font=font,
            fill=colours[index % len(colours)],
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return out


def load_pipeline(
    *,
    library: Path,
    annotations: Sequence[Path] | None = None,
    backgrounds: Path | None = None,
    stylizer: str = "auto",
    upscaler: str = "none",
    device: str = "auto",
    maskrcnn_weights: Path | None = None,
    maskrcnn_version: Literal["v1", "v2"] = "v2",
    score_threshold: float = 0.5,
    threads: int | None = None,
) -> Pipeline:
    """Build the stages from names and paths (heavy models load here, once).

    ``stylizer`` / ``upscaler``: a factory name from ``lamuse.style`` / ``lamuse.upscale``, or "none"
    (the upscaler costs two networks to load, so it is only built when asked for). ``threads``: the
    stylizer's onnxruntime threads (None: one per core; a worker sharing the machine passes its share).
    """
    from lamuse.segment import default_chain

    style_stage: Stylizer | None = None
    if stylizer != "none":
        from lamuse.style import create_stylizer

        style_stage = create_stylizer(stylizer, device=device, threads=threads)
    upscale_stage: Upscaler | None = None
    if upscaler != "none":
        from lamuse.upscale import create_upscaler

        upscale_stage = create_upscaler(upscaler, device=device)
    return Pipeline(
        segmenter=default_chain(
            list(annotations) if annotations else None,
            maskrcnn_weights,
            device=device,
            maskrcnn_version=maskrcnn_version,
            score_threshold=score_threshold,
        ),
        library=CutoutLibrary(library),
        stylizer=style_stage,
        upscaler=upscale_stage,
        backgrounds=backgrounds,
    )
