"""The queue over worker backends: one job per idle slot with fairness and quotas kept, refusal while the
workers are unreachable, and provenance of the local worker in the stored trace."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from bot.app import MuseBot, create_bot
from bot.engine import Engine
from bot.errors import UserLimitReached, WorkersUnavailable
from bot.jobs import Job, JobQueue
from bot.params import MuseParams
from bot.settings import Settings
from bot.store import Store
from bot.workers import LocalBackend
from tests.bot.conftest import Gate, World, painting_bytes
from tests.bot.fakes import FakeEngine
from tests.bot.test_jobs import Recorder

SMALL = "caillebotte_paris_street_rainy_day.jpg"


async def test_two_slots_run_two_jobs_at_once_in_round_robin_and_keep_the_quota() -> None:
    """With two slots the first two jobs of two users run together; a user's second waits its turn."""
    release = threading.Event()
    lock = threading.Lock()
    running: list[str] = []
    peak = 0
    order: list[str] = []

    tags = ["a1", "a2", "b1", "a3"]

    def work(job: Job, on_stage: Any) -> str:
        nonlocal peak
        tag = tags[job.params.seed]  # type: ignore[union-attr]
        with lock:
            running.append(tag)
            order.append(tag)
            peak = max(peak, len(running))
        release.wait(5)
        with lock:
            running.remove(tag)
        return tag

    queue = JobQueue(Store(":memory:"), work, per_user_queued=1, max_pending=10, slots=2)
    listener = Recorder()
    for tag, user in (("a1", 1), ("a2", 1), ("b1", 2)):
        await queue.submit(_job(user, tags.index(tag)), listener)
    for _ in range(100):
        if len(running) == 2:
            break
        await asyncio.sleep(0.02)
    assert sorted(running) == ["a1", "b1"], "both slots busy, one job of each user"
    assert queue.user_jobs(1) == (1, 1) and queue.user_jobs(2) == (1, 0)
    with pytest.raises(UserLimitReached):
        await queue.submit(_job(1, tags.index("a3")), listener)
    assert queue.eta_s(1) == pytest.approx(queue.avg_run_s / 2)
    release.set()
    await queue.drain()
    assert peak == 2 and order[2] == "a2"
    assert sorted(r for kind, r in listener.events if kind == "done") == ["a1", "a2", "b1"]
    await queue.close()


def _job(user_id: int, seed: int = 0) -> Job:
    return Job(user_id=user_id, params=MuseParams(seed=seed, painting="p"))


async def test_unreachable_workers_refuse_new_jobs_and_accept_again_when_back() -> None:
    down: list[str] = ["the painting workers are unreachable"]
    store = Store(":memory:")
    queue = JobQueue(store, lambda job, on_stage: "ok", unavailable=lambda: down[0] if down else None)
    listener = Recorder()
    with pytest.raises(WorkersUnavailable, match="unreachable"):
        await queue.submit(_job(1), listener)
    assert store.unfinished_jobs() == [] and queue.pending == 0, "a refused job is not stored"
    down.clear()
    await queue.submit(_job(1), listener)
    await queue.drain()
    assert ("done", "ok") in listener.events
    await queue.close()


class SwitchableBackend(LocalBackend):
    """The local backend with a switch that makes it report unreachable workers."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, "cpu")
        self.down = False

    def unavailable(self) -> str | None:
        return "the painting workers are unreachable" if self.down else None


@pytest.fixture
def backend(engine: FakeEngine) -> SwitchableBackend:
    return SwitchableBackend(engine)


@pytest.fixture
def simcord_bot(settings: Settings, engine: FakeEngine, gate: Gate, backend: SwitchableBackend) -> MuseBot:
    return create_bot(settings, engine, gate=gate, workers=backend)


async def test_the_stored_trace_names_the_local_worker(world: World) -> None:
    for count in (1, 4):  # a single picture's trace and a grid's alike
        result = await world.alice.slash(
            world.channel, "muse", image=(SMALL, painting_bytes(SMALL)), count=count
        )
        assert result.response is not None and result.response.attachments
        output = world.bot.store.output_by_message(result.response.id)
        assert output is not None
        worker = output["trace"]["worker"]
        assert worker["backend"] == "local" and worker["pid"] == os.getpid() and worker["device"] == "cpu"


async def test_the_user_is_told_when_the_workers_are_unreachable_and_served_when_back(
    world: World, backend: SwitchableBackend
) -> None:
    backend.down = True
    refused = await world.alice.slash(world.channel, "muse", image=(SMALL, painting_bytes(SMALL)))
    assert refused.response is not None and not refused.response.attachments
    assert "painting workers are unreachable" in refused.response.content
    backend.down = False
    served = await world.alice.slash(world.channel, "muse", image=(SMALL, painting_bytes(SMALL)))
    assert served.response is not None and served.response.attachments
