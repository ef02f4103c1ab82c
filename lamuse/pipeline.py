"""Compose the stages: segment → substitute → compose → stylize → upscale → finish, with a full trace.

The pipeline receives its stage objects and never builds models itself; ``load_pipeline`` is the one
place that turns names and paths into stages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from lamuse import __version__
from lamuse.compose import (
    REMOVAL_METHOD,
    background_candidates,
    clear_elements,
    cover,
    paste,
    pick_background,
    plain_canvas,
)
from lamuse.errors import BackgroundsUnavailable, LamuseError
from lamuse.explain import explain
from lamuse.fonts import load_font
from lamuse.io import fit_long_side, load_image
from lamuse.library import Cutout, CutoutLibrary
from lamuse.palette import dominant_colours
from lamuse.pertinence import class_plan, load_eras
from lamuse.pertinence import theme_reason as theme_reason_of
from lamuse.shapes import iou
from lamuse.substitute import Choice, Fits, assignment_of, choose_cutouts
from lamuse.types import (
    BackgroundRecord,
    Instance,
    ModelRecord,
    Placed,
    PlacementRecord,
    Reinterpretation,
    ReinterpretOptions,
    RepeatRecord,
    Segmentation,
    StageCallback,
    StageName,
    Stylizer,
    SwapRecord,
    Timings,
    Trace,
    Upscaler,
)
from lamuse.weights import Progress, file_sha256

log = logging.getLogger(__name__)

MAX_SWAPS = 16
MIN_INSTANCE_FRACTION = 0.003


class SegmentationSource(Protocol):
    """What the pipeline needs from its segmenter: an answer plus which segmenter gave it."""

    def run(self, image: Image.Image, *, name: str | None = None) -> Segmentation: ...


@dataclass
class _Timer:
    timings: Timings = field(default_factory=Timings)
    on_stage: StageCallback | None = None

    @contextmanager
    def stage(self, name: StageName) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


@dataclass(frozen=True)
class _Selection:
    """What decides one painting's cut-outs, but for each variation's rng and the assignments before it."""

    library: CutoutLibrary
    instances: Sequence[Instance]
    options: ReinterpretOptions
    plan: Sequence[Sequence[frozenset[int]]] | None
    cutout_weights: Mapping[str, float] | None
    avoid: Collection[str]
    placements: Fits
    """What every choice so far found (``substitute.Fits``): shared by the painting's variations."""

    def choose(
        self, variation: int, rng: np.random.Generator, taken: Sequence[tuple[str, ...]]
    ) -> list[Choice]:
        """One variation's choices, moved off the assignments in ``taken``."""
        return choose_cutouts(
            self.instances,
            self.library,
            rng=rng,
            chaos=self.options.chaos,
            cutout_weights=self.cutout_weights,
            avoid=self.avoid,
            variation=variation,
            class_plan=self.plan,
            taken=taken,
            placements=self.placements,
        )

    def assignments(self, count: int) -> list[tuple[str, ...]]:
        """The assignments of variations 0..count-1, each moved off those before it (candidate 0's rng)."""
        made: list[tuple[str, ...]] = []
        for variation in range(count):
            rng = np.random.default_rng([self.options.seed, variation])
            made.append(assignment_of(self.choose(variation, rng, tuple(made))))
        return made


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
        candidate: int = 0,
        avoid_cutouts: Collection[str] = (),
        earlier: Sequence[tuple[str, ...]] | None = None,
        placements: Fits | None = None,
    ) -> Reinterpretation:
        """Make one variation; the same painting, library, options and variation give the same pixels.

        Variation k never has the same cut-outs as variations 0..k-1 while the library offers another
        assignment (variation 0 is the plain pick): a repeated draw moves to the nearest assignment not
        taken. The earlier variations' picks are recomputed (selection only) unless ``earlier`` has them.

        Args:
            painting: the painting (RGB), any size; work happens at ``options.size`` long side.
            name: its file name, used to find curated annotations and in the trace.
            variation: index k of this variation; randomness comes from ``(options.seed, k)``.
            on_stage: called with each stage's name as it starts (progress for the bot).
            cutout_weights / background_weights: vote-derived multipliers for random choices.
            style: another image to take the style from (default: the painting itself).
            segmentation: a segmentation of ``painting`` already made (reused across variations).
            candidate: index of this candidate of the variation (``lamuse.pertinence.best_of`` ranks
                them); 0 is the variation itself.
            avoid_cutouts: cut-out ids to leave out while others fit nearly as well (a guild's recent).
            earlier: the assignments of variations 0..k-1, exactly as ``assignments`` gives them for the
                same arguments (callers making several variations compute them once); None computes them.
            placements: the placements earlier selections of the same painting, segmentation and options
                found (``substitute.Fits``), reused and filled in.

        Raises:
            ValueError: ``earlier`` does not hold ``variation`` assignments.
        """
        options = options or ReinterpretOptions()
        if earlier is not None and len(earlier) != variation:
            raise ValueError(f"variation {variation} needs {variation} earlier assignments: {len(earlier)}")
        timer = _Timer(on_stage=on_stage)
        # The selection is the rng's first consumer, so ``assignments`` redraws it exactly.
        rng = np.random.default_rng([options.seed, variation] + ([candidate] if candidate else []))
        working = fit_long_side(painting.convert("RGB"), options.size)
        with timer.stage("segment"):
            if segmentation is None:
                segmentation = self.segment(working, name=name)
            instances = usable_instances(segmentation.instances, working.size)
        with timer.stage("substitute"):
            selection = self._selection(instances, options, cutout_weights, avoid_cutouts, placements)
            if earlier is None:
                earlier = selection.assignments(variation)
            choices = selection.choose(variation, rng, earlier)
            repeats = _repeat_of(choices, earlier)
            base = np.asarray(working)
            canvas, background = self._background(
                base, instances, segmentation, options, rng, background_weights
            )
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
            palette = [c.as_record() for c in dominant_colours(image, seed=options.seed)]
        trace: Trace = {
            "lamuse_version": __version__,
            "painting": name,
            "size": list(working.size),
            "output_size": list(image.size),
            "segmenter": segmentation.segmenter,
            "detector_available": segmentation.detector_available,
            "instances_found": len(segmentation.instances),
            "seed": options.seed,
            "variation": variation,
            "options": options.as_record(),
            "swaps": [_swap_record_of(c, p, options) for c, p in zip(choices, placed, strict=True)],
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
            "explanation": "",
        }
        if repeats is not None:
            trace["repeats"] = repeats
        trace["explanation"] = explain(trace, working.size, options.language)
        return Reinterpretation(image=image, collage=collage, trace=trace, placed=tuple(placed))

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
        style: Image.Image | None = None,
        style_name: str | None = None,
        avoid_cutouts: Collection[str] = (),
    ) -> list[Reinterpretation]:
        """Several variations of one painting (``reinterpret`` for each): the painting is segmented once
        and the earlier variations' cut-outs are selected once for all of them, every selection reusing
        the placements the others found."""
        segmentation = self.segment(fit_long_side(painting, options.size), name=name)
        placements: Fits = {}
        earlier = self.assignments(
            painting,
            name=name,
            count=max(variations, default=0),
            options=options,
            segmentation=segmentation,
            cutout_weights=cutout_weights,
            avoid_cutouts=avoid_cutouts,
            placements=placements,
        )
        return [
            self.reinterpret(
                painting,
                name=name,
                options=options,
                variation=variation,
                on_stage=on_stage,
                cutout_weights=cutout_weights,
                background_weights=background_weights,
                style=style,
                style_name=style_name,
                segmentation=segmentation,
                avoid_cutouts=avoid_cutouts,
                earlier=earlier[:variation],
                placements=placements,
            )
            for variation in variations
        ]

    def assignments(
        self,
        painting: Image.Image,
        *,
        name: str,
        count: int,
        options: ReinterpretOptions | None = None,
        segmentation: Segmentation | None = None,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Collection[str] = (),
        placements: Fits | None = None,
    ) -> list[tuple[str, ...]]:
        """The cut-out ids that variations 0..count-1 swap in, as ``reinterpret`` picks them with the same
        arguments (selection only: nothing is composed or painted). ``[:k]`` is variation k's ``earlier``.
        """
        options = options or ReinterpretOptions()
        working = fit_long_side(painting.convert("RGB"), options.size)
        if segmentation is None:
            segmentation = self.segment(working, name=name)
        instances = usable_instances(segmentation.instances, working.size)
        return self._selection(instances, options, cutout_weights, avoid_cutouts, placements).assignments(
            count
        )

    def _selection(
        self,
        instances: Sequence[Instance],
        options: ReinterpretOptions,
        cutout_weights: Mapping[str, float] | None,
        avoid_cutouts: Collection[str],
        placements: Fits | None = None,
    ) -> _Selection:
        return _Selection(
            library=self.library,
            instances=instances,
            options=options,
            # Themes read every cut-out's class and photo; the default (free) reads none.
            plan=None
            if options.theme == "free"
            else class_plan(instances, self.library.cutouts, options.theme, options.year),
            cutout_weights=cutout_weights,
            avoid=avoid_cutouts,
            placements=placements if placements is not None else {},
        )

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
        segmentation: Segmentation,
        options: ReinterpretOptions,
        rng: np.random.Generator,
        weights: Mapping[str, float] | None,
    ) -> tuple[np.ndarray, BackgroundRecord]:
        if options.background == "swap":
            picked = (
                (options.background_image, load_image(options.background_image).image)
                if options.background_image is not None
                else pick_background(background_candidates(self.backgrounds), rng, weights)
            )
            if picked is None:
                where = f"in {self.backgrounds}" if self.backgrounds is not None else "configured"
                raise BackgroundsUnavailable(
                    f"background swap needs background images, and none usable is {where}: "
                    "pass a folder of backgrounds (or one image), or keep the painting's own background"
                )
            path, backdrop = picked
            return cover(backdrop, (base.shape[1], base.shape[0])), {"mode": "swap", "source": path.name}
        if options.background == "none":
            return plain_canvas(base), {"mode": "none"}
        cleared = clear_elements(
            base,
            instances,
            removal=options.removal,
            saliency=segmentation.saliency,
            others=segmentation.instances,
            framed=segmentation.framed,
            heads=segmentation.heads,
        )
        return cleared, {"mode": "keep", "method": REMOVAL_METHOD, "removal": options.removal}

    def _models(self, segmentation: Segmentation, stylized: bool, upscaled: bool) -> dict[str, ModelRecord]:
        """Every model file that shaped this picture, with its sha256 (computed once per file)."""
        files: list[tuple[str, Mapping[str, Path]]] = [("segmenter", segmentation.model_files)]
        if stylized and self.stylizer is not None:
            files.append(("stylizer", self.stylizer.model_files))
        if upscaled and self.upscaler is not None:
            files.append(("upscaler", self.upscaler.model_files))
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


def swap_record(
    placed: Placed,
    cutout: Cutout,
    *,
    shape_distance: float,
    placement: PlacementRecord,
    theme_reason: str | None = None,
    whole_policy: str | None = None,
) -> SwapRecord:
    """The trace's record of one swap; the one place both strategies (ours, La Muse's) describe a swap."""
    instance = placed.instance
    record: SwapRecord = {
        "class": instance.class_name,
        "class_id": instance.class_id,
        "box": list(instance.box),
        "original_mask_area": instance.area,
        "cutout_id": cutout.id,
        "cutout_class": cutout.class_name,
        "same_class": placed.same_class,
        "source": cutout.source,
        "subject": cutout.subject,
        "credit": cutout.credit,
        "source_url": cutout.source_url,
        "licence": cutout.licence,
        "licence_url": cutout.licence_url,
        "cutout_whole": cutout.whole,
        "shape_distance": round(shape_distance, 4),
        "mask_iou": round(iou(placed.mask, instance.mask), 4),
        "placement": placement,
        "new_class": cutout.class_name,
        "era": load_eras().year(cutout.class_name),
    }
    if theme_reason:
        record["theme_reason"] = theme_reason
    if whole_policy is not None:
        record["whole_policy"] = whole_policy
    return record


def _repeat_of(choices: Sequence[Choice], earlier: Sequence[tuple[str, ...]]) -> RepeatRecord | None:
    """Which earlier variation these choices repeat (None: none, or nothing was swapped)."""
    assignment = assignment_of(choices)
    if not choices or assignment not in earlier:
        return None
    single = all(choice.window == 1 for choice in choices)
    return {"variation": earlier.index(assignment), "reason": "one_cutout" if single else "all_taken"}


def _swap_record_of(choice: Choice, placed: Placed, options: ReinterpretOptions) -> SwapRecord:
    placement = choice.placement
    cutout = choice.cutout
    return swap_record(
        placed,
        cutout,
        shape_distance=choice.shape_distance,
        placement={
            "flip": placement.flip,
            "rotation_deg": round(placement.rotation, 2),
            "aspect_change": placement.aspect_change,
            "size": [placement.width, placement.height],
        },
        theme_reason=theme_reason_of(
            choice.instance.class_name, cutout.class_name, options.theme, options.year, options.language
        ),
        whole_policy=choice.whole_policy,
    )


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
    font = load_font(max(12, base.height // 30))  # DejaVu: "é", "—" and "→" print, not boxes
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
    font = load_font(max(12, image.height // 40))
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
    offline: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> Pipeline:
    """Build the stages from names and paths (heavy models load here, once).

    ``stylizer`` / ``upscaler``: a factory name from ``lamuse.style`` / ``lamuse.upscale``, or "none"
    (the upscaler costs two networks to load, so it is only built when asked for). ``offline`` forbids
    fetching Mask R-CNN weights; ``progress`` hears about that download (see ``default_chain``).
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
            offline=offline,
            progress=progress,
        ),
        library=CutoutLibrary(library),
        stylizer=style_stage,
        upscaler=upscale_stage,
        backgrounds=backgrounds,
    )
