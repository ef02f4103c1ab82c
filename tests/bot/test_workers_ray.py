"""The bot with LAMUSE_WORKERS=ray and two actors (real pipelines) on a local Ray shared by the module."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import MuseBot, create_bot
from bot.settings import Settings
from bot.workers import RayBackend
from lamuse.types import ReinterpretOptions, StageCallback
from tests.bot.conftest import Gate, World, make_settings, painting_bytes

SMALL = "caillebotte_paris_street_rainy_day.jpg"
OTHER = "monet_woman_with_parasol.jpg"

pytestmark = pytest.mark.ray


class SharedBackend(RayBackend):
    """The module's backend: a bot closing at the end of a test leaves its actors to the next test."""

    def close(self) -> None:
        """Closed once, by the module fixture."""

    def really_close(self) -> None:
        super().close()


@pytest.fixture(scope="module")
def ray_backend(tmp_path_factory: pytest.TempPathFactory, annotated_library: Path) -> Iterator[SharedBackend]:
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    settings = make_settings(
        tmp_path_factory.mktemp("ray-bot"),
        library=annotated_library,
        workers="ray",
        ray_actors=2,
        device="cpu",
    )
    backend = SharedBackend(settings)
    yield backend
    backend.really_close()
    ray.shutdown()


@pytest.fixture
def settings(tmp_path: Path, annotated_library: Path) -> Settings:
    return make_settings(tmp_path, library=annotated_library, workers="ray", ray_actors=2, device="cpu")


@pytest.fixture
def simcord_bot(settings: Settings, gate: Gate, ray_backend: SharedBackend) -> MuseBot:
    return create_bot(settings, gate=gate, workers=ray_backend)


@pytest.mark.simcord(settle_timeout=120)
async def test_two_users_are_served_at_once_by_two_ray_workers(
    world: World, ray_backend: SharedBackend
) -> None:
    """Both jobs start together (one per idle actor); each stored trace names the Ray process that made it."""
    assert world.bot.jobs.slots == 2
    world.gate.hold()
    first = await world.alice.slash(
        world.channel, "muse", image=(SMALL, painting_bytes(SMALL)), seed=3, count=1
    )
    second = await world.bob.slash(
        world.channel, "muse", image=(OTHER, painting_bytes(OTHER)), seed=3, count=1
    )
    assert len(world.gate.waiting) == 2, "both jobs were dispatched before either finished"
    world.gate.release()
    await world.env.settle(timeout=120)
    workers = []
    for result in (first, second):
        assert result.response is not None and result.response.attachments, result.response
        output = world.bot.store.output_by_message(result.response.id)
        assert output is not None and output["trace"]["swaps"]
        workers.append(output["trace"]["worker"])
    assert {w["backend"] for w in workers} == {"ray"} and {w["device"] for w in workers} == {"cpu"}
    pids = {w["pid"] for w in workers}
    assert pids == {w["pid"] for w in ray_backend.workers} and os.getpid() not in pids


async def test_an_actor_killed_mid_job_is_replaced_and_the_job_ends_with_a_picture(
    ray_backend: SharedBackend,
) -> None:
    """Two jobs hold both actors; one actor's process is SIGKILLed mid-job: its job is retried on the
    other actor, both end with a picture, and Ray restarts the dead actor."""
    engine = ray_backend.engine
    painting = engine.load_image(painting_bytes(SMALL))
    pids = {w["pid"] for w in ray_backend.workers}
    stages: dict[int, list[str]] = {0: [], 1: []}
    killed: list[int] = []

    def progress(index: int) -> StageCallback:
        def on_stage(stage: str) -> None:
            stages[index].append(stage)
            both_busy = all(s and "finish" not in s for s in stages.values())
            if both_busy and not killed:  # each actor holds one of the two jobs now
                killed.append(ray_backend.workers[0]["pid"])
                os.kill(killed[0], signal.SIGKILL)

        return on_stage

    options = ReinterpretOptions(seed=5, size=384)
    results = await asyncio.gather(
        *(
            asyncio.to_thread(
                engine.reinterpret_variations,
                painting,
                name=SMALL,
                options=options,
                variations=[0],
                on_stage=progress(i),
            )
            for i in (0, 1)
        )
    )
    assert killed, "the two jobs overlapped"
    pictures = [only for [only] in results]
    for result in pictures:
        assert result.image.size[0] > 0 and result.trace["swaps"]
        assert result.trace["worker"]["pid"] != killed[0]
    assert pictures[0].trace["swaps"] == pictures[1].trace["swaps"], "same seed, same swaps on any worker"
    assert any(s.count("segment") == 2 for s in stages.values()), "the killed job started again"
    for _ in range(300):  # Ray restarts the killed actor in the background
        now = {w["pid"] for w in ray_backend.workers}
        if killed[0] not in now:
            break
        await asyncio.sleep(0.1)
    assert killed[0] not in now and len(now - pids) == 1, "one actor was restarted"
