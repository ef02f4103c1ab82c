"""`lamuse bench`: time each stage with models loaded once, and the La Muse-style chain, in one run.

Prints one JSON object to stdout. Speed targets are checked here, never in unit tests.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from lamuse import __version__
from lamuse.grid import compose_grid
from lamuse.io import fit_long_side, load_image
from lamuse.types import ReinterpretOptions

BENCH_PAINTINGS = ("seurat_grande_jatte.jpg", "cezanne_basket_of_apples.jpg", "monet_woman_with_parasol.jpg")
"""Annotated paintings with three or more elements each."""


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_s": round(statistics.median(ordered), 4), "p90_s": round(p90, 4), "runs": len(ordered)}


def _time(fn: Callable[[int], object], runs: int, warmup: int = 1) -> dict[str, float]:
    """Median/p90 of ``runs`` warm calls; ``fn`` gets the run index (to rotate inputs)."""
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return _stats(samples)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image: ``VmHWM`` on Linux (``ru_maxrss`` would also count
    the parent a spawned child was forked from), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_bench(
    data: Path,
    library_dir: Path | None,
    *,
    runs: int = 5,
    device: str = "auto",
    stylizer_name: str = "auto",
    upscaler_name: str = "auto",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Load every model once, then time every stage over the sample paintings."""
    import torch

    from lamuse.library import build_library
    from lamuse.pipeline import Pipeline
    from lamuse.segment import AnnotationSegmenter, ChainSegmenter, MaskRCNNSegmenter, SalientSegmenter
    from lamuse.segment.selfie import PersonSegmenter
    from lamuse.style import create_stylizer
    from lamuse.upscale import create_upscaler

    paintings_dir = data / "paintings"
    annotations = data / "annotations" / "paintings.json"
    names = [n for n in BENCH_PAINTINGS if (paintings_dir / n).is_file()]
    paintings = {n: load_image(paintings_dir / n).image for n in names}
    at_512 = {n: fit_long_side(p, 512) for n, p in paintings.items()}

    with tempfile.TemporaryDirectory() as scratch:
        if library_dir is None or not (library_dir / "library.db").is_file():
            library_dir = Path(scratch) / "library"
            progress("building a cut-out library from the demo photos")
            photo_annotations = [data / "annotations" / "photos.json"]
            build_library(data / "photos", library_dir, photo_annotations, None, progress=False)

        progress("loading models")
        annotation_segmenter = AnnotationSegmenter([annotations])
        salient = SalientSegmenter()
        heads = PersonSegmenter(device=device)
        maskrcnn = MaskRCNNSegmenter("v2", None, device=device)
        stylizer = create_stylizer(stylizer_name, device=device)
        upscaler = create_upscaler(upscaler_name, device=device)
        from lamuse.library import CutoutLibrary

        library = CutoutLibrary(library_dir)
        pipeline = Pipeline(
            segmenter=ChainSegmenter([annotation_segmenter, salient], heads=heads),
            library=library,
            stylizer=stylizer,
        )
        _ = library.cutouts
        cycle = [at_512[n] for n in names]

        def pick(i: int) -> Image.Image:
            return cycle[i % len(cycle)]

        stages: dict[str, dict[str, float]] = {}
        progress("segmenters")
        stages["segment_annotations_512"] = _time(
            lambda i: annotation_segmenter.segment(pick(i), name=names[i % len(names)]), runs
        )
        stages["segment_salient_512"] = _time(lambda i: salient.segment(pick(i)), runs)
        stages["segment_maskrcnn_512"] = _time(lambda i: maskrcnn.segment(pick(i)), runs)
        progress("substitute")
        no_style = ReinterpretOptions(size=512, stylize=False)
        segmentations = {n: pipeline.segment(at_512[n], name=n) for n in names}
        # Runs differ by seed, not by variation: variation k also selects for 0..k-1 to avoid their picks.
        stages["substitute"] = _time(
            lambda i: pipeline.reinterpret(
                at_512[names[i % len(names)]],
                name=names[i % len(names)],
                options=replace(no_style, seed=i),
                segmentation=segmentations[names[i % len(names)]],
            ),
            runs,
        )
        progress("stylize")
        for side in (512, 1024):
            contents = [fit_long_side(p, side) for p in paintings.values()]

            def stylize(i: int, c: list[Image.Image] = contents) -> Image.Image:
                """Each painting's content in the next painting's style."""
                return stylizer.stylize(c[i % len(c)], c[(i + 1) % len(c)])

            stages[f"stylize_{side}"] = _time(stylize, runs)
        progress("upscale")
        stages["upscale_x2_512"] = _time(lambda i: upscaler.upscale(pick(i), 2), runs)
        progress("reinterpret")
        full = ReinterpretOptions(size=512)
        stages["reinterpret_512"] = _time(
            lambda i: pipeline.reinterpret(
                paintings[names[i % len(names)]], name=names[i % len(names)], options=replace(full, seed=i)
            ),
            runs,
        )
        progress("grid of four")

        def grid(i: int) -> Image.Image:
            """What a /muse answer costs: segment once, four variations, one 2×2 image."""
            name = names[i % len(names)]
            results = pipeline.reinterpret_variations(
                paintings[name], name=name, options=replace(full, seed=i), variations=range(4)
            )
            return compose_grid([r.image for r in results])

        stages["grid_512"] = _time(grid, runs)
        progress("La Muse-style chain (models re-created per image)")

        def lamuse_chain(i: int, *, with_maskrcnn: bool = True) -> None:
            """As the original did per image: build Mask R-CNN and run it, build the style model, then
            reinterpret (the same annotated elements are swapped, so the substitution work is equal)."""
            name = names[i % len(names)]
            if with_maskrcnn:
                MaskRCNNSegmenter("v1", None, device=device).segment(at_512[name])
            fresh = Pipeline(
                segmenter=ChainSegmenter([AnnotationSegmenter([annotations])]),
                library=CutoutLibrary(library_dir),
                stylizer=create_stylizer(stylizer_name, device=device),
            )
            fresh.reinterpret(paintings[name], name=name, options=replace(full, seed=i))

        stages["lamuse_chain_512"] = _time(lamuse_chain, runs, warmup=0)
        stages["lamuse_chain_same_segmenter_512"] = _time(
            lambda i: lamuse_chain(i, with_maskrcnn=False), runs, warmup=0
        )

    ours = stages["reinterpret_512"]["median_s"]
    speedup = stages["lamuse_chain_512"]["median_s"] / ours
    return {
        "lamuse_version": __version__,
        "device": _device_name(torch, device),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "models": {
            "stylizer": stylizer.name,
            "upscaler": upscaler.name,
            "maskrcnn": "v2 (v1 in the La Muse chain), random weights: real ones are not offline; same cost",
        },
        "paintings": names,
        "peak_rss_mb": _peak_rss_mb(),
        "stages": stages,
        "speedup_vs_lamuse": round(speedup, 2),
        # Without the per-image Mask R-CNN, only model reloading separates the two: said, not hidden.
        "speedup_vs_lamuse_same_segmenter": round(
            stages["lamuse_chain_same_segmenter_512"]["median_s"] / ours, 2
        ),
    }


def _device_name(torch: Any, device: str) -> str:
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main(
    data: Path,
    library: Path | None,
    runs: int,
    device: str,
    library_scale: Sequence[int] = (),
    *,
    ray: bool = False,
) -> int:
    """Print the stage report, or with ``library_scale`` only the selection-at-scale report; ``ray`` adds
    the worker backends' figures (``lamuse.batch.bench_workers_on``)."""
    if library_scale:
        report: dict[str, Any] = {
            "lamuse_version": __version__,
            "python": platform.python_version(),
            "library_scale": run_library_scale(data, library_scale),
        }
    else:
        report = run_bench(
            data,
            library,
            runs=runs,
            device=device,
            progress=lambda m: print(m, file=sys.stderr),  # noqa: T201
        )
        if ray:
            from lamuse.batch import bench_workers_on

            report["workers"] = bench_workers_on(data, library, runs=runs, device=device)
    print(json.dumps(report, indent=2))  # noqa: T201
    return 0


def synthetic_silhouette(rng: np.random.Generator) -> np.ndarray:
    """A figure-like bool silhouette (body, head, up to three limbs at random angles), long side 64."""
    from lamuse.library import silhouette_of
    from lamuse.shapes import mask_box

    canvas = np.zeros((160, 160), np.uint8)
    centre = (80, 85)
    axes = (int(rng.integers(8, 30)), int(rng.integers(18, 55)))
    tilt = float(rng.normal(0, 25))
    cv2.ellipse(canvas, centre, axes, tilt, 0, 360, 1, -1)
    head = (80 + int(rng.integers(-6, 7)), 85 - axes[1] - int(rng.integers(0, 8)))
    cv2.circle(canvas, head, int(rng.integers(5, 13)), 1, -1)
    for _ in range(int(rng.integers(0, 4))):
        angle = float(rng.uniform(0, 2 * np.pi))
        length = float(rng.uniform(15, 45))
        end = (int(80 + length * np.cos(angle)), int(85 + length * np.sin(angle)))
        cv2.line(canvas, centre, end, 1, int(rng.integers(3, 9)))
    box = mask_box(canvas.astype(bool))
    assert box is not None
    x0, y0, x1, y1 = box
    return silhouette_of(canvas[y0:y1, x0:x1].astype(bool))


def build_synthetic_library(root: Path, count: int, *, seed: int = 0, class_id: int = 1) -> None:
    """A library of ``count`` synthetic silhouettes of one class, rows and shape index only (no PNGs):
    what selection reads, at any size."""
    from lamuse.coco import COCO_NAMES
    from lamuse.library import CutoutLibrary
    from lamuse.shapes import hu_moments, orientation

    rng = np.random.default_rng(seed)

    def rows() -> Iterator[dict[str, Any]]:
        for number in range(count):
            silhouette = synthetic_silhouette(rng)
            angle, elongation = orientation(silhouette)
            yield {
                "id": f"syn{number:07d}",
                "class_id": class_id,
                "class_name": COCO_NAMES[class_id],
                "source": f"synthetic-{number // 4}.png",
                "source_sha256": f"synthetic-{number // 4}",
                "subject": "synthetic figure",
                "credit": "synthetic",
                "source_url": "",
                "licence": "",
                "licence_url": "",
                "file": f"cutouts/none/syn{number:07d}.png",
                "orientation": angle,
                "elongation": elongation,
                "hu": json.dumps([round(float(v), 6) for v in hu_moments(silhouette)]),
                "truncated": 0,
                "whole": int(rng.random() < 0.8),
                "silhouette": np.packbits(silhouette.ravel()).tobytes(),
                "silhouette_shape": f"{silhouette.shape[0]}x{silhouette.shape[1]}",
            }

    with CutoutLibrary(root).building() as build:
        build.insert_rows(rows())


def measure_selection(root: Path, data: Path, class_id: int = 1) -> dict[str, float]:
    """Open a library cold and time selection (default chaos) for every element of the bench paintings,
    all relabelled ``class_id``, three rounds; run in a fresh process so ``rss_mb`` is this alone."""
    from lamuse.library import CutoutLibrary
    from lamuse.pipeline import usable_instances
    from lamuse.segment.annotations import AnnotationSegmenter
    from lamuse.substitute import choose_cutouts
    from lamuse.types import Instance

    segmenter = AnnotationSegmenter([data / "annotations" / "paintings.json"])
    elements: list[Instance] = []
    for name in BENCH_PAINTINGS:
        painting = fit_long_side(load_image(data / "paintings" / name).image, 512)
        for found in usable_instances(segmenter.segment(painting, name=name), painting.size):
            elements.append(
                Instance(class_id=class_id, class_name="person", score=1.0, mask=found.mask, box=found.box)
            )
    start = time.perf_counter()
    library = CutoutLibrary(root)
    _ = library.index
    open_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    choose_cutouts(elements[:1], library, rng=rng)
    samples, cpu_samples = [], []
    for _ in range(3):
        for element in elements:
            start, cpu_start = time.perf_counter(), time.process_time()
            choose_cutouts([element], library, rng=rng)
            samples.append(time.perf_counter() - start)
            cpu_samples.append(time.process_time() - cpu_start)
    return {
        "elements": len(elements),
        "selection_ms_per_element": round(1000 * statistics.median(samples), 2),
        "selection_ms_p90": round(1000 * sorted(samples)[round(0.9 * (len(samples) - 1))], 2),
        # CPU time of this process alone: on a shared machine, wall time also counts other work.
        "selection_cpu_ms_per_element": round(1000 * statistics.median(cpu_samples), 2),
        "open_s": round(open_s, 4),
        "rss_mb": _peak_rss_mb(),
    }


def run_library_scale(data: Path, sizes: Sequence[int]) -> list[dict[str, float]]:
    """Per size: build a synthetic one-class library, then measure it in a fresh process."""
    import multiprocessing

    results = []
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            root = Path(scratch) / f"library-{size}"
            start = time.perf_counter()
            build_synthetic_library(root, size)
            build_s = time.perf_counter() - start
            with context.Pool(1) as pool:
                measured = pool.apply(measure_selection, (root, data))
            results.append({"cutouts": size, **measured, "build_s": round(build_s, 1)})
    return results
