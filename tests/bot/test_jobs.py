"""JobQueue without Discord: fairness, limits, timeout, cancellation, recovery (plain asyncio)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from bot.errors import Busy, JobCancelled, JobTimeout, UserLimitReached
from bot.jobs import Job, JobQueue, LagProbe
from bot.store import Store


class Recorder:
    """A JobListener that keeps every notification."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def queued(self, job: Job, position: int, eta_s: float) -> None:
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

    def work(job: Job, on_stage: Any) -> str:
        release.wait(5)
        order.append(job.params["tag"])
        return job.params["tag"]

    queue = make_queue(work, per_user_queued=5, max_pending=50)
    listener = Recorder()
    for tag in ["a1", "a2", "a3", "b1", "b2", "c1"]:
        await queue.submit(Job(kind="muse", user_id=ord(tag[0]), params={"tag": tag}), listener)
    release.set()
    await queue.drain()
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3"]
    await queue.close()


async def test_per_user_and_global_limits() -> None:
    """One running plus N waiting per user; a full queue answers Busy with a retry estimate."""
    release = threading.Event()
    queue = make_queue(lambda job, on_stage: release.wait(5), per_user_queued=1, max_pending=2)
    listener = Recorder()
    await queue.submit(Job(kind="muse", user_id=1, params={}), listener)
    await asyncio.sleep(0.05)  # the worker takes the first job
    await queue.submit(Job(kind="muse", user_id=1, params={}), listener)
    with pytest.raises(UserLimitReached):
        await queue.submit(Job(kind="muse", user_id=1, params={}), listener)
    await queue.submit(Job(kind="muse", user_id=2, params={}), listener)
    with pytest.raises(Busy) as busy:
        await queue.submit(Job(kind="muse", user_id=3, params={}), listener)
    assert busy.value.retry_after_s > 0
    release.set()
    await queue.drain()
    await queue.close()


async def test_timeout_reports_a_clear_error_and_the_queue_goes_on() -> None:
    """A job over the timeout fails with JobTimeout; the next job still runs."""

    def work(job: Job, on_stage: Any) -> str:
        if job.params.get("slow"):
            time.sleep(0.5)
        on_stage("stylize")
        return "ok"

    queue = make_queue(work, timeout_s=0.1)
    slow, fast = Recorder(), Recorder()
    await queue.submit(Job(kind="muse", user_id=1, params={"slow": True}), slow)
    await queue.submit(Job(kind="muse", user_id=2, params={}), fast)
    await queue.drain()
    assert isinstance(slow.events[-1][1], JobTimeout)
    assert fast.events[-1] == ("done", "ok")
    rows = queue.store.db.execute("SELECT status FROM jobs ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == ["failed", "done"]
    await queue.close()


async def test_stage_events_arrive_in_order_before_the_result() -> None:
    """Stages reported from the worker thread reach the listener in order, before done()."""

    def work(job: Job, on_stage: Any) -> str:
        for stage in ("segment", "substitute", "stylize", "upscale"):
            on_stage(stage)
        return "ok"

    queue = make_queue(work)
    listener = Recorder()
    await queue.submit(Job(kind="muse", user_id=1, params={}), listener)
    await queue.drain()
    assert [e[1] for e in listener.events] == [1, "segment", "substitute", "stylize", "upscale", "ok"]
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
    job = Job(kind="muse", user_id=1, params={}, source_message_id=99)
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
    fresh = Job(kind="muse", user_id=1, params={"n": 1})
    tired = Job(kind="muse", user_id=2, params={"n": 2}, tries=2)
    for job, status in ((fresh, "running"), (tired, "running")):
        row = job.to_row()
        row.update(status=status, created_at="2026-01-01T00:00:00+00:00")
        store.insert_job(row)
    queue = JobQueue(store, lambda job, on_stage: job.params["n"], max_tries=2)
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
    job = Job(kind="muse", user_id=1, params={})
    await queue.submit(job, listener)
    await queue.drain()
    failures = [e for kind, e in listener.events if kind == "failed"]
    assert len(failures) == 1 and "channel deleted" in str(failures[0])
    row = queue.store.get_job(job.id)
    assert row is not None and row["status"] == "failed" and "channel deleted" in row["error"]
    await queue.close()


async def test_close_stops_the_running_job_at_its_next_stage() -> None:
    """The inference thread cannot be killed; after close() its next stage boundary raises JobCancelled."""
    started, go = threading.Event(), threading.Event()
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
        outcome.append("ran on")
        return "result"

    queue = make_queue(work)
    await queue.submit(Job(kind="muse", user_id=1, params={}), Recorder())
    await asyncio.to_thread(started.wait, 5)
    await queue.close()
    go.set()
    for _ in range(100):
        if outcome:
            break
        await asyncio.sleep(0.02)
    assert outcome == ["cancelled"]


async def test_a_job_cancelled_while_queued_leaves_no_notification_entry() -> None:
    """The notification bookkeeping of a job cancelled before it ran is dropped once sent."""
    release = threading.Event()
    queue = make_queue(lambda job, on_stage: release.wait(5), per_user_queued=2)
    listener = Recorder()
    await queue.submit(Job(kind="muse", user_id=1, params={}), listener)
    waiting = Job(kind="muse", user_id=1, params={})
    await queue.submit(waiting, listener)
    assert queue.cancel(waiting.id)
    release.set()
    await queue.drain()
    assert waiting.id not in queue._last_note
    await queue.close()


async def test_the_lag_probe_runs_only_when_one_is_given() -> None:
    """Production queues measure nothing; a test that wants event-loop lag passes its own probe."""

    def work(job: Job, on_stage: Any) -> str:
        time.sleep(0.05)
        return "ok"

    plain = make_queue(work)
    assert plain.lag is None
    await plain.submit(Job(kind="muse", user_id=1, params={}), Recorder())
    await plain.drain()
    await plain.close()

    probe = LagProbe(interval_s=0.005)
    measured = make_queue(work, lag=probe)
    await measured.submit(Job(kind="muse", user_id=1, params={}), Recorder())
    await measured.drain()
    await measured.close()
    assert probe.samples, "the given probe sampled the loop while the job ran"
