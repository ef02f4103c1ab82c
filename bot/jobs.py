"""An in-process job queue over worker slots (ONE inference thread by default), persisted in SQLite.

- The event loop never runs model code: work functions run on an executor, one thread per worker slot
  (``slots``: one job per idle worker of ``bot/workers.py``; 1 by default).
- Fair: the next job is taken round-robin across users, FIFO within a user.
- Bounded: one running job plus ``per_user_queued`` waiting per user; ``max_pending`` waiting in all.
  A full queue answers ``Busy`` at once; nothing is dropped once accepted.
- Every state change is a row update, so a restart re-queues (or reports) what was unfinished.
- The worker task exists only while there is work; it wakes on submit, no polling.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import statistics
import time
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.errors import (
    Busy,
    JobCancelled,
    JobInterrupted,
    JobTimeout,
    RateLimited,
    UserLimitReached,
    WorkersUnavailable,
)
from bot.params import JobParams, MuseParams, ParamsError, from_json, to_json
from bot.store import JobRow, Store
from lamuse.types import StageCallback

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Job:
    """One unit of inference work; every field is persisted so the job can be re-run after a restart."""

    user_id: int
    params: JobParams
    guild_id: int | None = None
    channel_id: int | None = None
    source_message_id: int | None = None
    response_message_id: int | None = None
    id: str = field(default_factory=new_id)
    status: JobStatus = JobStatus.QUEUED
    tries: int = 0
    error: str | None = None
    output_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def kind(self) -> str:
        return self.params.kind

    @property
    def scheduled(self) -> bool:
        """The bot's own scheduled work (a daily post), not a user's request."""
        return isinstance(self.params, MuseParams) and self.params.daily_slot is not None

    def to_row(self) -> JobRow:
        return {
            "id": self.id,
            "kind": self.kind,
            "user_id": self.user_id,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "source_message_id": self.source_message_id,
            "response_message_id": self.response_message_id,
            "params": to_json(self.params),
            "status": str(self.status),
            "tries": self.tries,
            "error": self.error,
            "output_id": self.output_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        """Rebuild a job from its row; raises ``ParamsError`` when the stored parameters are unusable."""

        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            id=row["id"],
            user_id=row["user_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            source_message_id=row["source_message_id"],
            response_message_id=row["response_message_id"],
            params=from_json(row["kind"], row["params"]),
            status=JobStatus(row["status"]),
            tries=row["tries"],
            error=row["error"],
            output_id=row["output_id"],
            created_at=when(row["created_at"]),
            started_at=when(row["started_at"]),
            finished_at=when(row["finished_at"]),
        )


class JobListener(Protocol):
    """How a job's progress reaches its user (the cog implements it; jobs.py knows no Discord)."""

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        """Called when queued and when the place changes; ``eta_s`` None before any job was measured."""
        ...

    async def stage(self, job: Job, stage: str) -> None: ...

    async def done(self, job: Job, result: Any) -> None: ...

    async def failed(self, job: Job, error: BaseException) -> None: ...


Work = Callable[[Job, StageCallback], Any]
"""The synchronous job body, run on the inference thread; ``on_stage`` raises JobCancelled when asked."""

Gate = Callable[[Job], Awaitable[None]]


RECENT_RUNS = 20
"""Run times the wait estimate is the median of."""
POSITION_EDIT_S = 5.0
"""Least time between two edits of a waiting user's position message."""


class Admission:
    """A place held in the queue for one request while it is validated (its upload decoded).

    Held places count against the user's quota, the guild's and the global cap, so a burst of uploads is
    refused before any of them is decoded. ``release`` is idempotent; ``JobQueue.submit`` consumes it.
    """

    def __init__(self, queue: JobQueue, user_id: int, guild_id: int | None) -> None:
        self._queue = queue
        self.user_id = user_id
        self.guild_id = guild_id
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._queue._release(self)

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class JobQueue:
    """Round-robin job queue feeding its worker slots; see the module docstring for the rules."""

    def __init__(
        self,
        store: Store,
        work: Work,
        *,
        per_user_queued: int = 2,
        per_guild_queued: int = 10,
        max_pending: int = 20,
        timeout_s: float = 300.0,
        max_tries: int = 2,
        clock: Clock = utc_now,
        gate: Gate | None = None,
        expected_run_s: float = 20.0,
        per_user_per_minute: int | None = None,
        slots: int = 1,
        unavailable: Callable[[], str | None] | None = None,
    ) -> None:
        self.store = store
        self.work = work
        self.per_user_queued = per_user_queued
        self.per_guild_queued = per_guild_queued
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.max_tries = max_tries
        self.clock = clock
        self.gate = gate
        self.expected_run_s = expected_run_s
        self._recent_runs: deque[float] = deque(maxlen=RECENT_RUNS)
        self._told: dict[str, tuple[int, float]] = {}
        """Per waiting job: the position its user was last told, and when (monotonic)."""
        self.per_user_per_minute = per_user_per_minute
        self._accepted_at: dict[int, deque[float]] = {}
        self._held_by_user: Counter[int] = Counter()
        self._held_by_guild: Counter[int] = Counter()
        self._executor: ThreadPoolExecutor | None = None
        self._by_user: dict[int, deque[Job]] = {}
        self._turns: deque[int] = deque()
        self._listeners: dict[str, JobListener] = {}
        self.slots = slots  # jobs run at once: one per idle worker (bot/workers.py)
        self.unavailable = unavailable  # why the workers cannot take jobs now (None: they can)
        self._running: dict[str, Job] = {}
        self._slots_busy: set[asyncio.Task[None]] = set()
        self._cancelled: set[str] = set()
        self._worker: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # A job's latest notification, so the next one waits for it; weak, so a sent one frees itself.
        self._last_note: weakref.WeakValueDictionary[str, asyncio.Task[None]] = weakref.WeakValueDictionary()
        self._stuck: asyncio.Future[Any] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    # --- admission --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Waiting jobs plus places held by requests still being validated."""
        return sum(len(q) for q in self._by_user.values()) + sum(self._held_by_user.values())

    def user_jobs(self, user_id: int) -> tuple[int, int]:
        """``(running, waiting)`` for the user; waiting includes requests still being validated."""
        running = sum(1 for job in self._running.values() if job.user_id == user_id)
        return running, len(self._by_user.get(user_id, ())) + self._held_by_user[user_id]

    def guild_pending(self, guild_id: int) -> int:
        """A guild's waiting jobs and held places, whoever asked (its users, its admins' manual posts)."""
        waiting = sum(1 for queue in self._by_user.values() for job in queue if job.guild_id == guild_id)
        return waiting + self._held_by_guild[guild_id]

    def check_admission(self, user_id: int, guild_id: int | None = None) -> None:
        """Raise RateLimited, UserLimitReached or Busy when a new request of ``user_id`` would be refused.

        Every user request counts against the user's quota and rate, its guild's cap and the global cap;
        only the bot's own scheduled posts (one per guild per day) are exempt (``submit(scheduled=True)``).
        """
        if self._closed:
            raise JobCancelled("the bot is shutting down")
        self._check_rate(user_id)
        running, waiting = self.user_jobs(user_id)
        if running + waiting >= 1 + self.per_user_queued:
            raise UserLimitReached(running, waiting)
        retry = max(5.0, self.avg_run_s)
        if guild_id is not None and self.guild_pending(guild_id) >= self.per_guild_queued:
            raise Busy(retry_after_s=retry)
        if self.pending >= self.max_pending:
            raise Busy(retry_after_s=retry)

    def admit(self, user_id: int, guild_id: int | None = None) -> Admission:
        """Check admission and hold a place for a request that still has to be validated."""
        self.check_admission(user_id, guild_id)
        self._held_by_user[user_id] += 1
        if guild_id is not None:
            self._held_by_guild[guild_id] += 1
        return Admission(self, user_id, guild_id)

    def _release(self, admission: Admission) -> None:
        self._held_by_user[admission.user_id] -= 1
        if self._held_by_user[admission.user_id] <= 0:
            del self._held_by_user[admission.user_id]
        if admission.guild_id is not None:
            self._held_by_guild[admission.guild_id] -= 1
            if self._held_by_guild[admission.guild_id] <= 0:
                del self._held_by_guild[admission.guild_id]

    def _check_rate(self, user_id: int) -> None:
        """Sliding one-minute window over the user's accepted jobs (quota bounds concurrency, this volume).

        Measured on the monotonic clock: a wall-clock step (NTP, DST, an operator) changes nothing.
        """
        if self.per_user_per_minute is None:
            return
        window = self._accepted_at.get(user_id)
        if not window:
            return
        now = time.monotonic()
        while window and now - window[0] >= 60.0:
            window.popleft()
        if not window:
            del self._accepted_at[user_id]
            return
        if len(window) >= self.per_user_per_minute:
            retry = 60.0 - (now - window[0])
            raise RateLimited(self.per_user_per_minute, max(1.0, retry))

    def _count_for_rate(self, user_id: int) -> None:
        if self.per_user_per_minute is not None:
            self._accepted_at.setdefault(user_id, deque()).append(time.monotonic())

    @property
    def measured(self) -> bool:
        """Whether a job has run yet in this process (estimates come from measured run times)."""
        return bool(self._recent_runs)

    @property
    def avg_run_s(self) -> float:
        """The median of the last ``RECENT_RUNS`` run times (``expected_run_s`` before the first)."""
        return statistics.median(self._recent_runs) if self._recent_runs else self.expected_run_s

    def eta_s(self, position: int) -> float:
        """Rough wait before a job at ``position`` (1 = next) starts."""
        return self.avg_run_s * (position - 1 + (1 if self._running else 0)) / self.slots

    def _announce_positions(self) -> None:
        """Tell each waiting user their new place when it changed, at most every POSITION_EDIT_S (Discord
        rate-limits message edits)."""
        now = time.monotonic()
        for position, job in enumerate(self._planned_order(), start=1):
            listener = self._listeners.get(job.id)
            told = self._told.get(job.id)
            unchanged = told is not None and (told[0] == position or now - told[1] < POSITION_EDIT_S)
            if listener is None or unchanged:
                continue
            self._told[job.id] = (position, now)
            self._spawn(listener.queued(job, position, self.eta_s(position) if self.measured else None), job)

    def position(self, job_id: str) -> int | None:
        """1-based place of a waiting job in the round-robin order the worker will follow."""
        for index, job in enumerate(self._planned_order(), start=1):
            if job.id == job_id:
                return index
        return None

    def _planned_order(self) -> list[Job]:
        queues = {user: deque(q) for user, q in self._by_user.items()}
        turns = deque(self._turns)
        order: list[Job] = []
        while turns:
            user = turns.popleft()
            queue = queues[user]
            order.append(queue.popleft())
            if queue:
                turns.append(user)
        return order

    async def submit(
        self,
        job: Job,
        listener: JobListener,
        *,
        admission: Admission | None = None,
        scheduled: bool = False,
    ) -> int:
        """Persist and enqueue ``job``; returns its position. Raises UserLimitReached, RateLimited or Busy.

        ``admission`` is the place held while the request was validated (consumed here; without one the
        limits are checked now). ``scheduled`` is for the bot's own daily posts only, never for requests.
        """
        if self._closed:
            raise JobCancelled("the bot is shutting down")
        if self.unavailable is not None and (reason := self.unavailable()) is not None:
            raise WorkersUnavailable(reason)
        counted_user = admission.user_id if admission is not None else job.user_id
        if admission is not None and admission.held:
            admission.release()
        elif not scheduled:
            self.check_admission(job.user_id, job.guild_id)
        job.status = JobStatus.QUEUED
        job.created_at = job.created_at or self.clock()
        self.store.insert_job(job.to_row())
        if not scheduled:
            self._count_for_rate(counted_user)
        self._enqueue(job, listener)
        position = self.position(job.id) or 1
        log.info("job %s %s queued for user %s at position %d", job.id, job.kind, job.user_id, position)
        self._told[job.id] = (position, time.monotonic())
        eta = self.eta_s(position) if self.measured else None
        await self._notify(listener.queued(job, position, eta), job)
        self._ensure_worker()
        return position

    def _enqueue(self, job: Job, listener: JobListener) -> None:
        self._listeners[job.id] = listener
        queue = self._by_user.setdefault(job.user_id, deque())
        queue.append(job)
        if job.user_id not in self._turns:
            self._turns.append(job.user_id)

    # --- cancellation -----------------------------------------------------------------------------

    def _all_jobs(self) -> list[Job]:
        jobs = [job for queue in self._by_user.values() for job in queue]
        jobs.extend(self._running.values())
        return jobs

    def cancel(self, job_id: str) -> bool:
        """Cancel a waiting job at once, or a running one at its next stage boundary."""
        if job_id in self._running:
            self._cancelled.add(job_id)
            log.info("job %s cancel requested while running", job_id)
            return True
        for user, queue in self._by_user.items():
            for job in queue:
                if job.id == job_id:
                    queue.remove(job)
                    if not queue:
                        del self._by_user[user]
                        self._turns.remove(user)
                    self._finish(job, JobStatus.CANCELLED, error="cancelled")
                    listener = self._listeners.pop(job.id, None)
                    if listener is not None:
                        self._spawn(listener.failed(job, JobCancelled("cancelled while queued")), job)
                    log.info("job %s cancelled while queued", job_id)
                    return True
        return False

    def cancel_for_message(self, message_id: int) -> list[str]:
        """Cancel every job whose request or progress message was ``message_id`` (it was deleted)."""
        hits = [
            job.id
            for job in self._all_jobs()
            if message_id in (job.source_message_id, job.response_message_id)
        ]
        return [job_id for job_id in hits if self.cancel(job_id)]

    # --- worker -----------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None and not self._worker.done():
            if self._slots_busy:  # the worker waits on running jobs: a free slot takes this one now
                self._fill_slots()
        else:
            self._idle.clear()
            self._worker = asyncio.get_running_loop().create_task(self._run_worker(), name="lamuse-worker")

    def _next_job(self) -> Job | None:
        if not self._turns:
            return None
        user = self._turns.popleft()
        queue = self._by_user[user]
        job = queue.popleft()
        if queue:
            self._turns.append(user)
        else:
            del self._by_user[user]
        return job

    async def _run_worker(self) -> None:
        """Keep up to ``slots`` jobs running, each free slot taking the next job in round-robin order."""
        active = self._slots_busy
        try:
            while not self._closed:
                self._fill_slots()
                if not active:
                    break
                done, _pending = await asyncio.wait(set(active), return_when=asyncio.FIRST_COMPLETED)
                active.difference_update(done)
        finally:
            for task in active:
                task.cancel()
            await asyncio.gather(*active, return_exceptions=True)
            active.clear()
            self._running.clear()
            self._idle.set()

    def _fill_slots(self) -> None:
        """Start the next jobs, in round-robin order, on every free slot (on submit too: no waiting for
        a running job to end while a worker is idle)."""
        loop = asyncio.get_running_loop()
        while (
            not self._closed and len(self._slots_busy) < self.slots and (job := self._next_job()) is not None
        ):
            self._slots_busy.add(loop.create_task(self._run_one(job)))

    async def _run_one(self, job: Job) -> None:
        listener = self._listeners.pop(job.id, None)
        self._told.pop(job.id, None)
        self._running[job.id] = job
        if listener is not None:
            self._spawn(listener.stage(job, "start"), job)
        self._announce_positions()
        job.status = JobStatus.RUNNING
        job.tries += 1
        job.started_at = self.clock()
        self.store.update_job(
            job.id, status=str(job.status), tries=job.tries, started_at=job.started_at.isoformat()
        )
        waited = (job.started_at - job.created_at).total_seconds() if job.created_at else 0.0
        started = time.perf_counter()
        try:
            if self.gate is not None:
                await self.gate(job)
            if job.id in self._cancelled:
                raise JobCancelled("cancelled before it started")
            result = await self._in_worker(job, listener)
        except JobCancelled:
            self._finish(job, JobStatus.CANCELLED, error="cancelled")
            log.info("job %s queued %.1fs -> cancelled", job.id, waited)
            if listener is not None:
                await self._flush(job)
                await self._notify(listener.failed(job, JobCancelled(job.id)), job)
            return
        except asyncio.CancelledError:
            log.info("job %s interrupted by shutdown; left %s for the next start", job.id, job.status)
            raise
        except Exception as error:  # a failed job must not stop the worker
            elapsed = time.perf_counter() - started
            if isinstance(error, JobTimeout):
                log.warning("job %s queued %.1fs -> timed out after %.1fs", job.id, waited, elapsed)
            else:
                log.error(
                    "job %s queued %.1fs -> failed after %.1fs", job.id, waited, elapsed, exc_info=error
                )
            # Tell the user first: a crash before the row update leaves it "running", so the next start
            # runs the job again (or reports it once out of tries) rather than never answering.
            if listener is not None:
                await self._flush(job)
                await self._notify(listener.failed(job, error), job)
            self._finish(job, JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
            return
        finally:
            if self._stuck is None:
                self._cancelled.discard(job.id)
            self._running.pop(job.id, None)
        elapsed = time.perf_counter() - started
        self._recent_runs.append(elapsed)
        job.output_id = getattr(result, "output_id", None)
        log.info("job %s queued %.1fs -> done %.2fs", job.id, waited, elapsed)
        if listener is not None:
            # Deliver before marking done: a kill during the upload leaves the row "running", so the next
            # start runs and delivers it again (at least once) instead of losing the result.
            await self._flush(job)
            try:
                await listener.done(job, result)
            except Exception as error:  # the user must hear that the result was lost
                log.exception("delivering job %s failed", job.id)
                await self._notify(listener.failed(job, error), job)
                self._finish(job, JobStatus.FAILED, error=f"delivery: {type(error).__name__}: {error}")
                return
        self._finish(job, JobStatus.DONE)

    async def _in_worker(self, job: Job, listener: JobListener | None) -> Any:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="lamuse-inference")

        context = contextvars.copy_context()  # callbacks from the thread run in the loop's context

        def on_stage(stage: str) -> None:
            if job.id in self._cancelled:
                raise JobCancelled(f"cancelled before {stage}")
            if listener is not None:
                loop.call_soon_threadsafe(self._spawn_stage, listener, job, stage, context=context)

        if self._stuck is not None and not self._stuck.done():
            # A timed-out job still holds the one inference thread; the next job's clock starts after it.
            await asyncio.wait([self._stuck])
        self._stuck = None
        future = loop.run_in_executor(self._executor, self.work, job, on_stage)
        done, _pending = await asyncio.wait([future], timeout=self.timeout_s)
        if not done:
            self._cancelled.add(job.id)  # the thread cannot be killed; it stops at its next stage
            future.add_done_callback(functools.partial(self._stuck_done, job_id=job.id))
            self._stuck = future
            raise JobTimeout(self.timeout_s)
        return future.result()

    def _stuck_done(self, future: asyncio.Future[Any], job_id: str) -> None:
        """A timed-out job's thread finally returned: retrieve its outcome and forget its cancel flag."""
        self._cancelled.discard(job_id)
        if not future.cancelled() and future.exception() is not None:
            log.info("timed-out job %s ended with %r", job_id, future.exception())

    def _spawn_stage(self, listener: JobListener, job: Job, stage: str) -> None:
        self._spawn(listener.stage(job, stage), job)

    def _spawn(self, coro: Awaitable[None], job: Job) -> None:
        """Send a notification in the background, after the job's earlier ones (edits must not reorder)."""
        previous = self._last_note.get(job.id)

        async def ordered() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            await self._notify(coro, job)

        task = asyncio.get_running_loop().create_task(ordered())
        self._last_note[job.id] = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flush(self, job: Job) -> None:
        """Wait for the job's pending progress notifications, so the final reply comes last."""
        previous = self._last_note.pop(job.id, None)
        if previous is not None and not previous.done():
            await asyncio.wait([previous])

    async def _notify(self, coro: Awaitable[None], job: Job) -> None:
        """Run a listener call; a failed notification (Discord outage) must not stop the queue."""
        try:
            await coro
        except Exception:  # a notification that fails (Discord outage) is logged, not raised
            log.exception("notifying job %s failed", job.id)

    def _finish(self, job: Job, status: JobStatus, *, error: str | None = None) -> None:
        job.status = status
        job.error = error
        job.finished_at = self.clock()
        self.store.update_job(
            job.id,
            status=str(status),
            error=error,
            output_id=job.output_id,
            finished_at=job.finished_at.isoformat(),
        )

    # --- lifecycle --------------------------------------------------------------------------------

    async def recover(self, listener_for: Callable[[Job], JobListener]) -> tuple[list[Job], list[Job]]:
        """Re-queue jobs a previous run left unfinished, or report them when out of tries.

        Returns ``(resumed, reported)``.
        """
        resumed: list[Job] = []
        reported: list[Job] = []
        for row in self.store.unfinished_jobs():
            try:
                job = Job.from_row(row)
            except ParamsError as error:  # a row no release can run: say so once, never retry it
                log.error("job %s has unusable parameters (%s); marked failed", row["id"], error)
                self.store.update_job(row["id"], status=str(JobStatus.FAILED), error=f"params: {error}")
                continue
            if any(j.id == job.id for j in self._all_jobs()):
                continue
            listener = listener_for(job)
            if job.tries >= self.max_tries:
                self._finish(job, JobStatus.FAILED, error="interrupted by a restart")
                reported.append(job)
                await self._notify(listener.failed(job, JobInterrupted(job.id)), job)
                continue
            job.status = JobStatus.QUEUED
            self.store.update_job(job.id, status=str(job.status))
            self._enqueue(job, listener)
            resumed.append(job)
        if resumed:
            log.info("resuming %d unfinished jobs, reporting %d", len(resumed), len(reported))
            self._ensure_worker()
        return resumed, reported

    async def drain(self) -> None:
        """Wait until no job is waiting or running (tests and graceful shutdown)."""
        await self._idle.wait()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self) -> None:
        """Stop taking jobs; waiting and running rows stay in the database for the next start."""
        self._closed = True
        running = list(self._running.values())
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        for job in running:  # their threads cannot be killed: each stops at its next stage boundary
            self._cancelled.add(job.id)
        for task in list(self._background):
            task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
