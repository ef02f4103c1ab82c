"""Where job bodies run: one local inference thread (the default) or Ray actors that each hold a pipeline.

The queue (``bot/jobs.py``) runs up to ``backend.slots`` jobs at once, each through ``backend.engine``;
SQLite, the blobs and Discord stay on the bot host. With Ray, an engine call takes an idle actor, sends
the image as PNG bytes (never a model or an array), streams the stage names back while the actor works,
and returns the picture as bytes. An actor that dies mid-job is restarted by Ray and the job is retried
on another actor up to ``max_tries``; when the cluster cannot be reached, ``unavailable()`` says so and
the queue refuses new jobs until a probe finds it again.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from PIL import Image

from bot.engine import Engine, LamuseEngine, decode_image
from lamuse.distributed import WorkerInfo, WorkerLost, local_worker_info, ray_init_kwargs, streamed
from lamuse.errors import ConfigError
from lamuse.io import encode_png
from lamuse.types import Reinterpretation, ReinterpretOptions, StageCallback, Trace

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 10.0
"""While the cluster is unreachable, at most one reconnection attempt per interval (on a new request)."""


class WorkerBackend(Protocol):
    """``slots`` jobs may run at once, each calling ``engine`` from its own thread."""

    @property
    def slots(self) -> int: ...

    @property
    def engine(self) -> Engine: ...

    def unavailable(self) -> str | None:
        """Why new jobs cannot run now (the cluster is unreachable), or None."""
        ...

    def close(self) -> None: ...


class _TracedEngine:
    """An engine whose reinterpretations name the worker that made them (``trace["worker"]``)."""

    def __init__(self, engine: Engine, device: str) -> None:
        self._engine = engine
        self._device = device
        self._info: WorkerInfo | None = None

    def load_image(self, data: bytes | Path) -> Image.Image:
        return self._engine.load_image(data)

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
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> list[Reinterpretation]:
        results = self._engine.reinterpret_variations(
            painting,
            name=name,
            options=options,
            variations=variations,
            on_stage=on_stage,
            cutout_weights=cutout_weights,
            background_weights=background_weights,
            avoid_cutouts=avoid_cutouts,
            style_name=style_name,
        )
        return [self._traced(result) for result in results]

    def case_study(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
    ) -> Image.Image:
        return self._engine.case_study(
            painting,
            name=name,
            options=options,
            variation=variation,
            cutout_weights=cutout_weights,
            avoid_cutouts=avoid_cutouts,
        )

    def _traced(self, result: Reinterpretation) -> Reinterpretation:
        if self._info is None:
            self._info = self._worker_info()
        trace = cast(Trace, {**result.trace, "worker": self._info})
        return Reinterpretation(image=result.image, collage=result.collage, trace=trace, placed=result.placed)

    def show_masks(self, painting: Image.Image, *, name: str) -> Image.Image:
        return self._engine.show_masks(painting, name=name)

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        return self._engine.upscale(image, scale)

    def _worker_info(self) -> WorkerInfo:
        """The real pipeline has loaded torch by now; an engine that never did ran nothing on a GPU (and
        importing torch here would hold the GIL, and the event loop, for a second)."""
        if "torch" in sys.modules:
            return local_worker_info(self._device)
        return WorkerInfo(backend="local", node=socket.gethostname(), pid=os.getpid(), device="cpu")


class LocalBackend:
    """Today's behaviour: one inference thread in the bot process."""

    def __init__(self, engine: Engine, device: str) -> None:
        self._engine = _TracedEngine(engine, device)

    @property
    def slots(self) -> int:
        return 1

    @property
    def engine(self) -> Engine:
        return self._engine

    def unavailable(self) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to stop: the queue owns its thread."""


@dataclass(frozen=True)
class RemotePicture:
    """What an actor sends back: the picture as PNG bytes and, for a reinterpretation, its trace."""

    png: bytes
    trace: dict[str, Any]


@dataclass(frozen=True)
class RemotePictures:
    """A job's variations, the last item an actor streams."""

    pictures: list[RemotePicture]


class EngineWorker:
    """A Ray actor holding one ``LamuseEngine`` (the pipeline is built on its first job, once)."""

    def __init__(self, settings: Settings, threads: int | None) -> None:
        import ray

        if threads is not None:  # this process's entry point: CPU actors share the node's cores
            import cv2
            import torch

            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
        self._engine = LamuseEngine(settings)
        local = local_worker_info(settings.device)
        node = ray.get_runtime_context().get_node_id()
        self._info = WorkerInfo(backend="ray", node=node, pid=local["pid"], device=local["device"])

    def info(self) -> WorkerInfo:
        return self._info

    def reinterpret(
        self,
        painting: bytes,
        name: str,
        options: ReinterpretOptions,
        variations: Sequence[int],
        cutout_weights: Mapping[str, float] | None,
        background_weights: Mapping[str, float] | None,
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> Iterator[str | RemotePictures]:
        """Each stage name as it starts, then the pictures (``lamuse.distributed.streamed``)."""

        def work(on_stage: StageCallback) -> RemotePictures:
            results = self._engine.reinterpret_variations(
                decode_image(painting),
                name=name,
                options=options,
                variations=variations,
                on_stage=on_stage,
                cutout_weights=cutout_weights,
                background_weights=background_weights,
                avoid_cutouts=avoid_cutouts,
                style_name=style_name,
            )
            return RemotePictures(
                [RemotePicture(encode_png(r.image), {**r.trace, "worker": self._info}) for r in results]
            )

        yield from streamed(work, "lamuse-job")

    def show_masks(self, painting: bytes, name: str) -> bytes:
        return encode_png(self._engine.show_masks(decode_image(painting), name=name))

    def case_study(
        self,
        painting: bytes,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None,
        avoid_cutouts: Sequence[str],
    ) -> bytes:
        sheet = self._engine.case_study(
            decode_image(painting),
            name=name,
            options=options,
            variation=variation,
            cutout_weights=cutout_weights,
            avoid_cutouts=avoid_cutouts,
        )
        return encode_png(sheet)

    def upscale(self, image: bytes, scale: int) -> bytes:
        return encode_png(self._engine.upscale(decode_image(image), scale))


def _picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


class RayBackend:
    """``settings.ray_actors`` actors on the Ray cluster at ``settings.ray_address`` (empty: a local Ray
    started here, shut down by ``close``). Each actor asks for one GPU when the cluster has them."""

    def __init__(self, settings: Settings) -> None:
        try:
            import ray
        except ImportError as error:
            raise ConfigError('LAMUSE_WORKERS=ray needs Ray: pip install -e ".[ray]"') from error
        self._ray = ray
        self._settings = settings.model_copy(update={"discord_token": None})  # actors never see it
        self.max_tries = settings.max_tries
        self._actors: list[Any] = []
        self._workers: list[WorkerInfo] = []
        self._idle: queue.Queue[tuple[int, int]] = queue.Queue()
        """(generation, slot) of idle actors; a reconnection starts a new generation."""
        self._generation = 0
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_probe = 0.0
        self._probing = False
        self._owns_ray = False
        self._connect()
        self._engine = _RayEngine(self)

    # --- cluster ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            ray.init(**ray_init_kwargs(self._settings.ray_address or None))
            self._owns_ray = not self._settings.ray_address
        cluster = ray.cluster_resources()
        gpus, cpus = float(cluster.get("GPU", 0.0)), float(cluster.get("CPU", 0.0))
        count = self._settings.ray_actors
        if count > max(gpus, cpus):
            raise ConfigError(
                f"LAMUSE_RAY_ACTORS={count}, but the Ray cluster has {cpus:.0f} CPUs, {gpus:.0f} GPUs"
            )
        resources: dict[str, float] = {"num_gpus": 1, "num_cpus": 0} if gpus >= 1 else {"num_cpus": 1}
        options = {"max_restarts": -1, "scheduling_strategy": "SPREAD", **resources}
        actor_class = ray.remote(EngineWorker).options(**options)
        threads = None if gpus >= 1 else 1  # CPU actors: one core each, no oversubscription
        actors = [actor_class.remote(self._settings, threads) for _ in range(count)]
        workers: list[WorkerInfo] = ray.get([actor.info.remote() for actor in actors])
        with self._lock:
            self._actors, self._workers = actors, workers
            self._generation += 1
            while not self._idle.empty():
                self._idle.get_nowait()
            for slot in range(count):
                self._idle.put((self._generation, slot))
        log.info(
            "Ray workers: %s",
            ", ".join(f"pid {w['pid']} on {w['node'][:8]} ({w['device']})" for w in workers),
        )

    def _mark_down(self, error: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                log.error("the Ray cluster is unreachable (%s); refusing new jobs until it is back", error)
                self._down_since = time.monotonic()

    def unavailable(self) -> str | None:
        """None when the cluster answers. While it is down, start a reconnection in the background at most
        every PROBE_INTERVAL_S (this is called on the event loop: it never blocks)."""
        with self._lock:
            if self._down_since is None:
                return None
            if not self._probing and time.monotonic() - self._last_probe >= PROBE_INTERVAL_S:
                self._probing, self._last_probe = True, time.monotonic()
                threading.Thread(target=self._probe, name="lamuse-ray-probe", daemon=True).start()
        return "the painting workers are unreachable"

    def _probe(self) -> None:
        try:
            if self._ray.is_initialized():
                self._ray.shutdown()
            self._connect()
        except Exception as error:  # still down: probe again later
            log.warning("the Ray cluster is still unreachable: %s", error)
            with self._lock:
                self._probing = False
            return
        with self._lock:
            log.info("the Ray cluster is back after %.0f s", time.monotonic() - (self._down_since or 0.0))
            self._down_since, self._probing = None, False

    @property
    def slots(self) -> int:
        return self._settings.ray_actors

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def workers(self) -> Sequence[WorkerInfo]:
        return list(self._workers)

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # the cluster may already be gone
                log.debug("could not kill actor %s", actor)
        self._actors = []
        if self._owns_ray:
            self._ray.shutdown()

    # --- calls ------------------------------------------------------------------------------------

    def _take(self, describe: str) -> tuple[int, int]:
        """An idle actor's token; WorkerLost as soon as the cluster is known to be down."""
        while True:
            if self._down_since is not None:
                raise WorkerLost(f"the Ray cluster is unreachable: {describe} cannot run")
            try:
                token = self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
            if token[0] == self._generation:
                return token

    def _give_back(self, token: tuple[int, int]) -> None:
        with self._lock:
            if token[0] == self._generation:
                self._idle.put(token)

    def call(self, describe: str, method: str, *args: Any, on_stage: StageCallback | None = None) -> Any:
        """Run ``method`` on an idle actor; when the actor dies, retry on another one up to max_tries."""
        ray = self._ray
        for attempt in range(1, self.max_tries + 1):
            token = self._take(describe)
            actor, pid = self._actors[token[1]], self._workers[token[1]]["pid"]
            try:
                reply = getattr(actor, method).remote(*args)
                if method != "reinterpret":
                    result = ray.get(reply)
                else:
                    for ref in reply:
                        result = ray.get(ref)
                        if isinstance(result, RemotePictures):
                            break
                        if on_stage is not None:
                            on_stage(result)
            except ray.exceptions.RayActorError:
                log.warning(
                    "Ray worker %s died during %s (try %d of %d)", pid, describe, attempt, self.max_tries
                )
                threading.Thread(
                    target=self._revive, args=(token,), name="lamuse-revive", daemon=True
                ).start()
                continue
            except ray.exceptions.RayTaskError as error:  # the job's own error (bad image...), unwrapped
                self._give_back(token)
                raise (error.cause if isinstance(error.cause, Exception) else error) from None
            except BaseException as error:
                if isinstance(error, (ConnectionError, ray.exceptions.RaySystemError)):
                    self._mark_down(error)
                self._give_back(token)
                raise
            self._give_back(token)
            return result
        raise WorkerLost(f"{describe}: its Ray worker died {self.max_tries} times")

    def _revive(self, token: tuple[int, int]) -> None:
        """Wait for Ray to restart the slot's actor (it rebuilds its pipeline), then make it idle again."""
        ray = self._ray
        while token[0] == self._generation:
            try:
                info: WorkerInfo = ray.get(self._actors[token[1]].info.remote(), timeout=300)
            except ray.exceptions.ActorUnavailableError:
                time.sleep(0.2)
                continue
            except Exception as error:  # the cluster is gone: the probe rebuilds every actor
                self._mark_down(error)
                return
            self._workers[token[1]] = info
            self._give_back(token)
            return


class _RayEngine:
    """The ``Engine`` the job runner calls: corpus and decoding here, model work on the actors."""

    def __init__(self, backend: RayBackend) -> None:
        self._backend = backend

    def load_image(self, data: bytes | Path) -> Image.Image:
        return decode_image(data)

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
        avoid_cutouts: Sequence[str] = (),
        style_name: str | None = None,
    ) -> list[Reinterpretation]:
        weights = (
            dict(cutout_weights) if cutout_weights else None,
            dict(background_weights) if background_weights else None,
        )
        remote: RemotePictures = self._backend.call(
            f"reinterpreting {name}",
            "reinterpret",
            encode_png(painting),
            name,
            options,
            list(variations),
            *weights,
            list(avoid_cutouts),
            style_name,
            on_stage=on_stage,
        )
        # The collage and pasted masks stay on the worker: the bot shows the pictures and their traces only.
        results = []
        for picture in remote.pictures:
            image = _picture(picture.png)
            results.append(Reinterpretation(image=image, collage=image, trace=cast(Trace, picture.trace)))
        return results

    def show_masks(self, painting: Image.Image, *, name: str) -> Image.Image:
        return _picture(self._backend.call(f"outlining {name}", "show_masks", encode_png(painting), name))

    def case_study(
        self,
        painting: Image.Image,
        *,
        name: str,
        options: ReinterpretOptions,
        variation: int,
        cutout_weights: Mapping[str, float] | None = None,
        avoid_cutouts: Sequence[str] = (),
    ) -> Image.Image:
        weights = dict(cutout_weights) if cutout_weights else None
        args = (encode_png(painting), name, options, variation, weights, list(avoid_cutouts))
        return _picture(self._backend.call(f"case study of {name}", "case_study", *args))

    def upscale(self, image: Image.Image, scale: int) -> Image.Image:
        return _picture(self._backend.call("upscaling", "upscale", encode_png(image), scale))


def create_backend(settings: Settings, engine: Engine) -> WorkerBackend:
    """``LAMUSE_WORKERS``: "local" runs ``engine`` here; "ray" runs a LamuseEngine on each Ray actor."""
    if settings.workers == "ray":
        return RayBackend(settings)
    return LocalBackend(engine, settings.device)
