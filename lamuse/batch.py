"""``lamuse batch DIR``: reinterpret every painting of a folder on local or Ray workers.

Writes ``<out>/<stem>-<k>.png`` and ``.json`` exactly as ``lamuse reinterpret`` does (each trace names
the worker that made it), then ``<out>/summary.json``. A painting that fails is listed there and the
batch goes on; the command then exits 2 with one ``error:`` line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

from tqdm import tqdm

from lamuse.distributed import (
    LocalPool,
    PaintingResult,
    PaintingTask,
    PipelineConfig,
    RayPool,
    TaskFailure,
    WorkerInfo,
    WorkerPool,
    open_pool,
    ray_init_kwargs,
    run_tasks,
)
from lamuse.errors import LamuseError
from lamuse.io import list_images, write_atomic
from lamuse.types import ReinterpretOptions

SUMMARY_FILE = "summary.json"


class PaintingEntry(TypedDict):
    painting: str
    outputs: list[str]
    cutouts: list[list[str]]
    """Per variation, the cut-out ids swapped in (what to compare between two runs)."""
    worker: WorkerInfo
    seconds: float


class FailureEntry(TypedDict):
    painting: str
    error: str
    tries: int


class BatchSummary(TypedDict):
    folder: str
    out: str
    backend: str
    workers: list[WorkerInfo]
    seed: int
    variations: int
    paintings: list[PaintingEntry]
    failures: list[FailureEntry]
    startup_s: float
    """Building the workers: starting Ray (when asked) and loading every pipeline."""
    run_s: float
    wall_s: float
    """From start to the last file written, shutdown of the workers included."""


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """The options ``batch`` adds to ``reinterpret``'s."""
    parser.add_argument(
        "--workers", default="local", help='"local" (this process), "ray" (a local Ray) or ray://host:port'
    )
    parser.add_argument("--ray-actors", type=int, default=2, help="Ray actors, each with its own pipeline")
    parser.add_argument("--max-tries", type=int, default=2, help="tries of a painting whose worker died")
    parser.add_argument("--no-progress", action="store_true")


def _save(result: PaintingResult, out: Path) -> PaintingEntry:
    stem = Path(result.name).stem
    outputs = []
    for k, variation in enumerate(result.variations):
        png = out / f"{stem}-{k}.png"
        write_atomic(png, variation.png)
        text = json.dumps(variation.trace, indent=2, ensure_ascii=False) + "\n"
        write_atomic(png.with_suffix(".json"), text.encode())
        outputs.append(png.name)
    cutouts = [[str(s["cutout_id"]) for s in v.trace["swaps"]] for v in result.variations]
    return PaintingEntry(
        painting=result.name, outputs=outputs, cutouts=cutouts, worker=result.worker, seconds=result.seconds
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise LamuseError(f"cannot read {path}: {error.strerror or error}") from error


def run_batch(
    paintings: Sequence[Path],
    out: Path,
    config: PipelineConfig,
    options: ReinterpretOptions,
    *,
    variations: int = 1,
    workers: str = "local",
    ray_actors: int = 2,
    max_tries: int = 2,
    style: Path | None = None,
    progress: bool = False,
) -> BatchSummary:
    """Reinterpret ``paintings`` into ``out`` on the chosen workers; returns (and writes) the summary."""
    started = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LamuseError(f"cannot write to {out}: {error.strerror or error}") from error
    style_bytes = _read(style) if style is not None else None
    tasks = [
        PaintingTask(
            name=path.name,
            painting=_read(path),
            options=options,
            variations=variations,
            style=style_bytes,
            style_name=style.name if style is not None else None,
        )
        for path in paintings
    ]
    pool = open_pool(config, workers, ray_actors=ray_actors)
    startup_s = time.perf_counter() - started
    entries: list[PaintingEntry] = []
    failures: list[FailureEntry] = []
    try:
        started_workers = list(pool.workers)
        with tqdm(total=len(tasks), desc="reinterpreting", unit="painting", disable=not progress) as bar:
            for outcome in run_tasks(pool, tasks, max_tries=max_tries):
                if isinstance(outcome, TaskFailure):
                    failures.append(
                        FailureEntry(painting=outcome.name, error=outcome.error, tries=outcome.tries)
                    )
                else:
                    entries.append(_save(outcome, out))
                bar.update()
        run_s = time.perf_counter() - started - startup_s
    finally:
        pool.close()
    summary = BatchSummary(
        folder=str(paintings[0].parent) if paintings else "",
        out=str(out),
        backend=workers,
        workers=started_workers,
        seed=options.seed,
        variations=variations,
        paintings=sorted(entries, key=lambda e: e["painting"]),
        failures=sorted(failures, key=lambda f: f["painting"]),
        startup_s=round(startup_s, 3),
        run_s=round(run_s, 3),
        wall_s=round(time.perf_counter() - started, 3),
    )
    write_atomic(out / SUMMARY_FILE, (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
    return summary


def main(args: argparse.Namespace, config: PipelineConfig, options: ReinterpretOptions) -> int:
    """``lamuse batch``: the CLI has parsed ``reinterpret``'s options into ``config`` and ``options``."""
    if args.variations < 1:
        raise LamuseError("--variations must be at least 1")
    if args.ray_actors < 1:
        raise LamuseError("--ray-actors must be at least 1")
    if args.max_tries < 1:
        raise LamuseError("--max-tries must be at least 1")
    if not args.dir.is_dir():
        raise LamuseError(f"{args.dir} is not a folder of paintings")
    paintings = list_images(args.dir)
    if not paintings:
        raise LamuseError(f"no images in {args.dir}")
    summary = run_batch(
        paintings,
        args.out,
        config,
        options,
        variations=args.variations,
        workers=args.workers,
        ray_actors=args.ray_actors,
        max_tries=args.max_tries,
        style=args.style,
        progress=not args.no_progress,
    )
    pids = sorted({(e["worker"]["node"], e["worker"]["pid"]) for e in summary["paintings"]})
    print(  # noqa: T201
        f"{len(summary['paintings'])} paintings reinterpreted in {summary['wall_s']:.1f} s "
        f"({summary['startup_s']:.1f} s start-up) by {len(pids)} worker process(es); "
        f"summary: {args.out / SUMMARY_FILE}"
    )
    if summary["failures"]:
        first = summary["failures"][0]
        raise LamuseError(
            f"{len(summary['failures'])} of {len(paintings)} paintings failed ({first['painting']}: "
            f"{first['error']}); see {args.out / SUMMARY_FILE}"
        )
    return 0


class Throughput(TypedDict):
    paintings: int
    paintings_per_s: float
    """Warm: the workers were built before the clock started."""
    startup_s: float
    """Building the workers (the Ray cluster itself is already up: see ``ray_init_s``)."""


class WorkersBench(TypedDict):
    ray_init_s: float
    """Starting a local Ray (0 when one was already running)."""
    ray_dispatch_ms: float
    """Median per-job overhead of a Ray actor over the in-process worker, warm: (round trip minus the
    time the worker spent on the job), Ray minus local."""
    batch_throughput: dict[str, Throughput]
    """Keys "local", "ray_1", "ray_2"."""


def _dispatch_overheads_ms(pool: WorkerPool, task: PaintingTask, runs: int) -> float:
    pool.run(0, task)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = pool.run(0, task)
        samples.append((time.perf_counter() - start - result.seconds) * 1000.0)
    return statistics.median(samples)


def _throughput(pool_factory: Callable[[], WorkerPool], tasks: Sequence[PaintingTask]) -> Throughput:
    start = time.perf_counter()
    pool = pool_factory()
    startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        outcomes = list(run_tasks(pool, tasks))
        elapsed = time.perf_counter() - start
    finally:
        pool.close()
    if any(isinstance(o, TaskFailure) for o in outcomes):
        raise LamuseError(
            f"the worker benchmark failed: {[o for o in outcomes if isinstance(o, TaskFailure)]}"
        )
    return Throughput(
        paintings=len(tasks), paintings_per_s=round(len(tasks) / elapsed, 3), startup_s=round(startup, 3)
    )


def bench_workers(
    paintings: Sequence[Path], config: PipelineConfig, *, runs: int = 5, size: int = 512
) -> WorkersBench:
    """``ray_dispatch_ms`` and ``batch_throughput`` for the in-process worker and 1 and 2 Ray actors,
    on one local Ray started here (``lamuse bench --ray``)."""
    try:
        import ray
    except ImportError as error:
        raise LamuseError('lamuse bench --ray needs Ray: pip install -e ".[ray]"') from error
    options = ReinterpretOptions(size=size)
    tasks = [PaintingTask(p.name, _read(p), options, variations=1) for p in paintings]
    start = time.perf_counter()
    owns_ray = not ray.is_initialized()
    if owns_ray:
        ray.init(**ray_init_kwargs(None))
    ray_init_s = time.perf_counter() - start
    try:
        local = LocalPool(config)
        local_ms = _dispatch_overheads_ms(local, tasks[0], runs)
        one = RayPool(config, actors=1)
        try:
            ray_ms = _dispatch_overheads_ms(one, tasks[0], runs)
        finally:
            one.close()
        throughput = {
            "local": _throughput(lambda: LocalPool(config), tasks),
            "ray_1": _throughput(lambda: RayPool(config, actors=1), tasks),
            "ray_2": _throughput(lambda: RayPool(config, actors=2), tasks),
        }
    finally:
        if owns_ray:
            ray.shutdown()
    return WorkersBench(
        ray_init_s=round(ray_init_s, 3),
        ray_dispatch_ms=round(ray_ms - local_ms, 2),
        batch_throughput=throughput,
    )


def bench_workers_on(data: Path, library: Path | None, *, runs: int, device: str) -> WorkersBench:
    """``bench_workers`` over the annotated paintings of the demo data (a library cut from its photos
    when none is given)."""
    from lamuse.evaluate import annotated_paintings
    from lamuse.library import build_library
    from lamuse.segment.annotations import AnnotationSegmenter

    annotations = data / "annotations" / "paintings.json"
    paintings = annotated_paintings(data / "paintings", AnnotationSegmenter([annotations]))
    with tempfile.TemporaryDirectory() as scratch:
        if library is None or not (library / "library.db").is_file():
            library = Path(scratch) / "library"
            build_library(
                data / "photos", library, [data / "annotations" / "photos.json"], None, progress=False
            )
        config = PipelineConfig(
            library=library,
            annotations=(annotations,),
            backgrounds=None,
            stylizer="auto",
            upscaler="none",
            device=device,
            maskrcnn_weights=None,
            maskrcnn_version="v2",
            score_threshold=0.5,
        )
        return bench_workers(paintings, config, runs=runs)
