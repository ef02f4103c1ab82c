"""The ``lamuse`` command line: build a cut-out library, reinterpret paintings, run the demo.

Bad input exits with status 2 and one ``error: …`` line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from lamuse.errors import LamuseError
from lamuse.library import AddSummary, build_library
from lamuse.recipe import parse_recipe
from lamuse.types import ReinterpretOptions, RemovalMode, Theme
from lamuse.weights import Progress

if TYPE_CHECKING:
    from lamuse.distributed import PipelineConfig

log = logging.getLogger(__name__)

DEMO_PAINTINGS = (
    "seurat_grande_jatte.jpg",
    "monet_woman_with_parasol.jpg",
    "cezanne_basket_of_apples.jpg",
    "shishkin_morning_in_a_pine_forest.jpg",
)


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def _maskrcnn_version(value: str) -> str:
    if value not in ("v1", "v2"):
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from 'v1', 'v2')")
    return value


def _file_path(value: str) -> Path:
    """A path that, if it exists, is a regular file: a FIFO or device would block or never end."""
    path = Path(value)
    if path.exists() and not path.is_file():
        raise argparse.ArgumentTypeError(f"{value} is not a regular file")
    return path


def _int_list(value: str) -> tuple[int, ...]:
    numbers = tuple(_positive(v) for v in value.split(",") if v.strip())
    if not numbers:
        raise argparse.ArgumentTypeError("give comma-separated numbers, e.g. 1000,10000")
    return numbers


def _long_side(value: str) -> int:
    number = int(value)
    if not 64 <= number <= 8192:
        raise argparse.ArgumentTypeError("must be between 64 and 8192 pixels")
    return number


def _chaos(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _year(value: str) -> int:
    number = int(value)
    if not -5000 <= number <= 3000:
        raise argparse.ArgumentTypeError("must be a year between -5000 and 3000")
    return number


def build_parser() -> argparse.ArgumentParser:
    from lamuse.library import default_library_dir

    parser = argparse.ArgumentParser(prog="lamuse", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    library = commands.add_parser("library", help="manage the cut-out library")
    library_commands = library.add_subparsers(dest="library_command", required=True)
    add = library_commands.add_parser("add", help="cut out every object of the photos in DIR")
    add.add_argument("dir", type=Path)
    add.add_argument("--library", type=Path, default=default_library_dir())
    add.add_argument("--annotations", type=Path, action="append", help="COCO instance JSON for the photos")
    add.add_argument(
        "--classes", type=_file_path, help='JSON {"photo.jpg": "dog"} for photos without annotations'
    )
    add.add_argument("--no-progress", action="store_true")
    show = library_commands.add_parser("show", help="count the library's cut-outs per class")
    show.add_argument("--library", type=Path, default=default_library_dir())
    show.add_argument("--json", action="store_true", help="print the counts per class as JSON")
    show.add_argument("--items", action="store_true", help="with --json: every cut-out and its credit")
    fetch_library = library_commands.add_parser("fetch", help="download photos and cut them out")
    fetch_sources = fetch_library.add_subparsers(dest="fetch_source", required=True)
    coco = fetch_sources.add_parser("coco", help="licence-clean, credited cut-outs from COCO")
    coco.add_argument("--library", type=Path, default=default_library_dir())
    coco.add_argument("--downloads", type=Path, help="where the zip and images go (default: a cache)")
    coco.add_argument("--split", choices=("train2017", "val2017"))
    coco.add_argument("--base-url", help="mirror of http://images.cocodataset.org")
    coco.add_argument("--licences", type=_int_list, help="COCO licence ids (default 4,5,7,8)")
    coco.add_argument("--classes", type=lambda v: tuple(c.strip() for c in v.split(",") if c.strip()))
    coco.add_argument("--max-per-class", type=_positive)
    coco.add_argument("--limit", type=_positive, help="at most this many images (a first try)")
    coco.add_argument("--concurrency", type=_positive)
    coco.add_argument("--retries", type=_non_negative)
    coco.add_argument("--dry-run", action="store_true", help="say what would be downloaded, and stop")
    coco.add_argument("--no-progress", action="store_true")

    reinterpret = commands.add_parser("reinterpret", help="reinterpret one painting")
    reinterpret.add_argument("painting", type=Path)
    _add_pipeline_options(reinterpret, default_library_dir())
    reinterpret.add_argument(
        "--variations", type=int, default=1, help="make N, each with other cut-outs than those before it"
    )
    reinterpret.add_argument(
        "--candidates", type=_positive, default=1, help="make N per variation, keep the most pertinent"
    )
    reinterpret.add_argument("--sheet", action="store_true", help="also write <stem>-<k>-sheet.png")
    reinterpret.add_argument("--recipe", help="a recipe code (a bot picture's footer): its seed and options")
    reinterpret.add_argument("--out", type=Path, default=Path("out"))

    batch = commands.add_parser("batch", help="reinterpret a folder of paintings, on local or Ray workers")
    batch.add_argument("dir", type=Path)
    _add_pipeline_options(batch, default_library_dir())
    batch.add_argument("--variations", type=int, default=1)
    batch.add_argument("--out", type=Path, default=Path("out"))
    from lamuse.batch import add_worker_options

    add_worker_options(batch)

    demo = commands.add_parser("demo", help="build a library from the demo photos and reinterpret samples")
    demo.add_argument("--data", type=Path, default=None, help="the demo data folder (default ../shared/data)")
    demo.add_argument("--library", type=Path, default=None)
    demo.add_argument("--out", type=Path, default=Path("out"))
    demo.add_argument("--stylizer", default="auto")
    weights = commands.add_parser("weights", help="model files: where they are, fetch the downloadable ones")
    weights_commands = weights.add_subparsers(dest="weights_command", required=True)
    weights_commands.add_parser("list", help="every model file and whether it is available offline")
    fetch = weights_commands.add_parser("fetch", help="download Mask R-CNN weights into the cache")
    # Checked by ``type``, not ``choices``: with ``nargs="*"`` argparse tests the empty list itself
    # against ``choices`` and refused a bare `lamuse weights fetch`.
    fetch.add_argument("versions", nargs="*", type=_maskrcnn_version, metavar="{v1,v2}", help="default: v2")

    from lamuse.evaluate import add_eval_parser

    add_eval_parser(commands)

    bench = commands.add_parser("bench", help="time every stage (models loaded once); prints JSON")
    bench.add_argument("--data", type=Path, default=None, help="demo data folder (default ../shared/data)")
    bench.add_argument("--library", type=Path, default=None, help="a built library (default: from --data)")
    bench.add_argument("--runs", type=_positive, default=5, help="warm runs per stage (median and p90)")
    bench.add_argument("--device", default="auto")
    bench.add_argument(
        "--library-scale",
        type=_int_list,
        default=(),
        help="N1,N2,...: time selection on synthetic one-class libraries of these sizes instead",
    )
    bench.add_argument("--ray", action="store_true", help="also time Ray actors against the local worker")
    return parser


def _add_pipeline_options(parser: argparse.ArgumentParser, library: Path) -> None:
    parser.add_argument("--library", type=Path, default=library)
    parser.add_argument("--theme", choices=get_args(Theme), default="free", help="era of the new elements")
    parser.add_argument("--year", type=_year, help="the painting's year (default: from SOURCES.md)")
    parser.add_argument("--annotations", type=Path, action="append", help="COCO instance JSON (repeatable)")
    parser.add_argument("--seed", type=_non_negative, default=0)
    parser.add_argument("--chaos", type=_chaos, default=0.2, help="0 = closest silhouette, 1 = wild")
    parser.add_argument("--background", choices=("keep", "swap", "none"), default="keep")
    parser.add_argument(
        "--removal",
        choices=get_args(RemovalMode),
        default=ReinterpretOptions.removal,
        help="grow: clear each element with what belongs to it (hats, handles); tight: its mask only",
    )
    parser.add_argument(
        "--offline", action="store_true", help="never download Mask R-CNN weights (also LAMUSE_OFFLINE=1)"
    )
    parser.add_argument("--backgrounds", type=Path, help="folder of backgrounds for --background swap")
    parser.add_argument("--background-image", type=Path, help="one background for --background swap")
    parser.add_argument("--style", type=Path, help="take the style from this image instead of the painting")
    parser.add_argument("--style-strength", type=_chaos, default=1.0)
    parser.add_argument("--keep-colors", action="store_true", help="transfer luminance only")
    parser.add_argument("--size", type=_long_side, default=1024, help="long side of the working picture")
    parser.add_argument("--upscale", type=int, choices=(1, 2, 4), default=1)
    parser.add_argument("--stylizer", default="auto", help='stylizer name, or "none" for the bare collage')
    parser.add_argument("--upscaler", default="auto")
    parser.add_argument("--maskrcnn-weights", type=_file_path, help="local Mask R-CNN state dict")
    parser.add_argument("--maskrcnn-version", choices=("v1", "v2"), default="v2")
    parser.add_argument("--score-threshold", type=_chaos, default=0.5, help="Mask R-CNN detection score")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--greyscale", action="store_true")
    parser.add_argument("--watermark", help="visible text mark in the corner")
    parser.add_argument("--language", choices=("en", "fr"), default="en")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if args.command == "library":
            return _library(args)
        if args.command == "reinterpret":
            return _reinterpret(args)
        if args.command == "batch":
            from lamuse import batch

            return batch.main(args, _pipeline_config(args), _reinterpret_options(args))
        if args.command == "demo":
            return _demo(args)
        if args.command == "eval":
            from lamuse.evaluate import run_eval

            return run_eval(args)
        if args.command == "weights":
            return _weights(args)
        if args.command == "bench":
            from lamuse import bench

            return bench.main(
                _data_dir(args.data),
                args.library,
                args.runs,
                args.device,
                library_scale=args.library_scale,
                ray=args.ray,
            )
    except LamuseError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) left: stop quietly, and keep Python's exit flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # (after BrokenPipeError) a full disk, a file where a folder should be
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)  # noqa: T201
        return 2
    except MemoryError:
        print("error: out of memory", file=sys.stderr)  # noqa: T201
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _library(args: argparse.Namespace) -> int:
    from lamuse.library import CutoutLibrary

    library = CutoutLibrary(args.library)
    if args.library_command == "show":
        counts = dict(sorted(library.class_counts().items()))
        if args.json:
            shown: dict[str, object] = {"library": str(args.library), "cutouts": sum(counts.values())}
            shown["classes"] = counts
            if args.items:
                shown["items"] = list(library.items())
            print(json.dumps(shown, indent=2, ensure_ascii=False))  # noqa: T201
            return 0
        for name, count in counts.items():
            print(f"{name:>16} {count}")  # noqa: T201
        return 0
    if args.library_command == "fetch":
        return _fetch_coco(args)
    summary = build_library(
        args.dir, args.library, args.annotations, args.classes, progress=not args.no_progress
    )
    _print_summary(summary, args.library)
    return 0


def _fetch_coco(args: argparse.Namespace) -> int:
    from lamuse.coco_fetch import FetchOptions, describe, fetch_coco, warn_restricted

    given = {
        "split": args.split,
        "base_url": args.base_url,
        "licences": args.licences,
        "classes": args.classes,
        "max_per_class": args.max_per_class,
        "limit": args.limit,
        "concurrency": args.concurrency,
        "retries": args.retries,
    }
    downloads = args.downloads or _cache_dir() / "coco"
    options = FetchOptions(
        downloads=downloads,
        dry_run=args.dry_run,
        progress=not args.no_progress,
        **{k: v for k, v in given.items() if v is not None},
    )
    for warning in warn_restricted(options.licences):
        print(f"warning: {warning}", file=sys.stderr)  # noqa: T201
    summary = fetch_coco(args.library, options)
    for line in describe(summary, args.dry_run):
        print(line)  # noqa: T201
    if not args.dry_run:
        print(f"library: {args.library}")  # noqa: T201
    return 0


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lamuse"


def _print_summary(summary: AddSummary, library_dir: Path) -> None:
    print(  # noqa: T201
        f"{summary.photos_seen} photos: {summary.added} cut-outs added, "
        f"{summary.already_present} photos already in the library, {summary.photos_skipped} skipped"
    )
    for name, count in sorted(summary.per_class.items()):
        print(f"  {name:>16} +{count}")  # noqa: T201
    for problem in summary.problems:
        print(f"  skipped {problem}")  # noqa: T201
    print(f"library: {library_dir}")  # noqa: T201


def _reinterpret(args: argparse.Namespace) -> int:
    from lamuse.distributed import local_worker_info
    from lamuse.io import load_image, save_png_atomic, write_atomic
    from lamuse.pertinence import best_of, judge_for, painting_year
    from lamuse.sheet import case_study_sheet

    if args.variations < 1:
        raise LamuseError("--variations must be at least 1")
    for given in (args.painting, args.style):
        if given is not None and re.match(r"^[a-z][a-z0-9+.-]*:/", str(given)):
            raise LamuseError(
                f"{given} is a URL; lamuse does not download images: save the file and pass its path"
            )
    painting = load_image(args.painting).image
    style = load_image(args.style).image if args.style else None
    pipeline = _pipeline_config(args).load(progress=progress_bar("Mask R-CNN weights"))
    options = dataclasses.replace(_reinterpret_options(args), candidates=args.candidates)
    if options.year is None:
        options = dataclasses.replace(options, year=painting_year(args.painting))
    first_variation = 0
    if args.recipe is not None:
        recipe = parse_recipe(args.recipe)
        options, first_variation = recipe.options(options), recipe.variation
    from lamuse.io import fit_long_side

    working = fit_long_side(painting, options.size)
    segmentation = pipeline.segment(working, name=args.painting.name)
    judge = judge_for(pipeline, working, segmentation, options.year)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LamuseError(f"cannot write to {args.out}: {error.strerror or error}") from error
    # Each variation avoids the cut-outs of those before it: their selections, made once for all.
    earlier = pipeline.assignments(
        painting,
        name=args.painting.name,
        count=first_variation + args.variations - 1,
        options=options,
        segmentation=segmentation,
    )
    for k in range(args.variations):
        variation = first_variation + k
        result = best_of(
            pipeline,
            painting,
            judge,
            name=args.painting.name,
            options=options,
            variation=variation,
            style=style,
            style_name=args.style.name if args.style else None,
            segmentation=segmentation,
            earlier=earlier[:variation],
        )
        stem = args.out / f"{args.painting.stem}-{k}"
        save_png_atomic(result.image, stem.with_suffix(".png"))
        if args.sheet:
            save_png_atomic(case_study_sheet(painting, result), args.out / f"{stem.name}-sheet.png")
        trace = {**result.trace, "worker": local_worker_info(args.device)}
        text = json.dumps(trace, indent=2, ensure_ascii=False) + "\n"
        write_atomic(stem.with_suffix(".json"), text.encode())
        print(f"{stem.with_suffix('.png')}: {result.explanation}")  # noqa: T201
    return 0


def _pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """What ``reinterpret`` and ``batch`` build their pipeline from (remote workers receive it)."""
    from lamuse.distributed import PipelineConfig

    return PipelineConfig(
        library=args.library,
        annotations=tuple(args.annotations or ()),
        backgrounds=args.backgrounds,
        stylizer=args.stylizer,
        upscaler=args.upscaler if args.upscale > 1 else "none",
        device=args.device,
        maskrcnn_weights=args.maskrcnn_weights,
        maskrcnn_version=args.maskrcnn_version,
        score_threshold=args.score_threshold,
        offline=args.offline,
    )


def _reinterpret_options(args: argparse.Namespace) -> ReinterpretOptions:
    """The options both ``reinterpret`` and ``batch`` take (a ``--recipe`` fixes the ones it names)."""
    options = ReinterpretOptions(
        seed=args.seed,
        chaos=args.chaos,
        background=args.background,
        removal=args.removal,
        background_image=args.background_image,
        style_strength=args.style_strength,
        keep_colors=args.keep_colors,
        size=args.size,
        upscale=args.upscale,
        greyscale=args.greyscale,
        watermark=args.watermark,
        language=args.language,
        theme=args.theme,
        year=args.year,
    )
    return options


def default_data_dir() -> Path | None:
    """``$LAMUSE_DATA``, else ``../shared/data`` next to the working directory or the checkout."""
    candidates = [Path(os.environ["LAMUSE_DATA"])] if os.environ.get("LAMUSE_DATA") else []
    checkout = Path(__file__).resolve().parents[1]
    candidates += [Path.cwd().parent / "shared" / "data", checkout.parent / "shared" / "data"]
    return next((c for c in candidates if (c / "paintings").is_dir()), None)


def progress_bar(label: str) -> Progress:
    """A download progress bar on stderr (tqdm), opened on the first chunk and closed on the last."""
    from tqdm import tqdm

    bar: list[tqdm[None]] = []

    def update(done: int, total: int | None) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr))
        bar[0].update(done - bar[0].n)
        if total is not None and done >= total:
            bar.pop().close()

    return update


def _weights(args: argparse.Namespace) -> int:
    from lamuse.segment.maskrcnn import fetch_weights
    from lamuse.weights import REGISTRY, resolve

    if args.weights_command == "fetch":
        for version in args.versions or ["v2"]:
            path = fetch_weights(version, progress=progress_bar(f"Mask R-CNN {version}"))
            print(f"Mask R-CNN {version}: {path}")  # noqa: T201
        return 0
    for entry in REGISTRY:
        try:
            where = str(resolve(entry, allow_download=False))
        except LamuseError:
            where = "not cached" + (" (lamuse weights fetch)" if entry.url else "")
        size = "?" if entry.size is None else f"{entry.size / 1e6:.1f} MB"
        print(f"{entry.name:>34}  {size:>9}  {entry.checksum}  {entry.licence}  {where}")  # noqa: T201
    return 0


def _data_dir(given: Path | None) -> Path:
    data = given or default_data_dir()
    if data is None or not (data / "paintings").is_dir() or not (data / "photos").is_dir():
        raise LamuseError(
            "no demo data found: pass --data DIR (a folder with paintings/, photos/ and "
            "annotations/) or set LAMUSE_DATA"
        )
    return data


def _demo(args: argparse.Namespace) -> int:
    from lamuse.library import demo_classes_file

    data = _data_dir(args.data)
    library_dir = args.library or args.out / "library"
    photo_annotations = data / "annotations" / "photos.json"
    summary = build_library(
        data / "photos",
        library_dir,
        [photo_annotations] if photo_annotations.is_file() else None,
        demo_classes_file(),
    )
    _print_summary(summary, library_dir)
    painting_annotations = data / "annotations" / "paintings.json"
    failures = 0
    for name in DEMO_PAINTINGS:
        painting = data / "paintings" / name
        if not painting.is_file():
            continue
        argv = ["reinterpret", str(painting), "--library", str(library_dir), "--out", str(args.out)]
        argv += ["--seed", "7", "--variations", "2", "--stylizer", args.stylizer]
        if painting_annotations.is_file():
            argv += ["--annotations", str(painting_annotations)]
        failures += main(argv) != 0
    print(f"results are in {args.out.resolve()}")  # noqa: T201
    return 2 if failures else 0
