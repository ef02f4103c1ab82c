"""``lamuse batch DIR``: reinterpret every painting of a folder on local or Ray workers.

Writes ``<out>/<stem>-<k>.png`` and ``.json`` exactly as ``lamuse reinterpret`` does (each trace names
the worker that made it), then ``<out>/summary.json``. A painting that fails is listed there and the
batch goes on; the command then exits 2 with one ``error:`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from tqdm import tqdm

from lamuse.distributed import (
    PaintingResult,
    PaintingTask,
    PipelineConfig,
    TaskFailure,
    WorkerInfo,
    open_pool,
    run_tasks,
)
from lamuse.errors import LamuseError
from lamuse.io import list_images
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


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _save(result: PaintingResult, out: Path) -> PaintingEntry:
    stem = Path(result.name).stem
    outputs = []
    for k, variation in enumerate(result.variations):
        png = out / f"{stem}-{k}.png"
        _write_atomic(png, variation.png)
        text = json.dumps(variation.trace, indent=2, ensure_ascii=False) + "\n"
        _write_atomic(png.with_suffix(".json"), text.encode())
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
    _write_atomic(out / SUMMARY_FILE, (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
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
