"""JobQueue without Discord: fairness, limits, timeout, cancellation, recovery (plain asyncio)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from bot.errors import Busy, JobCancelled, JobTimeout, RateLimited, UserLimitReached
from bot.jobs import Job, JobQueue
from bot.params import MuseParams
from bot.store import Store


def job_of(user_id: int, seed: int = 0, **fields: Any) -> Job:
    """A job whose seed tags it (the queue never looks inside the parameters)."""
    return Job(user_id=user_id, params=MuseParams(seed=seed, painting="p"), **fields)


class Recorder:
    """A JobListener that keeps every notification."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        self.events.append(("queued", position))

    async def stage(self, job: Job, stage: str) -> None:
        self.events.append(("stage", stage))

    async def done(self, job: Job, result: Any) -> None:
        self.events.append(("done", result))

    async def failed(self, job: Job, error: BaseException) -> None:
        self.events.append(("failed", error))


def make_queue(work: Any, **kwargs: Any) -> JobQueue:
    return JobQueue(Store(":memory:"), work, **kwargs)


async def test_round_robin_across_users_fifo_within_a_user() -> None:
    """Jobs run one user at a time in turn, each user's own jobs in order."""
    order: list[str] = []
    release = threading.Event()
    tags = ["a1", "a2", "a3", "b1", "b2", "c1"]

    def work(job: Job, on_stage: Any) -> str:
        release.wait(5)
        tag = tags[job.params.seed]  # type: ignore[union-attr]
        order.append(tag)
        return tag

    queue = make_queue(work, per_user_queued=5, max_pending=50)
    listener = Recorder()
    for index, tag in enumerate(tags):
        await queue.submit(job_of(ord(tag[0]), index), listener)
    release.set()
    await queue.drain()
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]
    await queue.close()


async def test_per_user_and_global_limits() -> None:
    """One running plus N waiting per user; a full queue answers Busy with a retry estimate."""
    release, started = threading.Event(), threading.Event()

    def work(job: Job, on_stage: Any) -> bool:
        started.set()
        return release.wait(5)

    queue = make_queue(work, per_user_queued=1, max_pending=2)
    listener = Recorder()
    await queue.submit(job_of(1), listener)
    await asyncio.to_thread(started.wait, 5)  # the worker has taken the first job
    await queue.submit(job_of(1), listener)
    with pytest.raises(UserLimitReached):
        await queue.submit(job_of(1), listener)
    await queue.submit(job_of(2), listener)
    with pytest.raises(Busy) as busy:
        await queue.submit(job_of(3), listener)
    assert busy.value.retry_after_s > 0
    release.set()
    await queue.drain()
    await queue.close()


async def test_timeout_reports_a_clear_error_and_the_queue_goes_on() -> None:
    """A job over the timeout fails with JobTimeout; the next job still runs."""

    def work(job: Job, on_stage: Any) -> str:
        if job.params.seed == 1:  # type: ignore[union-attr]
            time.sleep(0.5)
        on_stage("stylize")
        return "ok"

    queue = make_queue(work, timeout_s=0.1)
    slow, fast = Recorder(), Recorder()
    await queue.submit(job_of(1, seed=1), slow)
    await queue.submit(job_of(2), fast)
    await queue.drain()
    assert isinstance(slow.events[-1][1], JobTimeout)
    assert fast.events[-1] == ("done", "ok")
    rows = queue.store.db.execute("SELECT status FROM jobs ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == ["failed", "done"]
    await queue.close()


async def test_stage_events_arrive_in_order_before_the_result() -> None:
    """"start", then the stages the worker thread reports, reach the listener in order, before done()."""

    def work(job: Job, on_stage: Any) -> str:
        for stage in ("segment", "substitute", "stylize", "upscale"):
            on_stage(stage)
        return "ok"

    queue = make_queue(work)
    listener = Recorder()
    await queue.submit(job_of(1), listener)
    await queue.drain()
    expected = [1, "start", "segment", "substitute", "stylize", "upscale", "ok"]
    assert [e[1] for e in listener.events] == expected
    await queue.close()


async def test_cancel_running_job_stops_at_the_next_stage() -> None:
    """A running job whose message is deleted stops at its next stage and reports cancelled."""
    started = threading.Event()
    proceed = threading.Event()

    def work(job: Job, on_stage: Any) -> str:
        started.set()
        proceed.wait(5)
        on_stage("stylize")
        return "never"

    queue = make_queue(work)
    listener = Recorder()
    job = job_of(1, source_message_id=99)
    await queue.submit(job, listener)
    await asyncio.to_thread(started.wait, 5)
    assert queue.cancel_for_message(99) == [job.id]
    proceed.set()
    await queue.drain()
    assert isinstance(listener.events[-1][1], JobCancelled)
    assert queue.store.get_job(job.id)["status"] == "cancelled"
    await queue.close()


async def test_recover_requeues_unfinished_and_reports_exhausted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On start, queued/running rows run again, unless they already used their tries."""
    store = Store(tmp_path / "db.sqlite")
    fresh = job_of(1, seed=1)
    tired = job_of(2, seed=2, tries=2)
    for job, status in ((fresh, "running"), (tired, "running")):
        row = job.to_row()
        row.update(status=status, created_at="2026-01-01T00:00:00+00:00")
        store.insert_job(row)
    queue = JobQueue(store, lambda job, on_stage: job.params.seed, max_tries=2)
    listeners: dict[str, Recorder] = {}

    def listener_for(job: Job) -> Recorder:
        return listeners.setdefault(job.id, Recorder())

    resumed, reported = await queue.recover(listener_for)
    await queue.drain()
    assert [j.id for j in resumed] == [fresh.id] and [j.id for j in reported] == [tired.id]
    assert listeners[fresh.id].events[-1] == ("done", 1)
    assert store.get_job(tired.id)["status"] == "failed"
    await queue.close()


class BrokenDelivery(Recorder):
    """A listener whose delivery of the result fails (a Discord outage, a deleted channel)."""

    async def done(self, job: Job, result: Any) -> None:
        raise RuntimeError("channel deleted")


async def test_a_failed_delivery_is_reported_and_the_job_is_not_marked_done() -> None:
    """If delivering a finished result raises, the listener's failure path runs and the row says failed."""
    queue = make_queue(lambda job, on_stage: "result")
    listener = BrokenDelivery()
    job = job_of(1)
    await queue.submit(job, listener)
    await queue.drain()
    failures = [e for kind, e in listener.events if kind == "failed"]
    assert len(failures) == 1 and "channel deleted" in str(failures[0])
    row = queue.store.get_job(job.id)
    assert row is not None and row["status"] == "failed" and "channel deleted" in row["error"]
    await queue.close()


async def test_close_stops_the_running_job_at_its_next_stage() -> None:
    """The inference thread cannot be killed; after close() its next stage boundary raises JobCancelled."""
    started, go, ended = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def work(job: Job, on_stage: Any) -> str:
        on_stage("segment")
        started.set()
        go.wait(5)
        try:
            on_stage("stylize")
        except JobCancelled:
            outcome.append("cancelled")
            raise
        finally:
            ended.set()
        outcome.append("ran on")
        return "result"

    queue = make_queue(work)
    await queue.submit(job_of(1), Recorder())
    await asyncio.to_thread(started.wait, 5)
    await queue.close()
    go.set()
    await asyncio.to_thread(ended.wait, 5)
    assert outcome == ["cancelled"]


async def test_validations_hold_places_so_a_burst_is_refused_before_decoding() -> None:
    """Places held while uploads are validated count against the user's quota and the global cap."""
    queue = make_queue(lambda job, on_stage: "ok", per_user_queued=2, max_pending=3)
    held = [queue.admit(1, guild_id=5) for _ in range(3)]  # running + 2 waiting = the user's quota
    with pytest.raises(UserLimitReached):
        queue.admit(1, guild_id=5)
    with pytest.raises(Busy):
        queue.admit(2, guild_id=6)  # three places held in all: the global cap
    held[0].release()
    held[0].release()  # idempotent
    await queue.submit(job_of(1, guild_id=5), Recorder(), admission=held[1])
    assert not held[1].held
    await queue.drain()
    held[2].release()
    queue.admit(2, guild_id=6).release()
    await queue.close()


async def test_a_guilds_cap_holds_whoever_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs of one guild stop at its cap (admins' manual posts included); other guilds are not affected."""
    release = threading.Event()
    queue = make_queue(lambda job, on_stage: release.wait(5), per_user_queued=5, per_guild_queued=2)
    for user in (1, 2, 3):
        if user == 3:
            with pytest.raises(Busy):
                queue.admit(user, guild_id=5)
        else:
            await queue.submit(job_of(user, guild_id=5), Recorder())
    queue.admit(4, guild_id=6).release()
    release.set()
    await queue.drain()
    await queue.close()


async def test_rate_limit_uses_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall-clock step changes nothing; only monotonic time frees the window."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    queue = make_queue(lambda job, on_stage: "ok", per_user_per_minute=2, per_user_queued=5)
    for _ in range(2):
        await queue.submit(job_of(1), Recorder())
    with pytest.raises(RateLimited) as limited:
        queue.check_admission(1)
    assert 59 <= limited.value.retry_after_s <= 60
    now[0] += 61
    queue.check_admission(1)
    await queue.drain()
    await queue.close()
