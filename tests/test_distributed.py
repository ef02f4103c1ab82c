"""Worker pools: the scheduler's retry rules (a scripted pool), then real Ray actors on a local Ray.

The Ray tests share one local cluster (``num_cpus=2``, no dashboard) for the module and shut it down at
the end; they carry the ``ray`` marker, which the default test command runs too.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lamuse.batch import run_batch
from lamuse.distributed import (
    PaintingResult,
    PaintingTask,
    PipelineConfig,
    TaskFailure,
    WorkerInfo,
    WorkerLost,
    run_tasks,
)
from lamuse.errors import ConfigError
from lamuse.types import ReinterpretOptions, StageCallback

from .conftest import PAINTING_ANNOTATIONS, PAINTINGS

NAMES = (
    "seurat_grande_jatte.jpg",
    "monet_woman_with_parasol.jpg",
    "cezanne_basket_of_apples.jpg",
    "botticelli_birth_of_venus.jpg",
)


def _config(library: Path) -> PipelineConfig:
    return PipelineConfig(
        library=library,
        annotations=(PAINTING_ANNOTATIONS,),
        backgrounds=None,
        stylizer="auto",
        upscaler="none",
        device="cpu",
        maskrcnn_weights=None,
        maskrcnn_version="v2",
        score_threshold=0.5,
    )


def _task(name: str, size: int = 256) -> PaintingTask:
    return PaintingTask(
        name=name,
        painting=(PAINTINGS / name).read_bytes(),
        options=ReinterpretOptions(seed=4, size=size),
        variations=1,
    )


# --- the scheduler, on a scripted pool ----------------------------------------------------------------


class ScriptedPool:
    """Slots whose worker dies on the tasks named in ``deaths`` (each name as often as listed)."""

    def __init__(self, slots: int, deaths: Sequence[str] = (), *, revivable: bool = True) -> None:
        self._infos = [WorkerInfo(backend="local", node="n", pid=100 + i, device="cpu") for i in range(slots)]
        self.deaths = list(deaths)
        self.revivable = revivable
        self.runs: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    @property
    def workers(self) -> Sequence[WorkerInfo]:
        return self._infos

    def run(self, slot: int, task: PaintingTask, on_stage: StageCallback | None = None) -> PaintingResult:
        with self._lock:
            self.runs.append((slot, task.name))
            dies = task.name in self.deaths
            if dies:
                self.deaths.remove(task.name)
        if on_stage is not None:
            on_stage("segment")
        if dies:
            raise WorkerLost(f"worker of slot {slot} died")
        return PaintingResult(task.name, (), self._infos[slot], 0.0)

    def revive(self, slot: int) -> None:
        if not self.revivable:
            raise ConnectionError("the cluster is gone")
        self._infos[slot] = WorkerInfo(
            backend="local", node="n", pid=self._infos[slot]["pid"] + 10, device="cpu"
        )

    def close(self) -> None:
        """Nothing to stop."""


def _fake_tasks(*names: str) -> list[PaintingTask]:
    return [PaintingTask(name=n, painting=b"", options=ReinterpretOptions(), variations=1) for n in names]


def test_a_task_whose_worker_died_is_retried_and_succeeds() -> None:
    pool = ScriptedPool(2, deaths=["b"])
    outcomes = list(run_tasks(pool, _fake_tasks("a", "b", "c"), max_tries=2))
    assert sorted(o.name for o in outcomes) == ["a", "b", "c"]
    assert all(isinstance(o, PaintingResult) for o in outcomes)
    assert [name for _, name in pool.runs].count("b") == 2


def test_a_task_is_reported_after_max_tries() -> None:
    pool = ScriptedPool(2, deaths=["b"] * 5)
    outcomes = {o.name: o for o in run_tasks(pool, _fake_tasks("a", "b"), max_tries=3)}
    failure = outcomes["b"]
    assert isinstance(failure, TaskFailure) and failure.tries == 3 and "died" in failure.error
    assert isinstance(outcomes["a"], PaintingResult)
    assert [name for _, name in pool.runs].count("b") == 3


def test_when_no_worker_can_come_back_the_rest_is_reported_not_hung() -> None:
    pool = ScriptedPool(1, deaths=["a"], revivable=False)
    outcomes = list(run_tasks(pool, _fake_tasks("a", "b", "c"), max_tries=2))
    assert sorted(o.name for o in outcomes) == ["a", "b", "c"]
    failures = [o for o in outcomes if isinstance(o, TaskFailure)]
    assert len(failures) == 3
    assert {o.error for o in failures if o.name != "a"} == {"no worker is left to run it"}


def test_stages_are_reported_with_their_slot_and_painting() -> None:
    seen: list[tuple[int, str, str]] = []
    list(run_tasks(ScriptedPool(1), _fake_tasks("a", "b"), on_stage=lambda *event: seen.append(event)))
    assert seen == [(0, "a", "segment"), (0, "b", "segment")]


def test_ray_addresses() -> None:
    from lamuse.distributed import open_pool, ray_init_kwargs

    assert ray_init_kwargs(None)["address"] == "local", "a new local Ray, never a stale one found on disk"
    assert ray_init_kwargs(None)["include_dashboard"] is False
    assert ray_init_kwargs("ray://head:10001")["address"] == "ray://head:10001"
    assert ray_init_kwargs("auto")["address"] == "auto"
    assert ray_init_kwargs("head:6379")["address"] == "head:6379"
    with pytest.raises(ConfigError, match="--workers 'gpu'"):
        open_pool(_config(Path("unused")), "gpu", ray_actors=1)


# --- real Ray actors ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "paintings"
    folder.mkdir()
    for name in NAMES:
        (folder / name).symlink_to(PAINTINGS / name)
    return folder


@pytest.mark.ray
def test_ray_batch_gives_the_local_swaps_and_pixels(
    local_ray: None, tmp_path: Path, annotated_library: Path
) -> None:
    """Two actors, one process each: the same swaps and the same PNG bytes as in-process, same seed."""
    paintings = sorted(_folder(tmp_path).iterdir())
    options = ReinterpretOptions(seed=11, size=256)
    config = _config(annotated_library)
    local = run_batch(paintings, tmp_path / "local", config, options, workers="local")
    remote = run_batch(paintings, tmp_path / "ray", config, options, workers="ray", ray_actors=2)
    assert [e["cutouts"] for e in remote["paintings"]] == [e["cutouts"] for e in local["paintings"]]
    assert len(remote["paintings"]) == len(NAMES) and remote["failures"] == []
    processes = {(e["worker"]["node"], e["worker"]["pid"]) for e in remote["paintings"]}
    assert len(processes) == 2 and os.getpid() not in {pid for _, pid in processes}
    assert len(remote["workers"]) == 2
    for entry in remote["paintings"]:
        png = tmp_path / "ray" / entry["outputs"][0]
        assert png.read_bytes() == (tmp_path / "local" / entry["outputs"][0]).read_bytes()
        trace = json.loads(png.with_suffix(".json").read_text())
        assert trace["worker"]["backend"] == "ray" and trace["worker"]["device"] == "cpu"
        assert trace["worker"] == entry["worker"]


@pytest.mark.ray
def test_an_actor_killed_mid_job_is_restarted_and_the_job_still_ends_with_a_picture(
    local_ray: None, annotated_library: Path
) -> None:
    from lamuse.distributed import RayPool

    pool = RayPool(_config(annotated_library), actors=2)
    killed: list[int] = []
    stages: list[tuple[str, str]] = []

    def kill_first(slot: int, painting: str, stage: str) -> None:
        stages.append((painting, stage))
        if stage == "substitute" and not killed:
            killed.append(pool.workers[slot]["pid"])
            os.kill(killed[0], signal.SIGKILL)

    try:
        outcomes = list(run_tasks(pool, [_task(n, 512) for n in NAMES[:2]], max_tries=2, on_stage=kill_first))
        assert all(isinstance(o, PaintingResult) for o in outcomes), outcomes
        assert sorted(o.name for o in outcomes) == sorted(NAMES[:2])
        assert killed and killed[0] not in {w["pid"] for w in pool.workers}  # Ray restarted it
        assert all(isinstance(o, PaintingResult) and o.worker["pid"] != killed[0] for o in outcomes)
        assert all(isinstance(o, PaintingResult) and o.variations[0].png[:4] == b"\x89PNG" for o in outcomes)
        # Progress crossed the process boundary while the jobs ran, stage by stage.
        for name in NAMES[:2]:
            assert [s for p, s in stages if p == name][-4:] == ["segment", "substitute", "stylize", "finish"]
    finally:
        pool.close()


@pytest.mark.ray
def test_a_bad_image_fails_alone_with_its_own_message(local_ray: None, annotated_library: Path) -> None:
    from lamuse.distributed import RayPool

    pool = RayPool(_config(annotated_library), actors=1)
    bad = PaintingTask(name="bad.jpg", painting=b"not an image", options=ReinterpretOptions(), variations=1)
    try:
        outcomes = {o.name: o for o in run_tasks(pool, [bad, _task(NAMES[0])])}
    finally:
        pool.close()
    failure = outcomes["bad.jpg"]
    assert isinstance(failure, TaskFailure) and failure.error.startswith("ImageError: ")
    assert "not an image" in failure.error and "Traceback" not in failure.error
    assert isinstance(outcomes[NAMES[0]], PaintingResult)


@pytest.mark.ray
def test_more_actors_than_the_cluster_can_hold_is_a_clear_error(
    local_ray: None, annotated_library: Path
) -> None:
    from lamuse.distributed import RayPool

    with pytest.raises(ConfigError, match="the Ray cluster has 2 CPUs and 0 GPUs: at most 2 actors"):
        RayPool(_config(annotated_library), actors=3)


@pytest.mark.ray
def test_the_worker_benchmark_reports_dispatch_and_throughput(
    local_ray: None, annotated_library: Path
) -> None:
    """`lamuse bench --ray`'s figures exist and are sane (their values are for the bench, not asserted)."""
    from lamuse.batch import bench_workers

    report = bench_workers([PAINTINGS / n for n in NAMES[:2]], _config(annotated_library), runs=1, size=256)
    assert set(report["batch_throughput"]) == {"local", "ray_1", "ray_2"}
    for figures in report["batch_throughput"].values():
        assert figures["paintings"] == 2 and figures["paintings_per_s"] > 0 and figures["startup_s"] > 0
    assert report["ray_init_s"] < 1.0  # it joined the module's Ray
