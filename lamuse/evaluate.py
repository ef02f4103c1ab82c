"""`lamuse eval`: measure our reinterpretations and La Muse's original strategy on annotated paintings.

Both strategies get the same painting, the same curated segmentation, the same library and the same
stylizer, and every metric is computed by the same code from the same kind of evidence (pasted masks,
collage, output); see docs/metrics.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, get_args

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lamuse import __version__, metrics
from lamuse.baseline import LaMuseBaseline
from lamuse.errors import LamuseError
from lamuse.io import fit_long_side, list_images, load_image, save_png_atomic
from lamuse.library import Cutout, CutoutLibrary
from lamuse.palette import dominant_colours, to_lab
from lamuse.pipeline import Pipeline
from lamuse.segment.annotations import AnnotationSegmenter
from lamuse.segment.chain import ChainSegmenter
from lamuse.segment.salient import SalientSegmenter
from lamuse.segment.selfie import PersonSegmenter
from lamuse.shapes import stands_whole
from lamuse.style.base import MagentaStylizer
from lamuse.types import (
    Instance,
    Placed,
    Reinterpretation,
    ReinterpretOptions,
    RemovalMode,
    Segmentation,
)

STRATEGIES = ("ours", "lamuse")
AGGREGATE_KEYS = (
    "coverage",
    "same_class_rate",
    "mask_iou_mean",
    "aspect_distortion_mean",
    "style_similarity",
    "style_gain",
    "palette_delta_e",
    "harmony_gap",
    "seam_energy",
    "remnant_area",
    "truncated_misuse_rate",
    "seconds_per_variation",
)
EXTRA_KEYS = (
    "centroid_kept_rate",
    "harmony_deviation",
    "collage_style_similarity",
    "collage_harmony_gap",
    "collage_seam_energy",
)
HIGHER_IS_BETTER = {
    "coverage": True,
    "same_class_rate": True,
    "mask_iou_mean": True,
    "aspect_distortion_mean": False,
    "style_similarity": True,
    "style_gain": True,
    "palette_delta_e": False,
    "harmony_gap": False,
    "seam_energy": False,
    "seconds_per_variation": False,
    "centroid_kept_rate": True,
    "harmony_deviation": False,
    "collage_style_similarity": True,
    "collage_harmony_gap": False,
    "collage_seam_energy": False,
    "remnant_area": False,
    "truncated_misuse_rate": False,
}
THUMB_HEIGHT = 150
THUMB_WIDTH = 210


@dataclass(frozen=True, eq=False)
class Outcome:
    """One variation of one strategy: its result (with what it pasted where) and how long it took."""

    result: Reinterpretation
    seconds: float


@dataclass(frozen=True, eq=False)
class Reference:
    """What every variation of one painting is compared with, computed once."""

    working: Image.Image
    restyled: np.ndarray
    annotated: list[Instance]
    segmentation: Segmentation
    salient: np.ndarray
    style_vector: np.ndarray
    palette_lab: np.ndarray


def add_eval_parser(subparsers: Any) -> None:
    """Register ``lamuse eval`` on the CLI's subparsers."""
    from lamuse.cli import _long_side, _non_negative, _positive

    parser = subparsers.add_parser(
        "eval", help="measure our strategy and La Muse's on annotated paintings", description=__doc__
    )
    parser.add_argument("--paintings", type=Path, required=True, help="folder of paintings")
    parser.add_argument("--annotations", type=Path, required=True, help="COCO instance JSON of the paintings")
    parser.add_argument("--library", type=Path, required=True, help="cut-out library")
    parser.add_argument("--strategy", choices=("ours", "lamuse", "both"), default="both")
    parser.add_argument("--variations", type=_positive, default=1)
    parser.add_argument("--seed", type=_non_negative, default=0)
    parser.add_argument("--out", type=Path, required=True, help="where eval.json and the contact sheet go")
    parser.add_argument(
        "--backgrounds",
        type=Path,
        help="La Muse's background photos (default: backgrounds/ beside --paintings)",
    )
    parser.add_argument("--size", type=_long_side, default=512, help="working long side for both strategies")
    parser.add_argument(
        "--removal",
        choices=get_args(RemovalMode),
        default=ReinterpretOptions.removal,
        help="how ours clears the old elements (tight: the first version's removal)",
    )
    parser.add_argument(
        "--limit", type=_positive, help="evaluate only the first K annotated paintings (by name)"
    )
    parser.add_argument("--stylizer", default="auto", help="Magenta stylizer backend")
    parser.add_argument("--device", default="auto")


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate, write ``eval.json`` and ``contact_sheet.png`` under ``--out``, print the aggregate."""
    from lamuse.style import create_stylizer

    if args.variations < 1:
        raise LamuseError("--variations must be at least 1")
    strategies = STRATEGIES if args.strategy == "both" else (args.strategy,)
    segmenter = AnnotationSegmenter([args.annotations], image_dirs=[args.paintings])
    paintings = annotated_paintings(args.paintings, segmenter)[: args.limit]
    if not paintings:
        raise LamuseError(f"no painting in {args.paintings} has instances in {args.annotations}")
    backgrounds = args.backgrounds
    if backgrounds is None and (args.paintings.parent / "backgrounds").is_dir():
        backgrounds = args.paintings.parent / "backgrounds"
    library = CutoutLibrary(args.library)
    stylizer = create_stylizer(args.stylizer, device=args.device)
    pipeline = Pipeline(segmenter=ChainSegmenter([segmenter]), library=library, stylizer=stylizer)
    baseline = LaMuseBaseline(library=library, stylizer=stylizer, backgrounds=backgrounds)
    options = ReinterpretOptions(seed=args.seed, size=args.size, removal=args.removal)
    salient = SalientSegmenter()
    heads = PersonSegmenter(device=args.device)
    cutouts = {cutout.id: cutout for cutout in library.cutouts}

    records: list[dict[str, Any]] = []
    sheet_rows: list[list[Image.Image]] = []
    for index, path in enumerate(paintings, 1):
        painting = load_image(path).image
        reference = make_reference(
            painting, path.name, segmenter, salient, stylizer, args.size, args.seed, heads=heads
        )
        record: dict[str, Any] = {
            "painting": path.name,
            "annotated_instances": len(reference.annotated),
            "strategies": {},
        }
        row = [reference.working]
        for strategy in strategies:
            runs = []
            earlier = (
                pipeline.assignments(
                    painting,
                    name=path.name,
                    count=args.variations - 1,
                    options=options,
                    segmentation=reference.segmentation,
                )
                if strategy == "ours"
                else []
            )
            for k in range(args.variations):
                if strategy == "ours":
                    outcome = run_ours(pipeline, painting, path.name, reference, options, k, earlier[:k])
                else:
                    outcome = run_lamuse(baseline, painting, path.name, reference, args.seed, args.size, k)
                runs.append(measure(outcome, reference, stylizer, args.seed, cutouts))
                if k == 0:
                    row += [outcome.result.collage, outcome.result.image]
            record["strategies"][strategy] = {"mean": _mean_of(runs), "variations": runs}
        records.append(record)
        sheet_rows.append(row)
        print(f"[{index}/{len(paintings)}] {path.name}: " + _progress(record), flush=True)  # noqa: T201

    report: dict[str, Any] = {
        "command": command_line(args),
        "versions": versions(stylizer),
        "settings": {
            "strategies": list(strategies),
            "variations": args.variations,
            "seed": args.seed,
            "size": args.size,
            "removal": args.removal,
            "backgrounds": str(backgrounds) if backgrounds else None,
            "library_cutouts": len(library),
            "paintings_evaluated": len(paintings),
        },
        "paintings": records,
        "aggregate": aggregate(records, strategies, AGGREGATE_KEYS),
        "supplementary": aggregate(records, strategies, EXTRA_KEYS),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    headers = ["original"] + [f"{s} {stage}" for s in strategies for stage in ("collage", "output")]
    save_png_atomic(
        contact_sheet(sheet_rows, headers, [p.name for p in paintings]), args.out / "contact_sheet.png"
    )
    print(format_table(report["aggregate"], report["supplementary"], strategies))  # noqa: T201
    print(f"wrote {args.out / 'eval.json'} and {args.out / 'contact_sheet.png'}")  # noqa: T201
    return 0


def annotated_paintings(folder: Path, segmenter: AnnotationSegmenter) -> list[Path]:
    """Paintings in ``folder`` whose annotation entry (matched by file name) has non-crowd instances."""
    with_instances = {
        name
        for coco in segmenter.files
        for name, image in coco.by_name.items()
        if any(not ann.iscrowd for ann in coco.annotations[image.id])
    }
    return [p for p in list_images(folder) if p.name in with_instances]


def make_reference(
    painting: Image.Image,
    name: str,
    segmenter: AnnotationSegmenter,
    salient: SalientSegmenter,
    stylizer: MagentaStylizer,
    size: int,
    seed: int,
    *,
    heads: PersonSegmenter | None = None,
) -> Reference:
    """The painting at working size, its curated instances, style vector and palette, and the painting
    re-painted in its own style: outputs are compared with that, so what the stylizer does to any
    picture (it flattens contrast and redraws edges) is not counted against a strategy's swaps. Its
    saliency map and its figures' head maps (from ``heads``) go with the segmentation, as the default
    chain's do."""
    working = fit_long_side(painting.convert("RGB"), size)
    annotated = segmenter.segment(working, name=name)
    palette = dominant_colours(working, seed=seed)
    saliency = salient.saliency(working)
    return Reference(
        working=working,
        restyled=np.asarray(stylizer.stylize(working, working).convert("RGB").resize(working.size)),
        annotated=annotated,
        segmentation=Segmentation(
            segmenter="annotations",
            instances=annotated,
            saliency=saliency,
            framed=salient.framed(working, annotated, saliency),
            heads=heads.heads(np.asarray(working), annotated) if heads is not None else {},
        ),
        salient=saliency > metrics.SALIENT_THRESHOLD,
        style_vector=stylizer.style_vector(working),
        palette_lab=to_lab(np.array([c.rgb for c in palette], dtype=np.uint8)),
    )


def run_ours(
    pipeline: Pipeline,
    painting: Image.Image,
    name: str,
    reference: Reference,
    options: ReinterpretOptions,
    variation: int,
    earlier: Sequence[tuple[str, ...]] | None = None,
) -> Outcome:
    """Run the real pipeline on the reference segmentation (``earlier``: the assignments of variations
    0..k-1, ``Pipeline.assignments``, made outside the timing; None makes them inside)."""
    start = time.perf_counter()
    result = pipeline.reinterpret(
        painting,
        name=name,
        options=options,
        variation=variation,
        segmentation=reference.segmentation,
        earlier=earlier,
    )
    return Outcome(result=result, seconds=time.perf_counter() - start)


def run_lamuse(
    baseline: LaMuseBaseline,
    painting: Image.Image,
    name: str,
    reference: Reference,
    seed: int,
    size: int,
    variation: int,
) -> Outcome:
    """Run the La Muse baseline on the same segmentation."""
    start = time.perf_counter()
    result = baseline.reinterpret(
        painting, name=name, seed=seed, variation=variation, size=size, segmentation=reference.segmentation
    )
    return Outcome(result=result, seconds=time.perf_counter() - start)


def visible_masks(placed: Sequence[Placed]) -> list[np.ndarray]:
    """Each pasted silhouette minus what later pastes cover (pastes are drawn back to front)."""
    visible = []
    covered = np.zeros(placed[0].mask.shape, dtype=bool) if placed else None
    for item in reversed(placed):
        assert covered is not None
        visible.append(item.mask & ~covered)
        covered |= item.mask
    return visible[::-1]


def truncated_misuses(placed: Sequence[Placed], cutouts: Mapping[str, Cutout]) -> list[bool]:
    """Per swap: a frame-cut cut-out replaced an element standing whole in the painting while a whole
    cut-out of the element's class was in the library."""
    whole_classes = {c.class_name for c in cutouts.values() if c.whole}
    misused = []
    for item in placed:
        cutout = cutouts.get(item.cutout_id)
        misused.append(
            cutout is not None
            and not cutout.whole
            and stands_whole(item.instance.mask)  # the very rule selection applies
            and item.instance.class_name in whole_classes
        )
    return misused


def measure(
    outcome: Outcome,
    reference: Reference,
    stylizer: MagentaStylizer,
    seed: int,
    cutouts: Mapping[str, Cutout],
) -> dict[str, Any]:
    """Every metric of one variation (NaN where undefined, e.g. no swap); see docs/metrics.md."""
    painting = np.asarray(reference.working)
    size = reference.working.size
    output_image = outcome.result.image.convert("RGB")
    collage_image = outcome.result.collage.convert("RGB")
    if output_image.size != size:
        output_image = output_image.resize(size, Image.Resampling.LANCZOS)
    output, collage = np.asarray(output_image), np.asarray(collage_image)
    placed = outcome.result.placed
    visible = visible_masks(placed)
    originals = [p.instance.mask for p in placed]
    empty = np.zeros(painting.shape[:2], dtype=bool)
    covered = np.logical_or.reduce([p.mask for p in placed]) if placed else empty
    elements = np.logical_or.reduce([i.mask for i in reference.annotated]) if reference.annotated else empty
    coverage, same_class_rate = metrics.coverage(
        len(reference.annotated), len(placed), sum(p.same_class for p in placed)
    )
    similarity = metrics.cosine(stylizer.style_vector(output_image), reference.style_vector)
    collage_similarity = metrics.cosine(stylizer.style_vector(collage_image), reference.style_vector)
    palette = to_lab(np.array([c.rgb for c in dominant_colours(output_image, seed=seed)], dtype=np.uint8))
    harmony = metrics.harmony_gap(output, visible, reference.restyled, originals)
    values: dict[str, Any] = {
        "swaps": len(placed),
        "coverage": coverage,
        "same_class_rate": same_class_rate,
        "mask_iou_mean": _nanmean([metrics.mask_iou(p.mask, p.instance.mask) for p in placed]),
        "centroid_kept_rate": metrics.centroid_kept(
            [metrics.centroid_shift(p.mask, p.instance.mask) for p in placed]
        ),
        "aspect_distortion_mean": _nanmean(
            [metrics.aspect_distortion(p.native_size, p.placed_size) for p in placed]
        ),
        "style_similarity": similarity,
        "collage_style_similarity": collage_similarity,
        "style_gain": similarity - collage_similarity,
        "palette_delta_e": metrics.palette_distance(palette, reference.palette_lab),
        "harmony_gap": harmony,
        "harmony_deviation": abs(math.log(harmony)) if harmony > 0 else float("nan"),
        "collage_harmony_gap": metrics.harmony_gap(collage, visible, painting, originals),
        "seam_energy": metrics.seam_energy(output, visible, reference.restyled, originals),
        "collage_seam_energy": metrics.seam_energy(collage, visible, painting, originals),
        "remnant_area": _nanmean(
            [
                metrics.remnant_area(collage, painting, mask, covered, reference.salient, elements)
                for mask in originals
            ]
        ),
        "truncated_misuse_rate": metrics.truncated_misuse_rate(truncated_misuses(placed, cutouts)),
        "seconds_per_variation": outcome.seconds,
        "cutouts": [p.cutout_id for p in placed],
        "background": outcome.result.trace.get("background"),
    }
    return {k: _json_number(v) for k, v in values.items()}


def aggregate(
    records: Sequence[dict[str, Any]], strategies: Sequence[str], keys: Sequence[str]
) -> dict[str, Any]:
    """Mean over paintings (each painting counts once) of each painting's mean over variations."""
    out: dict[str, dict[str, float | None]] = {}
    for strategy in strategies:
        means = [r["strategies"][strategy]["mean"] for r in records if strategy in r["strategies"]]
        out[strategy] = {
            key: _json_number(_nanmean([m[key] for m in means if m.get(key) is not None])) for key in keys
        }
    return {"strategies": out}


def _mean_of(runs: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    keys = (*AGGREGATE_KEYS, *EXTRA_KEYS)
    return {k: _json_number(_nanmean([r[k] for r in runs if r.get(k) is not None])) for k in keys}


def _nanmean(values: Sequence[float]) -> float:
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return float(np.mean(finite)) if finite else float("nan")


def _json_number(value: Any) -> Any:
    """Round floats for reading; NaN (undefined) becomes null, which JSON can carry."""
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else round(float(value), 4)
    return value


def _progress(record: dict[str, Any]) -> str:
    parts = []
    for strategy, data in record["strategies"].items():
        mean = data["mean"]
        parts.append(
            f"{strategy} iou {_fmt(mean['mask_iou_mean'])} aspect {_fmt(mean['aspect_distortion_mean'])} "
            f"harmony {_fmt(mean['harmony_gap'])} {_fmt(mean['seconds_per_variation'])} s"
        )
    return " | ".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(main: dict[str, Any], extra: dict[str, Any], strategies: Sequence[str]) -> str:
    """The aggregate as an aligned text table, with which direction is better."""
    lines = [f"{'metric':<26}{'better':>8}" + "".join(f"{s:>12}" for s in strategies)]
    for table in (main, extra):
        keys = list(next(iter(table["strategies"].values())).keys())
        for key in keys:
            arrow = "higher" if HIGHER_IS_BETTER[key] else "lower"
            cells = "".join(f"{_fmt(table['strategies'][s][key]):>12}" for s in strategies)
            lines.append(f"{key:<26}{arrow:>8}{cells}")
    return "\n".join(lines)


def contact_sheet(
    rows: Sequence[Sequence[Image.Image]], headers: Sequence[str], names: Sequence[str]
) -> Image.Image:
    """One row per painting (original, then collage and output of each strategy), labelled."""
    columns = len(headers)
    header_height = 24
    sheet = Image.new("RGB", (columns * THUMB_WIDTH, header_height + len(rows) * THUMB_HEIGHT), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for column, header in enumerate(headers):
        draw.text((column * THUMB_WIDTH + 6, 4), header, fill="black", font=font)
    for row_index, (row, name) in enumerate(zip(rows, names, strict=True)):
        top = header_height + row_index * THUMB_HEIGHT
        for column, image in enumerate(row):
            thumb = image.convert("RGB")
            thumb.thumbnail((THUMB_WIDTH - 4, THUMB_HEIGHT - 4), Image.Resampling.LANCZOS)
            left = column * THUMB_WIDTH + (THUMB_WIDTH - thumb.width) // 2
            sheet.paste(thumb, (left, top + (THUMB_HEIGHT - thumb.height) // 2))
        draw.text(
            (4, top + 2), Path(name).stem[:28], fill="white", font=font, stroke_width=2, stroke_fill="black"
        )
    return sheet


def command_line(args: argparse.Namespace) -> str:
    """The ``lamuse eval`` command that reproduces this run, rebuilt from the parsed arguments."""
    argv = ["lamuse", "eval"]
    for key, value in vars(args).items():
        if key in {"command", "verbose"} or value is None or callable(value):
            continue
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(argv)


def versions(stylizer: MagentaStylizer) -> dict[str, Any]:
    """Code, package and model versions that decide the numbers."""
    packages: dict[str, str | None] = {}
    for package in ("numpy", "opencv-python-headless", "pillow", "onnxruntime", "torch"):
        try:
            packages[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            packages[package] = None
    return {
        "lamuse": __version__,
        "python": platform.python_version(),
        "packages": packages,
        "stylizer": stylizer.name,
        "stylizer_files": {k: Path(v).name for k, v in stylizer.model_files.items()},
    }
