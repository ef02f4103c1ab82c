"""A small bot-like process for kill -9 tests: the real Store and JobQueue with a slow fake job body.

Usage: ``python -m tests.reliability._child <db> <mode>``; modes ``votes``, ``submit`` and ``resume``.
Every line on stdout is an acknowledgement written after the matching database commit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.jobs import Job, JobQueue
from bot.params import MuseParams
from bot.store import Store

JOBS_PER_USER = 2
USERS = (1, 2, 3)
WORK_S = 0.4
DELIVERY_S = 1.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class Result:
    output_id: str


class Printer:
    """A JobListener whose delivery is slow (like an upload) and says when it starts and ends."""

    async def queued(self, job: Job, position: int, eta_s: float | None) -> None:
        say(f"queued {job.id}")

    async def stage(self, job: Job, stage: str) -> None:
        return None

    async def done(self, job: Job, result: Any) -> None:
        say(f"delivering {job.id}")
        await asyncio.sleep(DELIVERY_S)
        say(f"delivered {job.id}")

    async def failed(self, job: Job, error: BaseException) -> None:
        say(f"reported {job.id} {type(error).__name__}")


def work(job: Job, on_stage: Any) -> Result:
    say(f"start {job.id}")
    time.sleep(WORK_S)
    return Result(output_id=f"out-{job.id}")


async def run_jobs(db: str, mode: str) -> None:
    queue = JobQueue(Store(db), work, per_user_queued=5, max_pending=50, max_tries=2)
    if mode == "resume":
        await queue.recover(lambda job: Printer())
    else:
        for index in range(JOBS_PER_USER):
            for user in USERS:
                params = MuseParams(seed=index, painting="p")
                await queue.submit(Job(user_id=user, params=params), Printer())
    await queue.drain()
    say("idle")
    await asyncio.sleep(60)  # wait to be killed


def vote_burst(db: str) -> None:
    store = Store(db)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for user in range(1_000_000):
        store.add_vote("o1", user, "⭐", now)
        say(f"voted {user}")


def main() -> None:
    db, mode = sys.argv[1], sys.argv[2]
    if mode == "votes":
        vote_burst(db)
    else:
        asyncio.run(run_jobs(db, mode))


if __name__ == "__main__":
    main()
