"""Run reinterpretations on worker processes that each hold one loaded pipeline: in-process or Ray actors.

A worker builds its pipeline once and serves tasks; paintings go in and pictures come out as encoded
bytes, so nothing that crosses a process closes over a model or an array. ``run_tasks`` feeds every
worker slot from one queue (an idle slot takes the next task), retries a task whose worker died on the
next free slot up to ``max_tries``, and yields each outcome as it completes. Ray is imported only when a
Ray pool is built (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, TypeVar

from PIL import Image

from lamuse.errors import ConfigError, LamuseError
from lamuse.types import ReinterpretOptions, StageCallback

if TYPE_CHECKING:
    from lamuse.pipeline import Pipeline
    from lamuse.weights import Progress

log = logging.getLogger(__name__)

Backend = Literal["local", "ray"]
RESTART_TIMEOUT_S = 300.0
"""How long a slot waits for Ray to bring its dead actor back (a pipeline loads in seconds; a new node
may need minutes)."""


class WorkerInfo(TypedDict):
    """Which process made a picture: stored in every trace as ``worker``."""

    backend: Backend
    node: str
    """The host name for local work; the Ray node id for Ray (two Ray nodes may share a host)."""
    pid: int
    device: str


class WorkerLost(LamuseError):
    """The worker process died (or became unreachable) while it held a task; the task may be retried."""


@dataclass(frozen=True)
class PipelineConfig:
    """The arguments of ``load_pipeline``, as plain values a remote worker can receive and build from."""

    library: Path
    annotations: tuple[Path, ...]
    backgrounds: Path | None
    stylizer: str
    upscaler: str
    device: str
    maskrcnn_weights: Path | None
    maskrcnn_version: Literal["v1", "v2"]
    score_threshold: float
    threads: int | None = None
    """CPU threads of this worker's models; None: one per core (a lone process). Ray sets its share."""
    offline: bool = False
    """Never download Mask R-CNN weights (``--offline`` / ``LAMUSE_OFFLINE``)."""

    def load(self, progress: Progress | None = None) -> Pipeline:
        """Build the pipeline; ``progress`` hears about a first-use weights download."""
        from lamuse.pipeline import load_pipeline

        return load_pipeline(
            library=self.library,
            annotations=list(self.annotations) or None,
            backgrounds=self.backgrounds,
            stylizer=self.stylizer,
            upscaler=self.upscaler,
            device=self.device,
            maskrcnn_weights=self.maskrcnn_weights,
            maskrcnn_version=self.maskrcnn_version,
            score_threshold=self.score_threshold,
            threads=self.threads,
            offline=self.offline,
            progress=progress,
        )


@dataclass(frozen=True)
class PaintingTask:
    """One painting to reinterpret ``variations`` times; the images are the files' own bytes."""

    name: str
    painting: bytes
    options: ReinterpretOptions
    variations: int
    style: bytes | None = None
    style_name: str | None = None


@dataclass(frozen=True)
class Variation:
    """One finished picture as PNG bytes (what ``reinterpret`` writes) and its trace."""

    png: bytes
    trace: dict[str, Any]


@dataclass(frozen=True)
class PaintingResult:
    """Every variation of one painting, which worker made them and how long it took there."""

    name: str
    variations: tuple[Variation, ...]
    worker: WorkerInfo
    seconds: float


@dataclass(frozen=True)
class TaskFailure:
    """A painting that could not be reinterpreted: bad input, or its worker died ``tries`` times."""

    name: str
    error: str
    tries: int


def torch_device_name(device: str) -> str:
    """The device ``device`` ("auto", "cpu", "cuda:1") resolves to in this process, as a string."""
    from lamuse.devices import torch_device

    resolved = torch_device(device)
    if resolved.type == "cuda" and resolved.index is None:
        return "cuda:0"
    return str(resolved)


def local_worker_info(device: str) -> WorkerInfo:
    """Provenance of work done in this process."""
    return WorkerInfo(
        backend="local", node=socket.gethostname(), pid=os.getpid(), device=torch_device_name(device)
    )


Result = TypeVar("Result")


def streamed(run: Callable[[StageCallback], Result], thread_name: str) -> Iterator[str | Result]:
    """``run(on_stage)`` on its own thread, as a generator: each stage name as it starts, then what
    ``run`` returns (Ray streams these to the caller one by one, so progress crosses the process boundary
    while the work runs); what ``run`` raises is re-raised here, on the caller's side."""
    events: queue.Queue[tuple[Literal["stage"], str] | tuple[Literal["done"], Result] | BaseException]
    events = queue.Queue()

    def work() -> None:
        try:
            events.put(("done", run(lambda stage: events.put(("stage", stage)))))
        except BaseException as error:  # re-raised in the generator
            events.put(error)

    threading.Thread(target=work, name=thread_name, daemon=True).start()
    while True:
        event = events.get()
        if isinstance(event, BaseException):
            raise event
        kind, value = event
        yield value
        if kind == "done":
            return


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes exactly as ``lamuse.io.save_png_atomic`` writes them."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


class PipelineWorker:
    """Holds one pipeline and reinterprets tasks with it; a Ray actor class as is (``ray.remote``)."""

    def __init__(self, config: PipelineConfig, backend: Backend = "local") -> None:
        if config.threads is not None:  # this process's entry point: several workers share the cores
            import cv2
            import torch

            torch.set_num_threads(config.threads)
            cv2.setNumThreads(config.threads)
        self._pipeline = config.load()
        _ = self._pipeline.library.cutouts  # load the library now, not inside the first task
        info = local_worker_info(config.device)
        if backend == "ray":
            import ray

            info = WorkerInfo(
                backend="ray",
                node=ray.get_runtime_context().get_node_id(),
                pid=info["pid"],
                device=info["device"],
            )
        self._info = info

    def info(self) -> WorkerInfo:
        return self._info

    def run(self, task: PaintingTask, on_stage: StageCallback | None = None) -> PaintingResult:
        """Segment once, then make every variation (as ``lamuse reinterpret`` does)."""
        from lamuse.io import load_image

        start = time.perf_counter()
        painting = load_image(task.painting).image
        style = load_image(task.style).image if task.style is not None else None
        results = self._pipeline.reinterpret_variations(
            painting,
            name=task.name,
            options=task.options,
            variations=range(task.variations),
            on_stage=on_stage,
            style=style,
            style_name=task.style_name,
        )
        variations = []
        for result in results:
            trace = {**result.trace, "worker": self._info}
            variations.append(Variation(png=encode_png(result.image), trace=trace))
        return PaintingResult(task.name, tuple(variations), self._info, round(time.perf_counter() - start, 4))

    def stream(self, task: PaintingTask) -> Iterator[str | PaintingResult]:
        """``run`` as a generator (``streamed``): each stage name as it starts, then the result."""
        yield from streamed(lambda on_stage: self.run(task, on_stage=on_stage), "lamuse-task")


class WorkerPool(Protocol):
    """Slots that each run one task at a time; ``workers[i]`` describes slot i's current process."""

    @property
    def workers(self) -> Sequence[WorkerInfo]: ...

    def run(self, slot: int, task: PaintingTask, on_stage: StageCallback | None = None) -> PaintingResult:
        """Run ``task`` on slot ``slot`` (blocking); raises WorkerLost when its process died."""
        ...

    def revive(self, slot: int) -> None:
        """Wait until slot ``slot`` has a live worker again (after WorkerLost)."""
        ...

    def close(self) -> None: ...


class LocalPool:
    """One in-process worker: today's behaviour, no extra processes."""

    def __init__(self, config: PipelineConfig) -> None:
        self._worker = PipelineWorker(config)

    @property
    def workers(self) -> Sequence[WorkerInfo]:
        return [self._worker.info()]

    def run(self, slot: int, task: PaintingTask, on_stage: StageCallback | None = None) -> PaintingResult:
        return self._worker.run(task, on_stage)

    def revive(self, slot: int) -> None:
        """An in-process worker cannot die without this process."""

    def close(self) -> None:
        """Nothing to stop."""


def ray_init_kwargs(address: str | None) -> dict[str, Any]:
    """``ray.init`` arguments: no address starts a new local Ray here (no dashboard; never one found on the
    machine, which may be stale or someone else's); "auto", "host:6379" or "ray://host:10001" joins that
    cluster."""
    if not address:
        return {"address": "local", "include_dashboard": False, "logging_level": logging.WARNING}
    return {"address": address, "logging_level": logging.WARNING}


class RayPool:
    """``actors`` Ray actors, each holding a pipeline; each asks for one GPU when the cluster has them.

    Actors are spread over the nodes and restarted by Ray when their process dies. A Ray this pool
    started itself is shut down by ``close``; one it joined is left running.
    """

    def __init__(self, config: PipelineConfig, *, actors: int, address: str | None = None) -> None:
        if actors < 1:
            raise ConfigError("a Ray pool needs at least one actor")
        try:
            import ray
        except ImportError as error:
            raise ConfigError('Ray is not installed: pip install -e ".[ray]"') from error
        self._ray = ray
        self._actors: list[Any] = []
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(**ray_init_kwargs(address))
            except (ConnectionError, RuntimeError) as error:
                raise ConfigError(f"cannot reach the Ray cluster at {address}: {error}") from error
        cluster = ray.cluster_resources()  # type: ignore[no-untyped-call]
        gpus, cpus = float(cluster.get("GPU", 0.0)), float(cluster.get("CPU", 0.0))
        if actors > max(gpus, cpus):
            self.close()
            most = f"at most {max(gpus, cpus):.0f} actors"
            raise ConfigError(f"the Ray cluster has {cpus:.0f} CPUs and {gpus:.0f} GPUs: {most}")
        if gpus >= 1:
            resources = {"num_gpus": 1, "num_cpus": 0}
        else:  # CPU actors: one core each, and models that use one thread (no oversubscription)
            resources = {"num_cpus": 1}
            config = replace(config, threads=1)
        self._config = config
        self._resources = resources
        self._actors = [self._new_actor() for _ in range(actors)]
        try:
            self._workers: list[WorkerInfo] = ray.get([actor.info.remote() for actor in self._actors])
        except ray.exceptions.RayActorError as error:
            self.close()
            raise ConfigError(f"a Ray actor could not build the pipeline: {error}") from error

    def _new_actor(self) -> Any:
        """An actor handle (Any: Ray's typing does not see ``.remote`` on actor methods)."""
        options = {"max_restarts": -1, "scheduling_strategy": "SPREAD", **self._resources}
        return self._ray.remote(PipelineWorker).options(**options).remote(self._config, "ray")

    @property
    def workers(self) -> Sequence[WorkerInfo]:
        return list(self._workers)

    def run(self, slot: int, task: PaintingTask, on_stage: StageCallback | None = None) -> PaintingResult:
        ray = self._ray
        try:
            for ref in self._actors[slot].stream.remote(task):
                event = ray.get(ref)
                if isinstance(event, PaintingResult):
                    return event
                if on_stage is not None:
                    on_stage(event)
        except ray.exceptions.RayActorError as error:
            raise WorkerLost(f"Ray worker {self._workers[slot]['pid']} died during {task.name}") from error
        except ray.exceptions.RayTaskError as error:  # the task's own error (bad image...), unwrapped
            raise (error.cause if isinstance(error.cause, Exception) else error) from None
        raise WorkerLost(f"Ray worker {self._workers[slot]['pid']} ended {task.name} without a result")

    def revive(self, slot: int) -> None:
        """Block until the slot's actor is back (Ray restarts it and it rebuilds its pipeline; one whose
        node is gone is created afresh), then note its new pid; WorkerLost after ``RESTART_TIMEOUT_S``."""
        ray = self._ray
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                info: WorkerInfo = ray.get(self._actors[slot].info.remote(), timeout=RESTART_TIMEOUT_S)
            except ray.exceptions.ActorUnavailableError:  # restarting: its calls fail until it is up
                time.sleep(0.2)
                continue
            except ray.exceptions.ActorDiedError:
                self._actors[slot] = self._new_actor()
                continue
            except ray.exceptions.GetTimeoutError:
                break
            self._workers[slot] = info
            return
        raise WorkerLost(f"Ray worker slot {slot} did not come back within {RESTART_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._owns_ray:
            self._ray.shutdown()


def open_pool(config: PipelineConfig, workers: str, *, ray_actors: int) -> WorkerPool:
    """``workers``: "local", "ray" (start a local Ray, or join RAY_ADDRESS's) or "ray://host:port"."""
    if workers == "local":
        return LocalPool(config)
    if workers == "ray":  # like ``ray.init()``: join $RAY_ADDRESS's cluster when it is set
        return RayPool(config, actors=ray_actors, address="auto" if os.environ.get("RAY_ADDRESS") else None)
    if workers.startswith("ray://"):
        return RayPool(config, actors=ray_actors, address=workers)
    raise ConfigError(f"--workers {workers!r}: use local, ray or ray://host:port")


def run_tasks(
    pool: WorkerPool,
    tasks: Sequence[PaintingTask],
    *,
    max_tries: int = 2,
    on_stage: Callable[[int, str, str], None] | None = None,
) -> Iterator[PaintingResult | TaskFailure]:
    """Yield each task's outcome as it completes; each idle slot takes the next task.

    A task whose worker died goes back on the queue (the other slots take it first while the dead one
    restarts) until it has been tried ``max_tries`` times. ``on_stage(slot, painting, stage)`` reports
    progress from the slot's thread.
    """
    todo: queue.Queue[tuple[PaintingTask, int] | None] = queue.Queue()
    done: queue.Queue[PaintingResult | TaskFailure | None] = queue.Queue()
    for task in tasks:
        todo.put((task, 1))
    stop = threading.Event()

    def serve(slot: int) -> None:
        while not stop.is_set():
            item = todo.get()
            if item is None:
                return
            task, tries = item

            def stage(name: str, task: PaintingTask = task) -> None:
                if on_stage is not None:
                    on_stage(slot, task.name, name)

            try:
                done.put(pool.run(slot, task, stage))
            except WorkerLost as error:
                log.warning("%s (try %d of %d)", error, tries, max_tries)
                if tries < max_tries:
                    todo.put((task, tries + 1))
                else:
                    done.put(TaskFailure(task.name, str(error), tries))
                try:
                    pool.revive(slot)
                except Exception as revive_error:  # this slot is gone; the others go on
                    log.error("worker slot %d cannot be restarted: %s", slot, revive_error)
                    done.put(None)
                    return
            except Exception as error:  # one bad painting must not stop the batch
                done.put(TaskFailure(task.name, f"{type(error).__name__}: {error}", tries))

    threads = [
        threading.Thread(target=serve, args=(slot,), name=f"lamuse-slot-{slot}", daemon=True)
        for slot in range(len(pool.workers))
    ]
    for thread in threads:
        thread.start()
    alive = len(threads)
    remaining = len(tasks)
    try:
        while remaining and alive:
            outcome = done.get()
            if outcome is None:
                alive -= 1
                continue
            remaining -= 1
            yield outcome
        while remaining:  # every slot is gone: what is left cannot run
            item = todo.get_nowait()
            if item is not None:
                remaining -= 1
                yield TaskFailure(item[0].name, "no worker is left to run it", item[1])
    finally:
        stop.set()
        for _ in threads:
            todo.put(None)
        for thread in threads:
            thread.join()
